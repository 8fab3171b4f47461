"""A crafted journal, lock or state directory arriving in a clone never writes outside it.

The journal is machine-local crash-recovery state: a tracked one came from a commit and
is refused; an untracked one is validated and every path confined before anything runs.
"""

from __future__ import annotations

import base64
import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import promptgov
from promptgov.errors import InvalidFile, UnsafePath
from promptgov.store.files import confine, repo_lock

from ..conftest import run_cli, snapshot
from ..flows import git, git_init

JOURNAL = ".promptgov/journal.json"


def _approve(root: Path):
    return run_cli(
        "approve", "support-reply@1.0.0", "--env", "dev", "--by", "alice", "--repo", root
    )


def _plant(root: Path, ops: list[dict[str, object]]) -> None:
    (root / JOURNAL).write_text(json.dumps({"ops": ops}))


def _outside_ops(victim: Path, root: Path) -> list[dict[str, object]]:
    payload = base64.b64encode(b"owned\n").decode()
    rel_up = os.path.relpath(victim, root)
    return [
        {"op": "append", "path": str(victim), "offset": 0, "data": payload},
        {"op": "append", "path": rel_up, "offset": 0, "data": payload},
        {"op": "delete", "path": str(victim)},
    ]


def test_committed_journal_in_a_clone_is_refused_and_writes_nothing(
    registered_repo: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    git_init(registered_repo)
    _plant(registered_repo, _outside_ops(victim, registered_repo))
    git(registered_repo, "add", "-f", JOURNAL)
    git(registered_repo, "commit", "-q", "-m", "journal")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(registered_repo), str(clone))
    before = snapshot(clone)

    result = _approve(clone)

    assert result.exit_code == 2
    assert "is tracked by git, so it came from a commit" in result.stderr
    assert "git rm --cached .promptgov/journal.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert victim.read_text() == "precious\n"
    assert snapshot(clone) == before


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param("absolute", id="absolute-path"),
        pytest.param("relative", id="dotdot-path"),
    ],
)
def test_untracked_journal_escaping_the_repository_is_left_alone(
    registered_repo: Path, tmp_path: Path, ops: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    every = _outside_ops(victim, registered_repo)
    _plant(registered_repo, [every[0]] if ops == "absolute" else [every[1]])
    before = snapshot(registered_repo)

    result = _approve(registered_repo)

    assert result.exit_code == 2
    assert f"{JOURNAL} was not applied" in result.stderr
    assert "delete it to discard" in result.stderr
    assert victim.read_text() == "precious\n"
    assert snapshot(registered_repo) == before


def test_journal_cannot_write_into_git_hooks(registered_repo: Path) -> None:
    git_init(registered_repo)
    hook = ".git/hooks/post-commit"
    payload = base64.b64encode(b"#!/bin/sh\necho owned\n").decode()
    _plant(registered_repo, [{"op": "append", "path": hook, "offset": 0, "data": payload}])

    result = _approve(registered_repo)

    assert result.exit_code == 2 and "never into .git" in result.stderr
    assert not (registered_repo / hook).exists()


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "write", "path": "x", "staged": "/etc/passwd"}],
        [{"op": "write", "path": "x", "staged": ".promptgov/staging/../../../etc/passwd"}],
        [{"op": "append", "path": "x", "offset": "0", "data": "eA=="}],
        [{"op": "append", "path": "x", "offset": -1, "data": "eA=="}],
        [{"op": "chmod", "path": "x"}],
        [{"op": "delete"}],
        "not a list",
    ],
    ids=[
        "staged-absolute",
        "staged-escape",
        "string-offset",
        "negative-offset",
        "bad-op",
        "no-path",
        "ops-not-list",
    ],
)
def test_malformed_journal_is_reported_in_one_line_and_left_alone(
    registered_repo: Path, ops: object
) -> None:
    (registered_repo / JOURNAL).write_text(json.dumps({"ops": ops}))
    before = snapshot(registered_repo)

    result = _approve(registered_repo)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {JOURNAL} was not applied")
    assert "Traceback" not in result.stderr
    assert snapshot(registered_repo) == before


