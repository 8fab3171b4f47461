"""Audit log at scale: per-append cost stays flat as the log grows; verify 100,000 entries.

Usage: .venv/bin/python benchmarks/audit_verify.py [--entries 100000] [--singles 1000]

Single appends (lock, transaction, fsync, commit: what every governance command pays)
are timed on an empty log and again on the full log; the middle is filled with
batched transactions. Verification is timed in-process (wall and CPU, best of 3) and
as a whole ``promptgov audit verify`` process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from promptgov.audit import AuditLog
from promptgov.store.files import Transaction, repo_lock

BATCH = 1000


def _fields(i: int) -> dict[str, object]:
    return {
        "action": "promote",
        "actor": f"user{i % 7}",
        "prompt": f"prompt-{i % 50}",
        "env": ("dev", "staging", "prod")[i % 3],
        "from_version": f"1.{i}.0",
        "from_sha256": f"{i:064x}",
        "to_version": f"1.{i + 1}.0",
        "to_sha256": f"{i + 1:064x}",
        "reason": f"gate passed on eval run {i}; approved for release",
        "evidence": [f"https://ci.example.com/runs/{i}"],
        "approvers": ["bob"],
        "eval_run_id": f"run-{i}",
        "gate_verdict": "pass",
    }


def _rchar() -> int:
    """Bytes this process has read through syscalls so far (Linux), else 0."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _singles(log: AuditLog, start: int, count: int) -> tuple[list[float], list[float], float]:
    """Wall and CPU seconds of each single append, and mean bytes read per append."""
    walls, cpus = [], []
    read0 = _rchar()
    for i in range(start, start + count):
        w0, c0 = time.perf_counter(), time.process_time()
        log.append(**_fields(i))  # type: ignore[arg-type]
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, (_rchar() - read0) / count


def _fill(log: AuditLog, start: int, count: int) -> float:
    t0 = time.perf_counter()
    done = 0
    while done < count:
        n = min(BATCH, count - done)
        with repo_lock(log.root):
            txn = Transaction(log.root)
            for i in range(start + done, start + done + n):
                log.stage(txn, **_fields(i))  # type: ignore[arg-type]
            txn.commit()
        done += n
    return time.perf_counter() - t0


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(values) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--singles", type=int, default=1000)
    args = parser.parse_args()
    total, singles = args.entries, args.singles
    print(f"machine: {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="promptgov-audit-bench-") as tmp:
        root = Path(tmp)
        log = AuditLog(root)
        early, early_cpu, early_read = _singles(log, 0, singles)
        fill = total - 2 * singles
        seconds = _fill(log, singles, fill)
        print(f"filled {fill:,} entries in batches of {BATCH}: {seconds:.1f} s "
              f"({seconds / fill * 1e6:.0f} µs per staged entry)")  # fmt: skip
        late, late_cpu, late_read = _singles(log, singles + fill, singles)
        size = log.path.stat().st_size
        for label, walls, cpus, read in (
            (f"entries 1–{singles}", early, early_cpu, early_read),
            (f"entries {total - singles + 1:,}–{total:,}", late, late_cpu, late_read),
        ):
            print(f"single append, {label}: wall {_ms(walls)}; CPU median "
                  f"{statistics.median(cpus) * 1e3:.2f} ms; {read:,.0f} bytes read")  # fmt: skip
        print(f"late/early median ratio: wall "
              f"{statistics.median(late) / statistics.median(early):.2f}, CPU "
              f"{statistics.median(late_cpu) / statistics.median(early_cpu):.2f}")  # fmt: skip
        print(f"log: {total:,} entries, {size / 1e6:.1f} MB")
        walls, cpus = [], []
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            report = log.verify()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            assert report.ok and report.entries == total, report.summary()
        print(f"verify in-process: best {min(walls):.2f} s wall / {min(cpus):.2f} s CPU "
              f"(median {statistics.median(walls):.2f} s wall) — target < 2 s")  # fmt: skip
        walls = []
        for _ in range(3):
            w0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "promptgov", "audit", "verify", "--repo", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - w0)
            assert proc.returncode == 0, proc.stderr
        print(f"promptgov audit verify (whole process): best {min(walls):.2f} s, median "
              f"{statistics.median(walls):.2f} s: {proc.stdout.strip()}")  # fmt: skip
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
