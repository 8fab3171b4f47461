"""Disk full at every step of the rollback ledger tells the truth and is finished next time.

Each step of a rollback is one transaction; ``PROMPTGOV_FAULT=enospc:<point>@<n>`` makes
the n-th transaction of a real rollback process fail as a full disk would, either before
its commit point (the journal) or after it. The message must name the step and say
whether it was committed and what prod serves; the repository must be consistent (or, for
the first step, byte-identical); and the next command must finish the rollback.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from promptgov.model import RollbackStatus

from ..conftest import run_cli, run_proc
from ..flows import PROMPT, registry
from ..notify_sink import NotifySink
from .test_rollback_crash import ROLLBACK, _check_settled, _governed

#: (n-th transaction of the rollback, the step it writes, the ledger it leaves if not committed)
STEPS = [
    (1, "step 2 (restore)", None),
    (2, "step 3 (eval re-run and verdict)", RollbackStatus.RESTORED),
    (3, "step 4 (audit and change log)", RollbackStatus.EVALUATED),
    (4, "step 5 (notification record)", RollbackStatus.LOGGED),
]
HEAD = "error: rollback of support-reply in prod: "
FULL = "No space left on device"


def _roll_back_on_a_full_disk(
    template: Path, sink: NotifySink, tmp_path: Path, point: str
) -> tuple[Path, subprocess.CompletedProcess[str], int]:
    """A copy of ``template`` rolled back with the disk full at ``point``: the copy, the
    refused process and how many notifications it sent."""
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    sent = len(sink.received)
    proc = run_proc(*ROLLBACK, "--repo", root, env={"PROMPTGOV_FAULT": f"enospc:{point}"})
    assert proc.returncode == 2, proc.stderr
    return root, proc, len(sink.received) - sent


@pytest.mark.parametrize(("n", "step", "left"), STEPS, ids=[s[1] for s in STEPS])
def test_disk_full_before_the_commit_point_of_each_step(
    n: int,
    step: str,
    left: RollbackStatus | None,
    template: Path,
    sink: NotifySink,
    tmp_path: Path,
) -> None:
    root, proc, told = _roll_back_on_a_full_disk(
        template, sink, tmp_path, f"txn.before-journal@{n}"
    )
    assert told == (1 if n == 4 else 0)  # step 5 writes after the owners were told
    assert not (root / ".promptgov/journal.json").exists()
    if left is None:
        assert proc.stderr == (
            f"{HEAD}{step} could not be written ({FULL}); nothing was changed and prod still "
            "serves 1.1.0. Free space, then run the rollback again.\n"
        )
        assert _governed(root) == _governed(template)  # byte for byte
        assert _check_settled(root, template, sink, len(sink.received), step) == "old"
        again = run_cli(*ROLLBACK, "--repo", root)
        assert again.exit_code == 0, (again.stdout, again.stderr)
        return
    assert proc.stderr == (
        f"{HEAD}{step} could not be written ({FULL}); none of it was written and prod serves "
        "1.0.0+rollback. Free space, then resume the rollback. "
        "Run 'promptgov rollback --resume'.\n"
    )
    [rb] = registry(root).entry(PROMPT).rollbacks
    assert rb.status is left
    assert registry(root).entry(PROMPT).environments["prod"].current == "1.0.0+rollback"
    ver = run_cli("verify", "--repo", root)
    assert ver.exit_code == 0, ver.stdout
    outcome = _check_settled(root, template, sink, len(sink.received), step, told=told)
    assert outcome == "completed"


@pytest.mark.parametrize(("n", "step", "left"), STEPS, ids=[s[1] for s in STEPS])
def test_disk_full_after_the_commit_point_of_each_step(
    n: int,
    step: str,
    left: RollbackStatus | None,
    template: Path,
    sink: NotifySink,
    tmp_path: Path,
) -> None:
    root, proc, told = _roll_back_on_a_full_disk(template, sink, tmp_path, f"txn.apply.0@{n}")
    assert proc.stderr == (
        f"{HEAD}{step} is committed but not fully written ({FULL}). Free space, then resume "
        "the rollback to finish it. Run 'promptgov rollback --resume'.\n"
    )
    assert (root / ".promptgov/journal.json").exists()
    ver = run_cli("verify", "--repo", root)
    assert ver.exit_code == 1
    assert "an interrupted change is pending" in ver.stdout
    outcome = _check_settled(root, template, sink, len(sink.received), step, told=told)
    assert outcome == "completed"
