"""A rollback killed (SIGKILL) at every step boundary and inside every write ends consistent.

Each case copies one prepared repository, runs the rollback CLI as a real process with
``PROMPTGOV_FAULT`` naming the point where it must die, then finishes with
``promptgov rollback --resume``. The repository must then show either the old state or the
completed rollback, ``promptgov verify`` must be clean, and the stakeholders must have been
told exactly once (or not at all, when nothing happened).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from promptgov.actions.rollback import pending_rollbacks
from promptgov.audit import AuditLog
from promptgov.model import MoveKind, PromptSource, RollbackStatus

from .. import flows
from ..conftest import run_cli, run_proc, snapshot
from ..flows import PROMPT, registry
from ..notify_sink import NotifySink

ROLLBACK: tuple[str, ...] = (
    "rollback",
    PROMPT,
    "--env",
    "prod",
    "--reason",
    "refund promises",
    "--authorized-by",
    "bob",
)
RESUME: tuple[str, ...] = ("rollback", "--resume")
#: The step boundaries, in the order the flow reaches them; each is followed by one write.
BOUNDARIES = [
    "start",
    "rollback.after-restore",
    "rollback.after-eval-run",
    "rollback.after-gate",
    "rollback.after-verdict",
    "rollback.after-evals",
    "rollback.after-log",
    "rollback.after-notify-send",
]
#: Transient files a crash may leave and the next command cleans up.
TRANSIENT = (".promptgov/staging/", ".promptgov/journal.json", ".promptgov/outbox/")


def _governed(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(TRANSIENT)}


def _crash(root: Path, args: tuple[str, ...], fault: str) -> None:
    proc = run_proc(*args, "--repo", root, env={"PROMPTGOV_FAULT": fault})
    assert proc.returncode == -signal.SIGKILL, (fault, proc.returncode, proc.stderr)


def _check_settled(
    root: Path, template: Path, sink: NotifySink, sent_before: int, label: str, *, told: int = 0
) -> str:
    """Resume, then assert old state or completed rollback; returns which.

    ``told`` is how many notifications of this rollback were sent before ``sent_before`` was
    counted (by the run that crashed after sending): a completed rollback has sent one in all.
    """
    res = run_cli(*RESUME, "--repo", root)
    assert res.exit_code in (0, 1), (label, res.stdout, res.stderr)
    assert not (root / ".promptgov/journal.json").exists(), label
    assert not list((root / ".promptgov/staging").glob("*")), label
    assert pending_rollbacks(registry(root)) == [], label
    ver = run_cli("verify", "--repo", root)
    assert ver.exit_code == 0, (label, ver.stdout, ver.stderr)
    assert AuditLog(root).verify().ok, label

    reg = registry(root)
    entry = reg.entry(PROMPT)
    audit = list(AuditLog(root).entries(prompt=PROMPT))
    by_seq = {a.seq: a for a in audit}
    # no pointer move without its version record and audit entry
    versions = {r.version for r in entry.versions}
    for env, state in entry.environments.items():
        for move in state.history:
            assert move.version in versions, (label, env, move)
            assert move.audit_seq is not None and move.audit_seq in by_seq, (label, env, move)
            assert by_seq[move.audit_seq].to_version == move.version, (label, env, move)
    # no version without its audit entry
    recorded = {a.to_version for a in audit if a.action in ("add", "rollback-start")}
    assert versions <= recorded, (label, versions - recorded)
    working = PromptSource.model_validate(yaml.safe_load((root / flows.PROMPT_FILE).read_text()))

    if entry.environments["prod"].current == "1.1.0":
        assert _governed(root) == _governed(template), label
        assert len(sink.received) == sent_before, label
        return "old"
    assert entry.environments["prod"].current == "1.0.0+rollback", label
    [rb] = entry.rollbacks
    assert rb.status is RollbackStatus.COMPLETED and rb.gate_verdict is not None, label
    assert rb.notifications and all(n["ok"] for n in rb.notifications), (label, rb.notifications)
    assert [r.version for r in entry.versions] == ["1.0.0", "1.1.0", "1.0.0+rollback"], label
    assert reg.record(PROMPT, "1.1.0").quarantine is not None, label
    assert entry.environments["prod"].history[-1].kind is MoveKind.ROLLBACK, label
    assert working.content().sha256 == reg.record(PROMPT, "1.0.0").sha256, label
    assert [a.action for a in audit].count("rollback") == 1, label
    assert [a.action for a in audit].count("rollback-start") == 1, label
    [log] = [e for e in reg.repo.changelog() if e.action == "rollback"]
    assert rb.audit_seq is not None and log.audit_seq == rb.audit_seq, label
    assert by_seq[rb.audit_seq].action == "rollback", label
    assert len(sink.received) == sent_before + 1 - told, (label, "notified exactly once")
    return "completed"


def _journal_ops(pre: Path, args: tuple[str, ...], tmp: Path) -> int:
    """How many file operations the next transaction commits (read from its journal)."""
    probe = tmp / "probe"
    shutil.copytree(pre, probe)
    _crash(probe, args, "txn.after-journal")
    ops = json.loads((probe / ".promptgov/journal.json").read_text())["ops"]
    shutil.rmtree(probe)
    return len(ops)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_kill_at_boundary_and_inside_the_next_write(
    boundary: str, template: Path, sink: NotifySink, tmp_path: Path
) -> None:
    """Die at ``boundary``, and at every point of the write that follows it."""
    pre = tmp_path / "pre"
    shutil.copytree(template, pre)
    args, told = ROLLBACK, 0
    if boundary != "start":
        sent = len(sink.received)
        _crash(pre, ROLLBACK, boundary)
        told = len(sink.received) - sent
        assert told == (1 if boundary == "rollback.after-notify-send" else 0)
        # the ledger says what is pending, and resume finishes it
        at_boundary = tmp_path / "at-boundary"
        shutil.copytree(pre, at_boundary)
        assert [p for p, _ in pending_rollbacks(registry(at_boundary))] == [PROMPT]
        before = snapshot(at_boundary)
        again = run_cli(*ROLLBACK, "--repo", at_boundary)
        assert again.exit_code == 2, again.stdout
        assert "a rollback of support-reply in prod to 1.0.0 is unfinished (" in again.stderr
        assert (
            "Finish it with 'promptgov rollback --resume' or undo it with "
            "'promptgov rollback support-reply --env prod --undo'." in again.stderr
        )
        assert snapshot(at_boundary) == before
        sent = len(sink.received)
        assert _check_settled(at_boundary, template, sink, sent, boundary, told=told) == "completed"
        args = RESUME
    faults = ["txn.before-journal", "txn.after-journal"]
    faults += [f"txn.apply.{i}" for i in range(_journal_ops(pre, args, tmp_path))]
    outcomes = {}
    for fault in faults:
        case = tmp_path / fault
        shutil.copytree(pre, case)
        sent = len(sink.received)
        _crash(case, args, fault)
        label = f"{boundary} / {fault}"
        outcomes[fault] = _check_settled(case, template, sink, sent, label, told=told)
        shutil.rmtree(case)
    if boundary == "start":
        # before the restore's journal nothing happened; from the journal on, it completes
        assert outcomes.pop("txn.before-journal") == "old"
    assert set(outcomes.values()) == {"completed"}, outcomes


def test_concurrent_resumes_finish_the_rollback_once(
    template: Path, sink: NotifySink, tmp_path: Path
) -> None:
    """Five `rollback --resume` at once after a crash: one audit entry, one change-log entry,
    one notification (each resume takes the ledger under the lock)."""
    root = tmp_path / "case"
    shutil.copytree(template, root)
    _crash(root, ROLLBACK, "rollback.after-restore")
    sent = len(sink.received)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "promptgov", *RESUME, "--repo", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    done = [(p.returncode, err) for p, err in zip(procs, errors, strict=True)]
    assert all(code in (0, 1) for code, _ in done), done
    assert _check_settled(root, template, sink, sent, "5 resumes") == "completed"
