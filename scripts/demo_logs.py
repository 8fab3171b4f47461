"""Production call records for the demo: a calm week for prod's version, then drift.

Writes ``logs/production.jsonl`` in the governed repository: records of the version prod
serves for its first three days (the drift reference), then, on day seven, records after
an upstream model update — a new returned model id, longer replies, refusals, higher
cost. Prints the time at which to evaluate the triggers (the end of day seven).

    python scripts/demo_logs.py REPO
"""

from __future__ import annotations

import json
import random
import sys
from datetime import timedelta
from pathlib import Path

from promptgov import Registry

CUSTOMERS = ["Dana", "Lee", "Sam", "Ira", "Kim", "Ola", "Noor", "Ari"]
REFUSAL = "I'm sorry, but I can't help with that request."


def _record(rng: random.Random, name: str, version: str, sha: str, at, drifted: bool) -> dict:
    customer = rng.choice(CUSTOMERS)
    order = f"A-{rng.randint(1000, 9999)}"
    if drifted and rng.random() < 0.12:
        output = REFUSAL
    else:
        words = rng.randint(30, 45) + (rng.randint(25, 45) if drifted else 0)
        output = f"Hi {customer}, I'm sorry for the inconvenience with order {order}. " + " ".join(
            rng.choice(["we", "will", "check", "the", "carrier", "and", "update", "you", "today"])
            for _ in range(words)
        )
    tokens_out = len(output.split())
    return {
        "time": at.isoformat().replace("+00:00", "Z"),
        "prompt": name,
        "version": version,
        "sha256": sha,
        "env": "prod",
        "model_requested": "gpt-4o-mini",
        "model_returned": "gpt-4o-mini-2026-11-20" if drifted else "gpt-4o-mini-2024-07-18",
        "variables": {"customer_name": customer, "order_id": order, "message": "Where is my order?"},
        "output": output,
        "latency_ms": round(rng.gauss(900 if drifted else 600, 80), 1),
        "tokens_in": 110,
        "tokens_out": tokens_out,
        "cost": round((110 * 0.15 + tokens_out * 0.6) / 1_000_000, 9),
        "finish_reason": "stop",
    }


def main() -> None:
    root = Path(sys.argv[1])
    reg = Registry(root)
    name = "support-reply"
    serving = reg.get(name, env="prod")
    moves = [m for m in reg.entry(name).environments["prod"].history if m.version == serving.version]
    start = moves[-1].at
    rng = random.Random(7)
    records = []
    for i in range(300):  # days 0–3: the reference window
        at = start + timedelta(minutes=1 + i * 14)
        records.append(_record(rng, name, serving.version, serving.sha256, at, drifted=False))
    for i in range(300):  # day 7: after the upstream model update
        at = start + timedelta(days=6, minutes=1 + i * 4.5)
        records.append(_record(rng, name, serving.version, serving.sha256, at, drifted=True))
    out = root / "logs/production.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    at = (start + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    print(f"wrote {len(records)} production records of {name}@{serving.version} to {out}")
    print(at)


if __name__ == "__main__":
    main()
