"""A rollback whose eval re-run hangs, with the pointer already moved, can be finished or undone.

The example's model stub is made to block for ever (or until a file appears), so the eval
re-run of step 3 never returns. Every case runs the CLI as a real process: the step must
be stopped at its deadline and the process must exit, the stall must be recorded on the
ledger, ``rollback --resume`` must retry it within its deadline, and
``rollback <name> --undo`` must put the replaced version back and record who and why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from promptgov import RollbackOptions
from promptgov.actions.rollback import pending_rollbacks, rollback
from promptgov.audit import AuditLog
from promptgov.errors import CheckFailed
from promptgov.model import MoveKind, PromptSource, RollbackStatus

from .. import flows
from ..conftest import run_cli, run_proc, snapshot
from ..flows import PROMPT, registry
from ..notify_sink import NotifySink
from .test_rollback_crash import ROLLBACK

RESUME = ("rollback", "--resume")
UNDO = ("rollback", PROMPT, "--env", "prod", "--undo", "--reason", "evals hang")
STUB = "evals/model_stub.py"
SIGNATURE = "def call_api(prompt, options, context):\n"
STALLED = (
    "error: the eval re-run of support-reply@1.0.0+rollback did not finish within {t} s and was "
    "stopped. The restore stands (prod serves 1.0.0+rollback): resume the rollback to retry, or "
    "undo it to put 1.1.0 back. Retry with 'promptgov rollback --resume', or undo with "
    "'promptgov rollback support-reply --env prod --undo'.\n"
)
#: Generous: the machine is shared; the default deadline would be 600 s.
BOUND = 60.0


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    return root


def hang(root: Path, pid_file: Path, until: Path | None = None) -> str:
    """Make the model never answer (or only once ``until`` exists); returns the stub's text.

    The model writes the id of the process it runs in to ``pid_file`` first.
    """
    stub = root / STUB
    text = stub.read_text()
    assert SIGNATURE in text
    wait = (
        "time.sleep(3600)"
        if until is None
        else f"while not os.path.exists({str(until)!r}):\n        time.sleep(0.05)"
    )
    # Written whole and renamed into place, so a reader never sees an empty file.
    part = f"{pid_file}.part"
    body = (
        f"    import os, time\n    with open({part!r}, 'w') as fh:\n        fh.write(str(os.getpid()))\n"
        f"    os.replace({part!r}, {str(pid_file)!r})\n    {wait}\n"
    )
    set_stub(root, text.replace(SIGNATURE, SIGNATURE + body))
    return text


def set_stub(root: Path, text: str) -> None:
    """Replace the model stand-in (a file of the eval suite, so a policy change)."""
    flows.change_policy(root, lambda r: (r / STUB).write_text(text))


def _gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its reaper counts as exited).

    A Python worker notices its parent was killed and exits on its own, so allow a moment.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _timed(*args: str | Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = run_proc(*args, timeout=BOUND * 2)
    return proc, time.monotonic() - start


def _ledger(root: Path):  # type: ignore[no-untyped-def]
    [rb] = registry(root).entry(PROMPT).rollbacks
    return rb


def test_a_hanging_eval_rerun_is_stopped_at_its_deadline_and_resumed(
    repo: Path, sink: NotifySink, tmp_path: Path
) -> None:
    pid_file = tmp_path / "model.pid"
    original = hang(repo, pid_file)
    proc, took = _timed(*ROLLBACK, "--eval-timeout", "2", "--repo", repo)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == STALLED.format(t=2)
    assert took < BOUND
    assert _gone(int(pid_file.read_text()))  # the model's process did not outlive the step
    rb = _ledger(repo)
    assert rb.status is RollbackStatus.RESTORED and rb.eval_run_id is None
    assert rb.error == (
        "the eval re-run of support-reply@1.0.0+rollback did not finish within 2 s and was stopped."
    )
    assert registry(repo).entry(PROMPT).environments["prod"].current == "1.0.0+rollback"
    assert run_cli("verify", "--repo", repo).exit_code == 0

    # it cannot be replaced by a new rollback, and the refusal says how to settle it
    again = run_cli(*ROLLBACK, "--repo", repo)
    assert again.exit_code == 2
    assert again.stderr == (
        "error: a rollback of support-reply in prod to 1.0.0 is unfinished (restored); resume or "
        "undo it first. Finish it with 'promptgov rollback --resume' or undo it with "
        "'promptgov rollback support-reply "
        "--env prod --undo'.\n"
    )
    # --resume retries the step, within its own deadline
    pid_file.unlink()
    proc, took = _timed(*RESUME, "--eval-timeout", "3", "--repo", repo)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == STALLED.format(t=3)
    assert took < BOUND
    assert _gone(int(pid_file.read_text()))
    assert _ledger(repo).status is RollbackStatus.RESTORED
    # once the model answers, the same command finishes the rollback
    set_stub(repo, original)
    sent = len(sink.received)
    done = run_cli(*RESUME, "--repo", repo)
    assert done.exit_code == 0, (done.stdout, done.stderr)
    rb = _ledger(repo)
    assert rb.status is RollbackStatus.COMPLETED and rb.error is None
    assert rb.gate_verdict is not None and rb.gate_verdict.value == "pass"
    assert len(sink.received) == sent + 1
    assert pending_rollbacks(registry(repo)) == []
    assert run_cli("verify", "--repo", repo).exit_code == 0


def test_a_stalled_rollback_is_undone_on_request_and_can_be_replaced(
    repo: Path, tmp_path: Path
) -> None:
    original = hang(repo, tmp_path / "model.pid")
    proc, _ = _timed(*ROLLBACK, "--eval-timeout", "2", "--repo", repo)
    assert proc.returncode == 1, proc.stderr

    # only the rollback's authorizer or an approver of prod may undo it; refusals change nothing
    before = snapshot(repo)
    refused = run_cli(*UNDO, "--authorized-by", "mallory", "--repo", repo)
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: mallory may not undo the rollback of support-reply in prod: only bob, who "
        "authorized it, or an approver of the environment may (see promptgov.yml).\n"
    )
    no_reason = run_cli("rollback", PROMPT, "--undo", "--by", "alice", "--repo", repo)
    assert no_reason.exit_code == 2
    assert "undoing a rollback needs a reason" in no_reason.stderr
    assert no_reason.stderr.rstrip().endswith("Pass --reason.")
    assert snapshot(repo) == before

    undone = run_cli(*UNDO, "--authorized-by", "alice", "--repo", repo)
    assert undone.exit_code == 0, (undone.stdout, undone.stderr)
    reg = registry(repo)
    entry = reg.entry(PROMPT)
    rb = entry.rollbacks[0]
    assert undone.stdout == (
        "Undid the rollback of support-reply in prod: it serves 1.1.0 again (1.0.0+rollback no "
        f"longer serves; audit entry #{rb.audit_seq}).\n"
    )
    assert rb.status is RollbackStatus.UNDONE and rb.error == "undone by alice: evals hang"
    move = entry.environments["prod"].history[-1]
    assert (move.kind, move.version, move.previous, move.by) == (
        MoveKind.UNDO,
        "1.1.0",
        "1.0.0+rollback",
        "alice",
    )
    assert move.reason == "rollback undone: evals hang"
    assert reg.record(PROMPT, "1.1.0").quarantine is None
    working = PromptSource.model_validate(yaml.safe_load((repo / flows.PROMPT_FILE).read_text()))
    assert working.content().sha256 == reg.record(PROMPT, "1.1.0").sha256
    last = list(AuditLog(repo).entries(prompt=PROMPT))[-1]
    assert (last.action, last.actor, last.reason, last.seq) == (
        "rollback-undo",
        "alice",
        "evals hang",
        rb.audit_seq,
    )
    assert pending_rollbacks(reg) == []
    assert run_cli("verify", "--repo", repo).exit_code == 0
    again = run_cli(*UNDO, "--authorized-by", "alice", "--repo", repo)
    assert again.exit_code == 2
    assert again.stderr == (
        "error: support-reply has no unfinished rollback in prod; nothing was changed. "
        "See 'promptgov history support-reply'.\n"
    )

    # and a new rollback can now take its place
    set_stub(repo, original)
    res = run_cli(*ROLLBACK, "--repo", repo)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    entry = registry(repo).entry(PROMPT)
    assert [r.status for r in entry.rollbacks] == [RollbackStatus.UNDONE, RollbackStatus.COMPLETED]
    assert entry.environments["prod"].current == entry.rollbacks[1].new_version


def test_a_stalled_rollback_that_wakes_after_its_undo_writes_nothing(
    repo: Path, tmp_path: Path
) -> None:
    """The undo wins; the stalled process, once its model answers, must not overwrite it."""
    pid_file, release_file = tmp_path / "model.pid", tmp_path / "answer-now"
    hang(repo, pid_file, until=release_file)
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptgov", *ROLLBACK, "--repo", str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + BOUND * 2
        while not pid_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        assert _ledger(repo).status is RollbackStatus.RESTORED
        undone = run_cli(*UNDO, "--authorized-by", "bob", "--repo", repo)
        assert undone.exit_code == 0, undone.stderr
        after_undo = snapshot(repo)
        release_file.touch()
        _, err = proc.communicate(timeout=BOUND * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert err == (
        "error: the rollback of support-reply in prod was settled meanwhile (it is undone); this "
        "step wrote nothing; its history shows what happened. "
        "See 'promptgov history support-reply'.\n"
    )
    assert snapshot(repo) == after_undo
    assert _ledger(repo).status is RollbackStatus.UNDONE


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "txn.before-journal",
            "error: rollback of support-reply in prod: undo could not be written (No space left "
            "on device); nothing was changed and prod still serves 1.0.0+rollback. Free space, "
            "then run the undo again.\n",
        ),
        (
            "txn.apply.0",
            "error: rollback of support-reply in prod: undo is committed but not fully written "
            "(No space left on device). Free space, then resume the rollback to finish it. "
            "Run 'promptgov rollback --resume'.\n",
        ),
    ],
)
def test_disk_full_during_the_undo_is_told_and_finished(
    fault: str, message: str, repo: Path, tmp_path: Path
) -> None:
    hang(repo, tmp_path / "model.pid")
    proc, _ = _timed(*ROLLBACK, "--eval-timeout", "2", "--repo", repo)
    assert proc.returncode == 1, proc.stderr
    before = snapshot(repo)
    full = run_proc(
        *UNDO, "--by", "bob", "--repo", repo, env={"PROMPTGOV_FAULT": f"enospc:{fault}"}
    )
    assert full.returncode == 2
    assert full.stderr == message
    if fault == "txn.before-journal":
        assert snapshot(repo) == before
        assert run_cli(*UNDO, "--by", "bob", "--repo", repo).exit_code == 0
    else:
        assert (repo / ".promptgov/journal.json").exists()
        res = run_cli(*RESUME, "--repo", repo)
        assert res.exit_code == 0, (res.stdout, res.stderr)
    assert _ledger(repo).status is RollbackStatus.UNDONE
    assert registry(repo).entry(PROMPT).environments["prod"].current == "1.1.0"
    assert not (repo / ".promptgov/journal.json").exists()
    assert run_cli("verify", "--repo", repo).exit_code == 0


def test_a_threaded_caller_is_bounded_too(repo: Path, sink: NotifySink, tmp_path: Path) -> None:
    """In a process with threads (a server, this test run) the re-run starts a fresh
    interpreter instead of forking; the deadline holds the same."""
    assert threading.active_count() > 1  # the notification sink serves from a thread
    pid_file = tmp_path / "model.pid"
    hang(repo, pid_file)
    options = RollbackOptions(reason="refund promises", eval_timeout=2)
    start = time.monotonic()
    with pytest.raises(CheckFailed) as err:
        rollback(registry(repo), PROMPT, options, by="bob")
    assert time.monotonic() - start < BOUND
    assert err.value.cli_message == STALLED.format(t=2).removeprefix("error: ").rstrip("\n")
    assert _gone(int(pid_file.read_text()))
    assert _ledger(repo).status is RollbackStatus.RESTORED


def test_a_rollback_killed_during_its_eval_rerun_leaves_no_eval_running(
    repo: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "model.pid"
    original = hang(repo, pid_file)
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptgov", *ROLLBACK, "--repo", str(repo)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + BOUND * 2
        while not pid_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
    model = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not _gone(model):
        assert time.monotonic() < deadline, "the eval re-run outlived its rollback"
        time.sleep(0.05)
    assert _ledger(repo).status is RollbackStatus.RESTORED
    set_stub(repo, original)
    res = run_cli(*RESUME, "--repo", repo)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert _ledger(repo).status is RollbackStatus.COMPLETED
