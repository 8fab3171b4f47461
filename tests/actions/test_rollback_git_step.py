"""Git publication is a ledger step: killed inside it, `rollback --resume` finishes it once.

Each case copies a governed repository that is a real git work tree (``main`` checked out,
a ``prod`` deploy branch, tags on), runs the CLI as a real process that dies (SIGKILL) or
finds the disk full at a point of the git step, and checks that the registry's pending
publication is reported by ``verify`` and every command, that ``rollback --resume`` makes
exactly one commit on each branch and one tag, and that a second resume changes nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from promptgov import ApproveOptions, GateOptions, RollbackOptions
from promptgov.actions.approve import approve
from promptgov.actions.gate import check_gate
from promptgov.actions.rollback import rollback
from promptgov.model import PromptSource, Publication, RollbackStatus, utcnow

from .. import flows
from ..conftest import run_cli, run_proc, snapshot
from ..flows import APPROVER, PROMPT, add_version, git, registry, release
from .test_rollback_crash import ROLLBACK

RESUME = ("rollback", "--resume")
#: The points of the git step, in the order it reaches them.
GIT_POINTS = [
    "rollback.before-publish",
    "publish.before-commit",
    "publish.after-commit",
    "publish.after-branch",
    "publish.after-git",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prod serves 1.1.0 after 1.0.0, all committed on ``main``; ``prod`` is its deploy branch."""
    root = tmp_path_factory.mktemp("git-step") / "template"
    flows.two_releases(root)
    flows.configure(root, lambda doc: flows.env_config(doc, "prod").update(deploy_branch="prod"))
    flows.git_init(root)
    git(root, "branch", "prod")
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    return root


def _crash(root: Path, args: tuple[str, ...], fault: str) -> None:
    proc = run_proc(*args, "--repo", root, env={"PROMPTGOV_FAULT": fault})
    assert proc.returncode == -9, (fault, proc.returncode, proc.stderr)


def _refs(root: Path) -> str:
    return git(root, "show-ref")


def _new_commits(root: Path, base: str, rev: str) -> list[str]:
    return git(root, "log", "--format=%H", f"{base}..{rev}").split()


def _set_git(root: Path, **values: bool) -> None:
    flows.configure(root, lambda doc: doc.setdefault("git", {}).update(values))


def _assert_published_once(root: Path, template: Path, seq: int) -> None:
    """One rollback commit on main, one on prod, one tag; a clean tree; verify clean."""
    [main] = _new_commits(root, git(template, "rev-parse", "main").strip(), "main")
    [deploy] = _new_commits(root, git(template, "rev-parse", "prod").strip(), "prod")
    for commit in (main, deploy):
        trailers = git(root, "log", "-1", "--format=%(trailers:only,unfold)", commit)
        assert "Promptgov-Action: rollback" in trailers, trailers
        assert f"Promptgov-Audit-Seq: {seq}" in trailers, trailers
    tag = f"{PROMPT}-prod-1.0.0+rollback-{seq}"
    assert git(root, "tag").split() == [tag]
    assert git(root, "rev-parse", f"{tag}^{{commit}}").strip() == deploy
    committed = yaml.safe_load(git(root, "show", "main:schemas/prompt-version-schema.yml"))
    entry = committed["prompts"][PROMPT]
    assert entry["environments"]["prod"]["current"] == "1.0.0+rollback"
    assert [rb["status"] for rb in entry["rollbacks"]] == ["completed"]
    deployed = PromptSource.model_validate(
        yaml.safe_load(git(root, "show", f"prod:{flows.PROMPT_FILE}"))
    )
    assert deployed.content().sha256 == registry(root).record(PROMPT, "1.0.0").sha256
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert not list((root / ".promptgov/unpublished").glob("*"))
    ver = run_cli("verify", "--repo", root)
    assert ver.exit_code == 0, (ver.stdout, ver.stderr)


def _assert_resume_does_nothing(root: Path) -> None:
    before, refs = snapshot(root), _refs(root)
    again = run_cli(*RESUME, "--repo", root)
    assert again.exit_code == 0, (again.stdout, again.stderr)
    assert again.stdout == "No interrupted rollback to resume and no move waiting for git.\n"
    assert snapshot(root) == before
    assert _refs(root) == refs