def test_symlinked_directory_cannot_carry_a_write_outside(
    registered_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    logs = registered_repo / "audit"
    for f in logs.iterdir():
        (outside / f.name).write_bytes(f.read_bytes())
    before_outside = snapshot(outside)
    for f in logs.iterdir():
        f.unlink()
    logs.rmdir()
    logs.symlink_to(outside, target_is_directory=True)

    result = _approve(registered_repo)

    assert result.exit_code == 2
    assert "leads outside the repository" in result.stderr
    assert snapshot(outside) == before_outside


def test_symlinked_state_directory_is_refused(registered_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "state"
    state = registered_repo / ".promptgov"
    state.rename(outside)
    state.symlink_to(outside, target_is_directory=True)
    before_outside = snapshot(outside)

    result = _approve(registered_repo)

    assert result.exit_code == 2 and "is not a plain directory" in result.stderr
    assert snapshot(outside) == before_outside


def test_symlinked_lock_file_is_never_truncated(registered_repo: Path, tmp_path: Path) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("export IMPORTANT=1\n")
    lock = registered_repo / ".promptgov" / "lock"
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)

    result = _approve(registered_repo)

    assert result.exit_code == 2 and "is a symlink" in result.stderr
    assert victim.read_text() == "export IMPORTANT=1\n"


def test_a_real_crash_is_still_rolled_forward(registered_repo: Path) -> None:
    """The checks refuse only what promptgov could not have written itself."""
    target = "logs/rolled-forward.txt"
    staged = ".promptgov/staging/" + "a" * 32
    (registered_repo / staged).parent.mkdir(parents=True, exist_ok=True)
    (registered_repo / staged).write_bytes(b"done\n")
    _plant(registered_repo, [{"op": "write", "path": target, "staged": staged}])

    with repo_lock(registered_repo):
        pass

    assert (registered_repo / target).read_bytes() == b"done\n"
    assert not (registered_repo / JOURNAL).exists()
    assert promptgov.verify(promptgov.Repo(registered_repo)).ok


def test_unapplied_journal_blocks_writes_but_not_reads(registered_repo: Path) -> None:
    _plant(registered_repo, [{"op": "delete", "path": "../x"}])
    with pytest.raises(InvalidFile):
        with repo_lock(registered_repo):
            pass
    assert run_cli("status", "--repo", registered_repo).exit_code == 0


_segment = st.sampled_from(["..", ".", ".git", ".GIT", "", "a", "b", "/", "\\", "C:", "\x00"])


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.one_of(_segment, st.text(string.printable, max_size=4)), max_size=6),
    sep=st.sampled_from(["/", "\\", "//"]),
)
def test_confine_never_yields_a_path_outside_or_into_git(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str], sep: str
) -> None:
    root = tmp_path_factory.getbasetemp() / "confine-root"
    root.mkdir(exist_ok=True)
    rel = sep.join(parts)
    try:
        path = confine(root, rel)
    except UnsafePath:
        return
    real = path.resolve()
    assert real.is_relative_to(root.resolve())
    assert not real.is_relative_to(root.resolve() / ".git")
    assert real != root.resolve()


def test_a_full_disk_after_the_commit_point_is_reported_truthfully_and_finished_later(
    registered_repo: Path,
) -> None:
    from ..conftest import run_proc

    args = ("approve", "support-reply@1.0.0", "--env", "dev", "--by", "alice")
    proc = run_proc(*args, "--repo", registered_repo, env={"PROMPTGOV_FAULT": "enospc:txn.apply.0"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the change was committed but not fully applied" in proc.stderr
    assert "Nothing was changed" not in proc.stderr
    assert (registered_repo / JOURNAL).exists()
    # the next command finishes it: the approval exists, exactly once
    again = run_cli(*args, "--repo", registered_repo)
    assert again.exit_code == 2 and "alice already approved support-reply@1.0.0" in again.stderr
    assert not (registered_repo / JOURNAL).exists()
    assert promptgov.verify(promptgov.Repo(registered_repo)).ok


def test_a_full_disk_before_the_commit_point_changes_nothing(registered_repo: Path) -> None:
    from ..conftest import run_proc

    before = snapshot(registered_repo)
    proc = run_proc(
        "approve", "support-reply@1.0.0", "--env", "dev", "--by", "alice",
        "--repo", registered_repo, env={"PROMPTGOV_FAULT": "enospc:txn.before-journal"},
    )  # fmt: skip
    assert proc.returncode == 2 and "Nothing was changed" in proc.stderr
    # staged bytes may remain until the next write clears them; no governed file changed
    assert {k: v for k, v in snapshot(registered_repo).items() if "staging" not in k} == before
