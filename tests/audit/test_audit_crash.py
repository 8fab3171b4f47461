"""Crash safety: a process killed during an append leaves at most one torn final entry,
which verify reports precisely and repair removes (or finishes from the journal)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LOG, build_log, compact_fields, entry_spans, line_of, records

from promptgov.errors import VerificationFailed

APPEND = """
import os, resource, signal, sys
from pathlib import Path
from promptgov.audit import AuditLog
limit = int(sys.argv[2])
if limit:
    # A real death in the middle of the write: the kernel stops the write at the limit
    # and kills the process with SIGXFSZ (Python ignores it unless restored).
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
AuditLog(Path(sys.argv[1])).append(action="flag", actor="auditor", prompt="p",
    reason="odd answers " + "x" * 3000, details={"sample": "y" * 3000})
"""


def _append_in_child(root: Path, *, fault: str | None = None, limit: int = 0) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PROMPTGOV_FAULT"}
    if fault:
        env["PROMPTGOV_FAULT"] = fault
    proc = subprocess.run(
        [sys.executable, "-c", APPEND, str(root), str(limit)], env=env, timeout=120
    )
    return proc.returncode


@pytest.mark.parametrize(
    ("fault", "committed", "applied"),
    [
        ("txn.before-journal", False, False),
        ("txn.after-journal", True, False),
        ("txn.apply.0", True, True),  # log appended, head cache not yet written
        ("txn.apply.1", True, True),  # both applied, journal not yet removed
    ],
)
def test_kill_9_at_each_step_of_an_append(
    root: Path, fault: str, committed: bool, applied: bool
) -> None:
    log = build_log(root, 5, fields=compact_fields)
    assert _append_in_child(root, fault=fault) == -signal.SIGKILL
    report = log.verify()
    assert report.ok, report.summary()
    assert report.entries == (6 if applied else 5)
    assert report.journal_pending == committed
    nxt = log.append(action="eval", actor="ci", reason="next command", prompt="p")
    assert nxt.seq == (7 if committed else 6)
    report = log.verify()
    assert report.ok and report.entries == nxt.seq and not report.journal_pending
    assert [r["action"] for r in records((root / LOG).read_bytes())][5:] == (
        ["flag", "eval"] if committed else ["eval"]
    )


def test_death_mid_write_is_reported_as_torn_and_repair_finishes_it(root: Path) -> None:
    # Long enough that the journal (the entry in base64) stays under the size limit.
    log = build_log(root, 30, fields=compact_fields)
    size = (root / LOG).stat().st_size
    assert _append_in_child(root, limit=size + 2500) == -signal.SIGXFSZ
    data = (root / LOG).read_bytes()
    assert len(data) == size + 2500  # really cut in the middle of the entry
    report = log.verify()
    problem = report.problems[0]
    assert (problem.kind, problem.seq, problem.line) == ("torn", 31, line_of(data, size + 1))
    assert report.torn is not None and report.torn.offset == size and report.journal_pending
    assert len(report.problems) == 1
    result = log.repair(actor="oncall")
    assert result.finished_journal and result.removed_bytes == 0
    report = log.verify()
    assert report.ok and report.entries == 31
    assert records((root / LOG).read_bytes())[-1]["details"] == {"sample": "y" * 3000}


def test_every_torn_cut_is_reported_at_its_entry_and_blocks_appends(root: Path) -> None:
    log = build_log(root, 6, fields=compact_fields)
    data = (root / LOG).read_bytes()
    start, end = entry_spans(data)[-1]
    for cut in range(start + 1, end):
        torn = data[:cut]
        (root / LOG).write_bytes(torn)
        report = log.verify()
        assert [p.kind for p in report.problems] == ["torn"], cut
        assert (report.problems[0].seq, report.problems[0].line) == (6, line_of(data, start + 1))
        assert report.entries == 5 and report.torn is not None and report.torn.offset == start
    with pytest.raises(VerificationFailed, match="ends with a torn entry"):
        log.append(action="eval", actor="ci", reason="blocked", prompt="p")
    assert (root / LOG).read_bytes() == data[: end - 1]


@pytest.mark.parametrize("keep", [1, 40, 300, -1])
def test_repair_removes_torn_entry_keeps_its_bytes_and_records_it(root: Path, keep: int) -> None:
    log = build_log(root, 6, fields=compact_fields)
    data = (root / LOG).read_bytes()
    start, end = entry_spans(data)[-1]
    cut = end + keep if keep < 0 else start + keep
    (root / LOG).write_bytes(data[:cut])
    result = log.repair(actor="oncall")
    assert (result.removed_seq, result.removed_bytes) == (6, cut - start)
    repaired = (root / LOG).read_bytes()
    assert repaired.startswith(data[:start])
    saved = (root / result.saved_to).read_bytes()
    assert saved == data[start:cut]
    rec = records(repaired)[-1]
    assert (rec["seq"], rec["action"], rec["actor"]) == (6, "repair", "oncall")
    assert rec["details"]["removed_sha256"] == hashlib.sha256(saved).hexdigest()
    assert rec["details"]["removed_bytes"] == cut - start
    report = log.verify()
    assert report.ok and report.entries == 6
    assert json.loads((root / ".promptgov/cache/audit-head.json").read_bytes())["seq"] == 6
    assert log.append(action="eval", actor="ci", reason="works again", prompt="p").seq == 7


def test_repair_on_clean_log_changes_nothing(root: Path) -> None:
    log = build_log(root, 3, fields=compact_fields)
    before = (root / LOG).read_bytes()
    result = log.repair(actor="oncall")
    assert (result.removed_bytes, result.finished_journal) == (0, False)
    assert (root / LOG).read_bytes() == before


def test_repair_refuses_damage_in_the_middle(root: Path) -> None:
    log = build_log(root, 4, fields=compact_fields)
    data = bytearray((root / LOG).read_bytes())
    pos = data.index(b'"reason":"v1"') + 11
    data[pos] = ord("X")
    (root / LOG).write_bytes(bytes(data))
    with pytest.raises(VerificationFailed, match="entry 2 .*repair only removes a torn final"):
        log.repair(actor="oncall")
    assert (root / LOG).read_bytes() == bytes(data)


def test_head_cache_mismatch_falls_back_to_the_tail(root: Path) -> None:
    log = build_log(root, 4, fields=compact_fields)
    expected = log.head()
    cache = root / ".promptgov/cache/audit-head.json"
    for junk in (b"", b"{not json", json.dumps({"seq": 99, "hash": "0" * 64, "size": 1}).encode()):
        cache.write_bytes(junk)
        assert log.head() == expected
    cache.unlink()
    assert log.append(action="eval", actor="ci", reason="r", prompt="p").seq == 5
    assert log.verify().ok


def test_a_forged_head_cache_of_the_right_size_is_ignored(root: Path) -> None:
    """A cache edited (or carried by a clone) to chain the next entry onto a forged head."""
    log = build_log(root, 3, fields=compact_fields)
    size = (root / LOG).stat().st_size
    cache = root / ".promptgov/cache/audit-head.json"
    cache.write_text(json.dumps({"seq": 40, "hash": "ab" * 32, "size": size}))
    assert log.append(action="eval", actor="ci", reason="r", prompt="p").seq == 4
    assert log.verify().ok


def test_missing_log_with_cached_entries_is_refused(root: Path) -> None:
    from promptgov.errors import IntegrityError

    log = build_log(root, 2, fields=compact_fields)
    (root / LOG).unlink()
    with pytest.raises(IntegrityError, match="is missing but 2 entries were recorded"):
        log.append(action="eval", actor="ci", reason="r", prompt="p")
    assert not (root / LOG).exists()
