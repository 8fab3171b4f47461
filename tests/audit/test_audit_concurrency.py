"""Concurrent writers: 20 processes × 25 appends give exactly 500 entries in one valid chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import LOG, records

from promptgov.audit import AuditLog

WRITER = """
import sys
from pathlib import Path
from promptgov.audit import AuditLog
log = AuditLog(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    log.append(action="eval", actor="writer-" + sys.argv[2], reason=f"run {i}", prompt="p",
               eval_run_id=f"{sys.argv[2]}-{i}")
"""


def test_twenty_processes_appending_25_each(root: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(n), "25"]) for n in range(20)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * 20
    report = AuditLog(root).verify()
    assert report.ok, report.summary()
    assert report.entries == 500
    recs = records((root / LOG).read_bytes())
    assert [r["seq"] for r in recs] == list(range(1, 501))
    run_ids = sorted(r["eval_run_id"] for r in recs)
    assert run_ids == sorted(f"{n}-{i}" for n in range(20) for i in range(25))
    cache = json.loads((root / ".promptgov/cache/audit-head.json").read_bytes())
    cache.pop("mac")
    assert cache == {"seq": 500, "hash": recs[-1]["hash"], "size": (root / LOG).stat().st_size}
