"""Two clones of one remote, governance actions in each, merged by the promptgov driver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import promptgov
from promptgov.actions.feedback import FlagOptions, flag_version
from promptgov.actions.merge import ATTRIBUTES, driver_warning, install
from promptgov.actions.verify import verify
from promptgov.audit import AuditLog
from promptgov.repo import Repo

from ..flows import PROMPT, add_version, git, git_init, registry, release


def _clone(remote: Path, dest: Path, user: str) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(dest)], check=True)
    git(dest, "config", "user.name", user)
    git(dest, "config", "user.email", f"{user}@example.com")
    git(dest, "config", "commit.gpgsign", "false")
    git(dest, "config", "pull.rebase", "false")
    install(dest)
    return dest


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def _pull(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "pull", "-q", "--no-edit", *args], cwd=root, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare remote holding an example repository with 1.0.0 in dev."""
    work = tmp_path_factory.mktemp("team") / "seed"
    promptgov.init(work, example=True)
    add_version(work, "1.0.0")
    release(work, "1.0.0", ("dev",))
    git_init(work)
    remote = work.parent / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(remote)], check=True)
    return remote


@pytest.fixture
def clones(seed: Path, tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remote)], check=True)
    return _clone(remote, tmp_path / "alice", "alice"), _clone(remote, tmp_path / "bob", "bob")


def _head(root: Path) -> tuple[int, str]:
    return AuditLog(root).head()


def _assert_clean(root: Path) -> None:
    report = verify(Repo(root))
    assert report.ok, [str(p) for p in report.problems]


def test_init_assigns_the_driver_and_a_clone_without_it_is_warned(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    promptgov.init(root)
    assert (root / ".gitattributes").read_text().endswith(ATTRIBUTES)
    git_init(root)
    assert driver_warning(root) is None  # nothing to pull from yet
    git(root, "remote", "add", "origin", str(tmp_path / "remote.git"))
    warning = driver_warning(root)
    assert warning is not None and "has not registered it" in warning
    install(root)
    assert driver_warning(root) is None
    assert "merge-driver run %O %A %B %P" in git(root, "config", "merge.promptgov.driver")


@pytest.mark.parametrize("how", [(), ("--rebase",)], ids=["merge", "rebase"])
def test_concurrent_actions_merge_into_one_verifying_chain(
    clones: tuple[Path, Path], how: tuple[str, ...]
) -> None:
    alice, bob = clones
    # alice registers 1.1.0 and promotes it to dev; bob flags 1.0.0's neighbour... and
    # promotes 1.0.0 to staging: different environments, one prompt, both logs grow.
    add_version(alice, "1.1.0")
    release(alice, "1.1.0", ("dev",))
    _commit(alice, "release 1.1.0 to dev")
    git(alice, "push", "-q")
    release(bob, "1.0.0", ("staging",), evaluate_first=False)
    _commit(bob, "1.0.0 to staging")

    pulled = _pull(bob, *how)
    assert pulled.returncode == 0, pulled.stderr
    _assert_clean(bob)
    entry = registry(bob).entry(PROMPT)
    assert entry.environments["dev"].current == "1.1.0"
    assert entry.environments["staging"].current == "1.0.0"
    last = list(AuditLog(bob).entries())[-1]
    assert last.action == "merge"
    git(bob, "push", "-q")

    assert _pull(alice).returncode == 0
    _assert_clean(alice)
    assert _head(alice) == _head(bob)
    # the merged history goes on: a new action in either clone chains onto it
    flag_version(registry(alice), f"{PROMPT}@1.1.0", FlagOptions(reason="odd output"), by="audra")
    _assert_clean(alice)


def test_audit_only_side_is_replayed_after_the_other(clones: tuple[Path, Path]) -> None:
    alice, bob = clones
    add_version(alice, "1.1.0")
    _commit(alice, "register 1.1.0")
    git(alice, "push", "-q")
    flag_version(registry(bob), f"{PROMPT}@1.0.0", FlagOptions(reason="leaks names"), by="audra")
    _commit(bob, "flag 1.0.0")

    pulled = _pull(bob)
    assert pulled.returncode == 0, pulled.stderr
    _assert_clean(bob)
    entry = registry(bob).entry(PROMPT)
    assert {r.version for r in entry.versions} >= {"1.0.0", "1.1.0"}
    assert next(r for r in entry.versions if r.version == "1.0.0").quarantine is not None


def test_two_promotions_of_one_environment_are_refused(clones: tuple[Path, Path]) -> None:
    alice, bob = clones
    add_version(alice, "1.1.0")
    release(alice, "1.1.0", ("dev",))
    _commit(alice, "1.1.0 to dev")
    git(alice, "push", "-q")
    add_version(bob, "1.2.0", note="Keep it short.")
    release(bob, "1.2.0", ("dev",))
    _commit(bob, "1.2.0 to dev")
    before = _head(bob)

    pulled = _pull(bob)
    assert pulled.returncode != 0
    assert f"cannot merge: both sides moved {PROMPT} in dev" in pulled.stderr
    assert "audit entry #" in pulled.stderr and "git merge --abort" in pulled.stderr
    assert "audit/artifact-audit-log.md" in git(bob, "diff", "--name-only", "--diff-filter=U")
    git(bob, "merge", "--abort")
    assert _head(bob) == before
    _assert_clean(bob)
