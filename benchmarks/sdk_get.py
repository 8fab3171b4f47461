"""Application-side reads: `PromptClient.get` from memory, and a re-read of the repository.

python benchmarks/sdk_get.py [--calls 200000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import promptgov
from promptgov import AddOptions, ApproveOptions, GateOptions, PromoteOptions, add
from promptgov.actions.approve import approve
from promptgov.actions.evaluate import run_version_eval
from promptgov.actions.gate import check_gate
from promptgov.actions.promote import promote


def _served_repo(root: Path) -> None:
    promptgov.init(root, example=True)
    reg = promptgov.Registry(root)
    add(reg, "support-reply", AddOptions(message="bench"), by="carol")
    run_version_eval(reg, "support-reply@1.0.0", by="bench")
    for env in ("dev", "staging", "prod"):
        check_gate(reg, "support-reply@1.0.0", GateOptions(env=env))
        if env != "dev":
            approve(reg, "support-reply@1.0.0", ApproveOptions(env=env), by="alice")
        promote(reg, "support-reply@1.0.0", PromoteOptions(to=env, reason="bench"), by="alice")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200_000)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        _served_repo(root)
        cached = promptgov.PromptClient(root, cache_dir=Path(tmp) / "c1", environ={})
        cached.get("support-reply")
        t = time.perf_counter()
        for _ in range(opts.calls):
            cached.get("support-reply")
        per_call = (time.perf_counter() - t) / opts.calls
        fresh = promptgov.PromptClient(root, ttl=0, cache_dir=Path(tmp) / "c2", environ={})
        fresh.get("support-reply")
        n = 2000
        t = time.perf_counter()
        for _ in range(n):
            fresh.get("support-reply")
        reread = (time.perf_counter() - t) / n
        served = cached.get("support-reply")
        t = time.perf_counter()
        for _ in range(n):
            served.render(customer_name="Dana", order_id="A-1", message="late")
        rendered = (time.perf_counter() - t) / n
    print(f"PromptClient.get from memory (TTL not expired): {per_call * 1e6:.2f} µs per call")
    print(f"PromptClient.get re-reading the repository (TTL 0): {reread * 1e6:.0f} µs per call")
    print(f"ServedPrompt.render: {rendered * 1e6:.1f} µs per call")


if __name__ == "__main__":
    main()
