"""Drift check over 100,000 and 1,000,000 JSONL production records: wall time and peak memory.

Each run is a fresh process (interpreter start, imports, one streaming pass over the file,
every drift check, JSON + Markdown rendering), timed from the outside; the child reports its
own peak RSS via ``resource.getrusage``. Memory should not grow with the file: the windows
keep exact counters and a bounded uniform sample, never the records.

    .venv/bin/python benchmarks/drift.py            # 100k and 1M
    .venv/bin/python benchmarks/drift.py 200000     # any sizes
    .venv/bin/python benchmarks/drift.py --power    # false-alarm rate and power tables
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CHILD = """
import json, resource, sys
from datetime import datetime
from promptgov.monitor import TimeWindow, check_drift_from_paths
path, t0, mid, t1 = sys.argv[1], *map(datetime.fromisoformat, sys.argv[2:5])
report = check_drift_from_paths([path], prompt="support-reply", version="1.0.0",
                                reference=TimeWindow(t0, mid), recent=TimeWindow(mid, t1))
report.to_markdown(); json.dumps(report.to_dict())
print(json.dumps({"status": report.status.value, "fired": report.fired,
                  "reference": report.reference["records"], "recent": report.recent["records"],
                  "malformed": report.ingest["malformed_count"],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))

"""


def generate(path: Path, n: int) -> None:
    """Write ``n`` realistic records (2% refusals, 3% length stops, 1% other prompt, a few bad)."""
    rng = random.Random(n)
    refusal = "I'm sorry, but I can't help with that request."
    with path.open("w") as fh:
        for i in range(n):
            if i % 50_000 == 49_999:
                fh.write('{"time": "2026-03-01T00:00:00Z", "prompt": \n')  # a truncated line
                continue
            length = int(rng.lognormvariate(5.0, 0.4))
            output = refusal if rng.random() < 0.02 else "Hi, " + "x" * length
            rec = {
                "time": (T0 + timedelta(seconds=i * 0.5)).isoformat(),
                "prompt": "support-reply" if rng.random() > 0.01 else "other",
                "version": "1.0.0",
                "env": "prod",
                "model_requested": "gpt-4o-mini",
                "model_returned": "gpt-4o-mini-2024-07-18",
                "variables_sha256": "ab" * 32,
                "output": output,
                "latency_ms": round(rng.lognormvariate(6.0, 0.3), 1),
                "tokens_in": rng.randint(80, 160),
                "tokens_out": len(output) // 4,
                "cost": round(rng.lognormvariate(-9.0, 0.3), 8),
                "finish_reason": "length" if rng.random() < 0.03 else "stop",
            }
            fh.write(json.dumps(rec) + "\n")


def run(path: Path, n: int) -> dict[str, object]:
    """One whole-process drift check; the windows split the file's time span in half."""
    mid = T0 + timedelta(seconds=n * 0.25)
    end = T0 + timedelta(seconds=n * 0.5 + 1)
    args = [
        sys.executable,
        "-c",
        CHILD,
        str(path),
        T0.isoformat(),
        mid.isoformat(),
        end.isoformat(),
    ]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, object] = json.loads(out)
    result["seconds"] = time.perf_counter() - start
    # CPU seconds of the child: the wall time on a shared machine also counts other tenants.
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def power() -> None:
    """False-alarm rate (200 window pairs) and power (100 pairs) on synthetic logs."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from promptgov.monitor import CheckStatus, DriftPolicy, WindowStats, check_drift
    from tests.monitor.synth import Traffic, records

    policy = DriftPolicy(embeddings="off")
    rng = np.random.default_rng(1)
    shifts = [
        ("longer outputs x1.25", Traffic(length_scale=1.25), "output_length"),
        ("refusals 2% -> 10%", Traffic(refusal_rate=0.10), "refusal_rate"),
        ("cost x1.5", Traffic(cost_scale=1.5), "cost"),
        ("new model id", Traffic(model="gpt-4o-mini-2025-01-31"), "model_id"),
        ("latency x1.3", Traffic(latency_scale=1.3), "latency"),
    ]

    def window(n: int, traffic: Traffic) -> WindowStats:
        return WindowStats().extend(records(n, traffic, rng))

    for n in (200, 500):
        base = Traffic()
        alarms = sum(
            check_drift(window(n, base), window(n, base), policy=policy).status is CheckStatus.FIRED
            for _ in range(200)
        )
        print(f"n={n}: false-alarm rate {alarms / 200:.3f} (alpha {policy.alpha})")
        for label, traffic, check in shifts:
            hits = sum(
                check_drift(window(n, base), window(n, traffic), policy=policy).check(check).status
                is CheckStatus.FIRED
                for _ in range(100)
            )
            print(f"n={n}: {label}: power {hits / 100:.2f}")


def main() -> None:
    if sys.argv[1:] == ["--power"]:
        power()
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"{'records':>10} {'file MB':>8} {'wall s':>7} {'CPU s':>6} {'peak RSS MB':>12}  result"
        )
        for n in sizes:
            path = Path(tmp) / f"prod-{n}.jsonl"
            generate(path, n)
            r = run(path, n)
            mb = path.stat().st_size / 1e6
            rss = int(r["maxrss_kb"]) / 1024  # type: ignore[call-overload]
            print(
                f"{n:>10,} {mb:>8.0f} {r['seconds']:>7.2f} {r['cpu']:>6.2f} {rss:>12.0f}  "
                f"{r['status']} (windows {r['reference']:,} / {r['recent']:,}, "
                f"malformed {r['malformed']})"
            )


if __name__ == "__main__":
    main()