@pytest.mark.parametrize("point", GIT_POINTS)
def test_kill_inside_the_git_step_is_resumed_once(point: str, template: Path, repo: Path) -> None:
    assert run_cli("verify", "--repo", repo).exit_code == 0  # committed by hand: not ahead
    _crash(repo, ROLLBACK, point)
    entry = registry(repo).entry(PROMPT)
    [rb] = entry.rollbacks
    assert rb.status is RollbackStatus.COMPLETED and rb.audit_seq is not None
    assert entry.environments["prod"].current == "1.0.0+rollback"
    seq = rb.audit_seq
    # the git step is recorded as pending: verify fails and every command says so
    ver = run_cli("verify", "--repo", repo)
    assert ver.exit_code == 1, ver.stdout
    assert (
        f".promptgov/unpublished/{seq}.json: rollback of {PROMPT} in prod (audit #{seq}) is not "
        "in git yet; run 'promptgov rollback --resume' to publish it"
    ) in ver.stdout
    assert (
        "warning: 1 pointer move(s) are not in git yet; publish them with "
        "'promptgov rollback --resume'."
    ) in run_cli("status", "--repo", repo).stderr

    res = run_cli(*RESUME, "--repo", repo)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert f"Published rollback of {PROMPT} in prod (audit #{seq}) to git: commit " in res.stdout
    _assert_published_once(repo, template, seq)
    _assert_resume_does_nothing(repo)


def test_kill_inside_a_promotions_git_step_is_resumed_once(repo: Path) -> None:
    add_version(repo, "1.2.0")
    release(repo, "1.2.0", ["dev", "staging"])
    reg, ref = registry(repo), f"{PROMPT}@1.2.0"
    check_gate(reg, ref, GateOptions(env="prod"))
    approve(reg, ref, ApproveOptions(env="prod"), by=APPROVER)
    main_before, prod_before = (
        git(repo, "rev-parse", "main").strip(),
        git(repo, "rev-parse", "prod").strip(),
    )
    promote = ("promote", ref, "--to", "prod", "--by", APPROVER, "--reason", "release 1.2.0")
    _crash(repo, promote, "publish.after-commit")
    move = registry(repo).entry(PROMPT).environments["prod"].history[-1]
    assert move.version == "1.2.0" and move.audit_seq is not None
    assert len(_new_commits(repo, main_before, "main")) == 1
    assert _new_commits(repo, prod_before, "prod") == []
    assert run_cli("verify", "--repo", repo).exit_code == 1

    res = run_cli(*RESUME, "--repo", repo)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert f"Published promote of {PROMPT} in prod (audit #{move.audit_seq}) to git" in res.stdout
    [main] = _new_commits(repo, main_before, "main")
    [deploy] = _new_commits(repo, prod_before, "prod")
    assert f"Promptgov-Audit-Seq: {move.audit_seq}" in git(repo, "log", "-1", "--format=%B", main)
    assert (
        git(repo, "rev-parse", f"{PROMPT}-prod-1.2.0-{move.audit_seq}^{{commit}}").strip() == deploy
    )
    assert run_cli("verify", "--repo", repo).exit_code == 0
    _assert_resume_does_nothing(repo)


@pytest.mark.parametrize(
    ("fault", "state"),
    [
        ("txn.before-journal@5", ", but its pending-publication record could not be cleared"),
        (
            "txn.apply.0@5",
            "; clearing its pending-publication record is committed but not fully written",
        ),
    ],
)
def test_disk_full_when_the_git_step_settles_is_told_and_resumed(
    fault: str, state: str, template: Path, repo: Path
) -> None:
    """The fifth write of a rollback clears its pending publication, after git has it."""
    proc = run_proc(*ROLLBACK, "--repo", repo, env={"PROMPTGOV_FAULT": f"enospc:{fault}"})
    assert proc.returncode == 2, proc.stderr
    [rb] = registry(repo).entry(PROMPT).rollbacks
    seq = rb.audit_seq
    assert proc.stderr == (
        f"error: git has the rollback of {PROMPT} in prod (audit #{seq}){state} (No space left "
        "on device). Free space, then resume the rollback. Run 'promptgov rollback --resume'.\n"
    )
    res = run_cli(*RESUME, "--repo", repo)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert seq is not None
    _assert_published_once(repo, template, seq)
    _assert_resume_does_nothing(repo)


