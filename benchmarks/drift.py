"""Drift over 100,000 and 1,000,000 JSONL production records: wall time and peak memory.

Two whole processes per size, each timed from the outside and reporting its own peak RSS via
``resource.getrusage``: ``promptgov triggers`` on a governed repository (every trigger, the
drift report in JSON and Markdown, the trigger report, state and audit entry written), and
``check_drift_from_paths`` alone (the streaming pass and the checks). Memory should not grow
with the file: the windows keep exact counters and a bounded uniform sample, never the records.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from promptgov import AddOptions, ApproveOptions, GateOptions, PromoteOptions, add

CHILD = """
import json, resource, sys
from datetime import datetime
from promptgov.monitor import TimeWindow, check_drift_from_paths
path, r0, r1, c0, c1 = sys.argv[1], *map(datetime.fromisoformat, sys.argv[2:6])
report = check_drift_from_paths([path], prompt="support-reply", version="1.0.0",
                                reference=TimeWindow(r0, r1), recent=TimeWindow(c0, c1))
report.to_markdown(); json.dumps(report.to_dict())
print(json.dumps({"status": report.status.value, "fired": report.fired,
                  "reference": report.reference["records"], "recent": report.recent["records"],
                  "malformed": report.ingest["malformed_count"],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))

"""
# The whole ``promptgov triggers`` command in this process, then its peak RSS on stderr.
CLI_CHILD = """
import json, resource, sys
from promptgov.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stderr.write(json.dumps({"exit": code,
                             "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@dataclass(frozen=True)
class Windows:
    """Where the generated records fall: the first half in ``reference``, the rest in ``recent``."""

    reference: tuple[datetime, datetime]
    recent: tuple[datetime, datetime]

    def time(self, i: int, n: int) -> datetime:
        """The time of record ``i`` of ``n``, spread evenly over its window."""
        half = n // 2
        (start, end), j, count = (
            (self.reference, i, half) if i < half else (self.recent, i - half, n - half)
        )
        return start + (end - start) * (j / max(count, 1))


def generate(path: Path, n: int, windows: Windows) -> None:
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
                "time": windows.time(i, n).isoformat(),
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


def _timed(args: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``args``; wall seconds and the child's CPU seconds (user + system)."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the child: the wall time on a shared machine also counts other tenants.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, time.perf_counter() - start, cpu


def run(path: Path, windows: Windows) -> dict[str, object]:
    """One whole-process drift check over ``windows``."""
    times = [t.isoformat() for t in (*windows.reference, *windows.recent)]
    proc, seconds, cpu = _timed([sys.executable, "-c", CHILD, str(path), *times])
    proc.check_returncode()
    result: dict[str, object] = json.loads(proc.stdout)
    result.update(seconds=seconds, cpu=cpu)
    return result


def governed_repo(root: Path) -> datetime:
    """A repository whose prod serves support-reply@1.0.0; returns when prod started serving it."""
    from promptgov import Registry, approve, check_gate, init, promote, run_version_eval

    init(root, example=True)
    reg = Registry(root)
    add(reg, "support-reply", AddOptions(message="first", version="1.0.0"), by="carol")
    run_version_eval(reg, "support-reply@1.0.0", by="ci")
    for env in ("dev", "staging", "prod"):
        check_gate(reg, "support-reply@1.0.0", GateOptions(env=env))
        if env != "dev":
            approve(reg, "support-reply@1.0.0", ApproveOptions(env=env), by="alice")
        promote(reg, "support-reply@1.0.0", PromoteOptions(to=env, reason="release"), by="alice")
    moves = Registry(root).entry("support-reply").environments["prod"].history
    return moves[-1].at


def run_triggers(root: Path, path: Path, at: datetime) -> dict[str, object]:
    """``promptgov triggers support-reply --logs FILE --at AT --json`` as one process."""
    args = [
        sys.executable,
        "-c",
        CLI_CHILD,
        "triggers",
        "support-reply",
        "--repo",
        str(root),
        "--logs",
        str(path),
        "--at",
        at.isoformat(),
        "--json",
        "--no-notify",
    ]
    proc, seconds, cpu = _timed(args)
    child = json.loads(proc.stderr.strip().splitlines()[-1])
    report = json.loads(proc.stdout)
    drift = report["triggers"][1]
    return {
        "status": drift["status"],
        "reference": drift["samples"]["reference"],
        "recent": drift["samples"]["recent"],
        "malformed": drift["details"]["logs"]["malformed_count"],
        "exit": child["exit"],
        "maxrss_kb": child["maxrss_kb"],
        "seconds": seconds,
        "cpu": cpu,
    }


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
        root = Path(tmp) / "repo"
        promoted = governed_repo(root)
        at = promoted + timedelta(days=10)
        windows = Windows(
            reference=(promoted + timedelta(minutes=1), promoted + timedelta(days=2)),
            recent=(at - timedelta(hours=23), at - timedelta(minutes=1)),
        )
        print(
            f"{'run':<18} {'records':>10} {'file MB':>8} {'wall s':>7} {'CPU s':>6} "
            f"{'peak RSS MB':>12}  result"
        )
        for n in sizes:
            path = Path(tmp) / f"prod-{n}.jsonl"
            generate(path, n, windows)
            mb = path.stat().st_size / 1e6
            for label, r in (
                ("promptgov triggers", run_triggers(root, path, at)),
                ("drift check only", run(path, windows)),
            ):
                rss = int(r["maxrss_kb"]) / 1024  # type: ignore[call-overload]
                print(
                    f"{label:<18} {n:>10,} {mb:>8.0f} {r['seconds']:>7.2f} {r['cpu']:>6.2f} "
                    f"{rss:>12.0f}  {r['status']} (windows {r['reference']:,} / "
                    f"{r['recent']:,}, malformed {r['malformed']})"
                )


if __name__ == "__main__":
    main()