def test_verify_reports_moves_that_no_commit_on_head_has(template: Path, repo: Path) -> None:
    """Without a pending record (publication was off, an older promptgov crashed), verify
    still compares the registry's last moves with what HEAD has."""
    _set_git(repo, commit=False)
    res = rollback(registry(repo), PROMPT, RollbackOptions(reason="refunds"), by="bob")
    assert res.record is not None and res.git_commit is None
    assert git(repo, "rev-parse", "main") == git(template, "rev-parse", "main")
    assert run_cli("verify", "--repo", repo).exit_code == 0  # publication is off
    _set_git(repo, commit=True)
    move_seq = registry(repo).entry(PROMPT).environments["prod"].history[-1].audit_seq
    ver = run_cli("verify", "--repo", repo)  # HEAD has no promptgov commit: its registry decides
    assert ver.exit_code == 1
    assert (
        f"schemas/prompt-version-schema.yml: {PROMPT} prod moved to 1.0.0+rollback "
        f"(audit #{move_seq}), but no commit on HEAD has it: the registry is ahead of its git "
        "record; commit the governed files to publish it"
    ) in ver.stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "publish by hand")
    assert run_cli("verify", "--repo", repo).exit_code == 0

    # once promptgov's commits carry audit numbers, those decide
    add_version(repo, "1.2.0")
    release(repo, "1.2.0", ["dev"])
    assert run_cli("verify", "--repo", repo).exit_code == 0
    _set_git(repo, commit=False)
    add_version(repo, "1.3.0")
    release(repo, "1.3.0", ["dev"])
    _set_git(repo, commit=True)
    dev_seq = registry(repo).entry(PROMPT).environments["dev"].history[-1].audit_seq
    ver = run_cli("verify", "--repo", repo)
    assert ver.exit_code == 1
    assert f"{PROMPT} dev moved to 1.3.0 (audit #{dev_seq}), but no commit on HEAD has it" in (
        ver.stdout
    )


def test_verify_reports_a_deploy_branch_behind_its_environment(repo: Path) -> None:
    """A git step cut short after the commit, by a promptgov that kept no pending record."""
    add_version(repo, "1.2.0")
    release(repo, "1.2.0")  # published: prod's deploy branch names its audit entry
    assert run_cli("verify", "--repo", repo).exit_code == 0
    _crash(repo, ROLLBACK, "publish.after-commit")
    for record in (repo / ".promptgov/unpublished").glob("*.json"):
        record.unlink()
    last = registry(repo).entry(PROMPT).environments["prod"].history[-1]
    ver = run_cli("verify", "--repo", repo)
    assert ver.exit_code == 1
    assert ver.stdout.count("✗ ") == 2, ver.stdout  # the problem, then the summary line
    assert (
        f"{PROMPT} prod moved to {last.version} (audit #{last.audit_seq}), but deploy branch "
        "'prod' does not have it; the next move of prod brings the branch along"
    ) in ver.stdout


def test_a_pending_publication_that_came_from_a_commit_is_refused(repo: Path) -> None:
    """Like the journal, the record never leaves its machine: a committed one is not obeyed."""
    rel = ".promptgov/unpublished/999.json"
    crafted = Publication(
        action="promote",
        prompt=PROMPT,
        env="prod",
        to_version="1.1.0",
        reason="crafted",
        authorized_by="mallory",
        audit_seq=999,
        recorded_at=utcnow(),
    )
    (repo / rel).parent.mkdir(parents=True)
    (repo / rel).write_text(crafted.model_dump_json())
    assert git(repo, "status", "--porcelain") == ""  # git-ignored where init wrote it
    git(repo, "add", "-f", rel)
    git(repo, "commit", "-q", "-m", "crafted")
    before, refs = snapshot(repo), _refs(repo)
    res = run_cli(*RESUME, "--repo", repo)
    assert res.exit_code == 2
    assert res.stderr == (
        f"error: {rel} is tracked by git, so it came from a commit, not from this work tree; it "
        "was not published. Untrack it in git and delete the file. "
        f"Run 'git rm --cached {rel}' and delete the file.\n"
    )
    assert snapshot(repo) == before and _refs(repo) == refs
    ver = run_cli("verify", "--repo", repo)
    assert ver.exit_code == 1 and f"{rel} is tracked by git" in ver.stdout
