"""Git operations on real repositories in temporary directories, checked with git itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptgov.errors import Conflict, InputError, NotFound, UnsafePath
from promptgov.gitops import (
    commit_paths,
    create_tag,
    current_branch,
    dirty_paths,
    find_trailer,
    head,
    is_git_repo,
    last_trailer,
    read_committed,
    structured_message,
    tag_target,
    update_deploy_branch,
)

USER = ("Test User", "test@example.com")


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {args} failed: {proc.stderr}")
    return proc.stdout.strip()


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test sees only its own git configuration, with a known identity."""
    cfg = tmp_path / "gitconfig"
    cfg.write_text(
        f"[user]\n\tname = {USER[0]}\n\temail = {USER[1]}\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (
        "EMAIL",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_DIR",
        "GIT_INDEX_FILE",
        "GIT_WORK_TREE",
    ):
        monkeypatch.delenv(name, raising=False)
    return cfg


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "prompts" / "greet").mkdir(parents=True)
    (root / "prompts" / "greet" / "template.txt").write_text("Hello {{name}}\n")
    (root / "schemas").mkdir()
    (root / "schemas" / "registry.yml").write_text("versions: []\n")
    (root / "README.md").write_text("prompts\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def _snapshot(root: Path) -> tuple[str, str, str, str, dict[str, bytes]]:
    """HEAD, branch, status, staged diff and every work-tree file's bytes."""
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
    return (
        git(root, "rev-parse", "HEAD"),
        git(root, "symbolic-ref", "HEAD"),
        git(root, "status", "--porcelain"),
        git(root, "diff", "--cached"),
        files,
    )


# -- queries ---------------------------------------------------------------------------------


def test_is_git_repo(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert is_git_repo(repo) and is_git_repo(repo / "prompts")
    assert not is_git_repo(plain)
    assert not is_git_repo(tmp_path / "missing")
    assert not (plain / ".git").exists()


def test_head_and_branch(tmp_path: Path, repo: Path) -> None:
    assert head(repo) == git(repo, "rev-parse", "HEAD")
    assert current_branch(repo) == "main"
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert head(empty) is None


def test_non_git_directory_is_a_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a")
    expected = f"{plain} is not inside a git repository; run 'git init' there first."
    for call in (
        lambda: commit_paths(plain, ["a.txt"], "m"),
        lambda: head(plain),
        lambda: dirty_paths(plain),
        lambda: update_deploy_branch(plain, "prod", ["a.txt"], "m"),
    ):
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.message == expected
    assert sorted(p.name for p in plain.iterdir()) == ["a.txt"]


def test_dirty_paths_lists_changes_relative_to_the_governed_root(repo: Path) -> None:
    (repo / "prompts" / "greet" / "template.txt").write_text("Hi {{name}}\n")
    (repo / "prompts" / "greet" / "card.yml").write_text("owner: alice\n")
    (repo / "README.md").write_text("changed\n")
    git(repo, "add", "README.md")

    assert dirty_paths(repo) == [
        "README.md",
        "prompts/greet/card.yml",
        "prompts/greet/template.txt",
    ]
    assert dirty_paths(repo, "prompts") == ["prompts/greet/card.yml", "prompts/greet/template.txt"]
    assert dirty_paths(repo / "prompts") == ["greet/card.yml", "greet/template.txt"]


# -- commit_paths ----------------------------------------------------------------------------


def test_commit_paths_commits_only_the_named_paths(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD")
    (repo / "schemas" / "registry.yml").write_text("versions: [1.3.0]\n")
    (repo / "audit").mkdir()
    (repo / "audit" / "artifact-audit-log.md").write_text("# Audit\n")
    (repo / "README.md").write_text("work in progress\n")  # the user's unstaged edit
    (repo / "notes.txt").write_text("staged by the user\n")
    git(repo, "add", "notes.txt")

    sha = commit_paths(repo, ["schemas/registry.yml", "audit"], "promptgov: record 1.3.0")

    assert sha == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD~1") == before
    assert git(repo, "show", "--name-only", "--format=", "HEAD").splitlines() == [
        "audit/artifact-audit-log.md",
        "schemas/registry.yml",
    ]
    assert git(repo, "log", "-1", "--format=%B") == "promptgov: record 1.3.0"
    assert git(repo, "diff", "--cached", "--name-only") == "notes.txt"
    assert git(repo, "diff", "--name-only") == "README.md"
    assert (repo / "README.md").read_text() == "work in progress\n"


def test_commit_paths_without_changes_is_a_no_op(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD")
    assert commit_paths(repo, ["schemas/registry.yml"], "nothing") is None
    assert commit_paths(repo, [], "nothing") is None
    assert git(repo, "rev-parse", "HEAD") == before


def test_commit_paths_records_deletions_and_absolute_paths(repo: Path) -> None:
    (repo / "prompts" / "greet" / "template.txt").unlink()
    sha = commit_paths(repo, [repo / "prompts" / "greet" / "template.txt"], "remove greet")
    assert sha is not None
    assert git(repo, "show", "--name-status", "--format=", sha) == "D\tprompts/greet/template.txt"


def test_commit_paths_refuses_unknown_and_outside_paths(tmp_path: Path, repo: Path) -> None:
    snap = _snapshot(repo)
    with pytest.raises(NotFound) as err:
        commit_paths(repo, ["nope.yml"], "m")
    assert err.value.message == (
        "cannot commit nope.yml: not in the working tree and not tracked by git."
    )
    with pytest.raises(UnsafePath):
        commit_paths(repo, ["../elsewhere"], "m")
    with pytest.raises(UnsafePath):
        commit_paths(repo, [tmp_path / "gitconfig"], "m")
    assert _snapshot(repo) == snap


def test_commit_paths_works_in_a_governed_subdirectory(repo: Path) -> None:
    (repo / "prompts" / "greet" / "template.txt").write_text("Hey\n")
    sha = commit_paths(repo / "prompts", ["greet/template.txt"], "sub")
    assert git(repo, "show", "--name-only", "--format=", str(sha)) == "prompts/greet/template.txt"


def test_commit_without_git_identity_uses_the_fallback(
    repo: Path, _isolated_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # useConfigOnly stops git from guessing an identity: without promptgov's fallback
    # this commit would fail with "Please tell me who you are".
    _isolated_git.write_text("[user]\n\tuseConfigOnly = true\n")
    (repo / "README.md").write_text("v2\n")
    assert git(repo, "commit", "-qam", "plain git", check=False) == ""
    assert git(repo, "rev-list", "--count", "HEAD") == "1"  # git itself refused

    sha = commit_paths(repo, ["README.md"], "promptgov commit")

    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", str(sha)) == (
        "promptgov <promptgov@localhost>|promptgov <promptgov@localhost>"
    )
    tip = update_deploy_branch(repo, "prod", ["README.md"], "deploy", tag="prod-1")
    assert git(repo, "log", "-1", "--format=%an <%ae>", tip) == "promptgov <promptgov@localhost>"
    assert git(repo, "cat-file", "-t", "prod-1") == "tag"


def test_commit_author_can_be_given(repo: Path) -> None:
    (repo / "README.md").write_text("v2\n")
    sha = commit_paths(repo, ["README.md"], "m", author="Carol Ops <carol@example.com>")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn", str(sha)) == (
        f"Carol Ops <carol@example.com>|{USER[0]}"
    )


def test_locked_index_is_a_conflict(repo: Path) -> None:
    (repo / "README.md").write_text("v2\n")
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    try:
        with pytest.raises(Conflict) as err:
            commit_paths(repo, ["README.md"], "m")
        assert "another git process is working in" in err.value.message
    finally:
        lock.unlink()


def test_missing_git_executable(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert is_git_repo(plain) is False
    with pytest.raises(InputError) as err:
        commit_paths(repo, ["README.md"], "m")
    assert err.value.message == (
        "git is not installed (no 'git' on PATH); install git or set git.commit: false "
        "in promptgov.yml."
    )


# -- structured messages ---------------------------------------------------------------------


def test_structured_message_trailers_parse_with_git(repo: Path) -> None:
    message = structured_message(
        "rollback",
        "greet",
        "prod",
        "1.4.0",
        "1.3.0+rollback",
        reason="accuracy dropped\nafter the model update",
        authorized_by="carol",
        extra={"audit_seq": 42, "eval-run": "run-17"},
    )
    assert message.splitlines()[0] == "promptgov: rollback greet in prod 1.4.0 -> 1.3.0+rollback"
    proc = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines() == [
        "Promptgov-Action: rollback",
        "Promptgov-Prompt: greet",
        "Promptgov-Env: prod",
        "Promptgov-From: 1.4.0",
        "Promptgov-To: 1.3.0+rollback",
        "Promptgov-Authorized-By: carol",
        "Promptgov-Reason: accuracy dropped after the model update",
        "Promptgov-Audit-Seq: 42",
        "Promptgov-Eval-Run: run-17",
    ]
    (repo / "README.md").write_text("v2\n")
    sha = commit_paths(repo, ["README.md"], message)
    trailer = "%(trailers:key=Promptgov-Action,valueonly)"
    assert git(repo, "log", "-1", f"--format={trailer}", str(sha)) == "rollback"


_line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=60
).filter(lambda t: t.strip())


@settings(max_examples=40, deadline=None)
@given(reason=st.lists(_line_text, min_size=1, max_size=3).map("\n".join), who=_line_text)
def test_structured_message_trailers_round_trip(reason: str, who: str) -> None:
    message = structured_message("rollback", "greet", "prod", reason=reason, authorized_by=who)
    proc = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    )
    parsed = dict(line.split(": ", 1) for line in proc.stdout.splitlines())
    assert parsed["Promptgov-Action"] == "rollback"
    assert parsed["Promptgov-Authorized-By"] == " ".join(who.split())
    assert parsed["Promptgov-Reason"] == " ".join(reason.split())


def test_structured_message_subject_is_capped() -> None:
    subject = structured_message("promotion", "p" * 100, "prod").splitlines()[0]
    assert len(subject) == 72 and subject.endswith("…")


def test_structured_message_rejects_bad_trailer_names() -> None:
    with pytest.raises(InputError) as err:
        structured_message("rollback", "greet", extra={"bad:key": 1})
    assert (
        err.value.message == "invalid commit trailer name 'bad:key': use letters, digits, '-', '_'."
    )


# -- deployment branches ---------------------------------------------------------------------


def test_deploy_branch_is_created_from_head_without_touching_the_user(repo: Path) -> None:
    main_tip = git(repo, "rev-parse", "HEAD")
    (repo / "prompts" / "greet" / "template.txt").write_text("Hello again {{name}}\n")
    (repo / "prompts" / "greet" / "card.yml").write_text("owner: alice\n")
    (repo / "README.md").write_text("unrelated edit\n")
    git(repo, "add", "README.md")
    snap = _snapshot(repo)

    tip = update_deploy_branch(repo, "prod", ["prompts/greet"], "deploy greet to prod")

    assert _snapshot(repo) == snap
    assert git(repo, "rev-parse", "refs/heads/prod") == tip
    assert git(repo, "rev-parse", f"{tip}^") == main_tip
    assert git(repo, "show", f"{tip}:prompts/greet/template.txt") == "Hello again {{name}}"
    assert git(repo, "show", f"{tip}:prompts/greet/card.yml") == "owner: alice"
    # Paths not named keep the base's content, even when the user changed them.
    assert git(repo, "show", f"{tip}:README.md") == "prompts"
    assert git(repo, "log", "-1", "--format=%s", tip) == "deploy greet to prod"


def test_deploy_branch_history_only_grows(repo: Path) -> None:
    tpl = repo / "prompts" / "greet" / "template.txt"
    tpl.write_text("v2\n")
    first = update_deploy_branch(repo, "prod", ["prompts"], "deploy v2")
    tpl.write_text("v3\n")
    second = update_deploy_branch(repo, "prod", ["prompts"], "deploy v3")
    tpl.unlink()
    third = update_deploy_branch(repo, "prod", ["prompts"], "remove greet")

    assert git(repo, "rev-parse", f"{second}^") == first
    assert git(repo, "rev-parse", f"{third}^") == second
    assert git(repo, "show", f"{second}:prompts/greet/template.txt") == "v3"
    assert git(repo, "ls-tree", "-r", "--name-only", third, "prompts") == ""
    reflog = git(repo, "reflog", "show", "--format=%H", "refs/heads/prod").splitlines()
    assert reflog == [third, second, first]


def test_deploy_branch_unchanged_paths_make_no_commit(repo: Path) -> None:
    (repo / "prompts" / "greet" / "template.txt").write_text("v2\n")
    first = update_deploy_branch(repo, "prod", ["prompts"], "deploy v2")
    assert update_deploy_branch(repo, "prod", ["prompts"], "again") == first
    assert git(repo, "rev-list", "--count", "refs/heads/prod") == "2"


def test_deploy_branch_in_an_empty_repository_starts_a_root_commit(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "prompts").mkdir()
    (root / "prompts" / "a.txt").write_text("a\n")
    tip = update_deploy_branch(root, "prod", ["prompts"], "first deploy")
    assert git(root, "rev-list", "--parents", "-n1", tip) == tip
    assert git(root, "ls-tree", "-r", "--name-only", tip) == "prompts/a.txt"
    assert head(root) is None


def test_tags_are_created_once_and_never_moved(repo: Path) -> None:
    tpl = repo / "prompts" / "greet" / "template.txt"
    tpl.write_text("v2\n")
    tip = update_deploy_branch(repo, "prod", ["prompts"], "deploy v2", tag="prod-greet-1.3.0")
    assert git(repo, "cat-file", "-t", "prod-greet-1.3.0") == "tag"
    assert git(repo, "rev-parse", "prod-greet-1.3.0^{commit}") == tip
    light = update_deploy_branch(repo, "staging", ["prompts"], "stage", tag="s-1", annotate=False)
    assert git(repo, "cat-file", "-t", "s-1") == "commit"
    assert git(repo, "rev-parse", "s-1") == light

    tpl.write_text("v3\n")
    with pytest.raises(Conflict) as err:
        update_deploy_branch(repo, "prod", ["prompts"], "deploy v3", tag="prod-greet-1.3.0")
    assert err.value.message == (
        "tag 'prod-greet-1.3.0' already exists; promptgov never moves a tag. Pick a new name."
    )
    assert git(repo, "rev-parse", "refs/heads/prod") == tip  # the refusal changed nothing
    assert git(repo, "rev-parse", "prod-greet-1.3.0^{commit}") == tip


def test_bad_names_and_checked_out_branch_are_refused(repo: Path) -> None:
    with pytest.raises(InputError) as err:
        update_deploy_branch(repo, "prod..x", ["prompts"], "m")
    assert err.value.message == "invalid branch name 'prod..x': see 'git help check-ref-format'."
    with pytest.raises(InputError):
        update_deploy_branch(repo, "prod", ["prompts"], "m", tag="bad tag")
    with pytest.raises(Conflict) as conflict:
        update_deploy_branch(repo, "main", ["prompts"], "m")
    assert "branch 'main' is checked out" in conflict.value.message
    assert git(repo, "branch", "--list", "prod") == ""


def test_expected_tip_is_compared_and_swapped(repo: Path) -> None:
    tpl = repo / "prompts" / "greet" / "template.txt"
    tpl.write_text("v2\n")
    first = update_deploy_branch(repo, "prod", ["prompts"], "v2")
    tpl.write_text("v3\n")
    second = update_deploy_branch(repo, "prod", ["prompts"], "v3", expected_tip=first)
    tpl.write_text("v4\n")
    with pytest.raises(Conflict) as err:
        update_deploy_branch(repo, "prod", ["prompts"], "v4", expected_tip=first)
    assert err.value.message == (
        f"branch 'prod' is at {second[:12]}, not {first[:12]} as expected; someone else "
        "updated it. Re-run to build on the new tip."
    )
    assert git(repo, "rev-parse", "refs/heads/prod") == second


def test_a_ref_moved_during_the_update_is_detected(tmp_path: Path, repo: Path) -> None:
    """Another writer moves ``prod`` while promptgov builds its commit: exactly one wins."""
    tpl = repo / "prompts" / "greet" / "template.txt"
    tpl.write_text("v2\n")
    first = update_deploy_branch(repo, "prod", ["prompts"], "v2")
    racer = git(repo, "commit-tree", f"{first}^{{tree}}", "-p", first, "-m", "racer")
    # A clean filter runs while promptgov hashes the files, i.e. after it read the
    # branch tip and before it moves the ref: the racer's update lands in between.
    guard = tmp_path / "raced"
    script = tmp_path / "race.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ ! -e "{guard}" ]; then touch "{guard}"; '
        f"git update-ref refs/heads/prod {racer} {first}; fi\n"
        "cat\n"
    )
    script.chmod(0o755)
    git(repo, "config", "filter.race.clean", str(script))
    (repo / ".git" / "info" / "attributes").write_text("*.txt filter=race\n")
    tpl.write_text("v3\n")

    with pytest.raises(Conflict) as err:
        update_deploy_branch(repo, "prod", ["prompts"], "v3")

    assert guard.exists()
    assert err.value.message == (
        f"branch 'prod' moved while promptgov was updating it (expected {first[:12]}, found "
        f"{racer[:12]}); nothing was changed. Re-run to build on the new tip."
    )
    assert git(repo, "rev-parse", "refs/heads/prod") == racer
    leftovers = [p.name for p in (repo / ".git").iterdir() if p.name.startswith("promptgov-")]
    assert leftovers == []


def test_deploy_branch_from_a_governed_subdirectory(repo: Path) -> None:
    (repo / "prompts" / "greet" / "template.txt").write_text("sub v2\n")
    tip = update_deploy_branch(repo / "prompts", "prod", ["greet"], "deploy from subdir")
    assert git(repo, "show", f"{tip}:prompts/greet/template.txt") == "sub v2"
    assert git(repo, "show", f"{tip}:README.md") == "prompts"


def test_unknown_paths_are_left_alone_on_the_deploy_branch(repo: Path) -> None:
    tip = update_deploy_branch(repo, "prod", ["never-existed"], "noop")
    assert tip == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-list", "--count", "refs/heads/prod") == "1"
    assert [p for p in os.listdir(repo / ".git") if p.startswith("promptgov-")] == []


# -- finding what was already published ------------------------------------------------------


def _governed_commit(repo: Path, seq: int, reason: str = "why") -> str:
    (repo / "schemas" / "registry.yml").write_text(f"seq: {seq}\n")
    message = structured_message(
        "promote", "greet", "prod", "1", "2", reason, "bob", extra={"Audit-Seq": str(seq)}
    )
    commit = commit_paths(repo, ["schemas"], message)
    assert commit is not None
    return commit


def test_structured_message_names_the_audit_entry_once(repo: Path) -> None:
    message = structured_message("rollback", "greet", extra={"Audit-Seq": "12"})
    assert "Promptgov-Audit-Seq: 12" in message.splitlines()
    assert "Promptgov-Promptgov" not in message


def test_find_trailer_finds_the_commit_that_names_a_value(repo: Path) -> None:
    first = _governed_commit(repo, 5)
    second = _governed_commit(repo, 12, reason="Promptgov-Audit-Seq: 7")
    assert find_trailer(repo, "HEAD", "Audit-Seq", "12") == second
    assert find_trailer(repo, "HEAD", "Audit-Seq", "5") == first
    # a value that only appears in the body, or as a prefix of another, is not a trailer
    assert find_trailer(repo, "HEAD", "Audit-Seq", "7") is None
    assert find_trailer(repo, "HEAD", "Audit-Seq", "1") is None
    assert find_trailer(repo, "refs/heads/missing", "Audit-Seq", "5") is None
    assert find_trailer(repo, "HEAD", "Audit-Seq", "5", since="2090-01-01T00:00:00+00:00") is None
    assert last_trailer(repo, "HEAD", "Audit-Seq") == "12"
    assert last_trailer(repo, "refs/heads/missing", "Audit-Seq") is None
    with pytest.raises(InputError):
        find_trailer(repo, "HEAD", "bad key", "1")


def test_find_trailer_reads_the_doubled_name_of_older_commits(repo: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "old\n\nPromptgov-Promptgov-Audit-Seq: 3")
    old = git(repo, "rev-parse", "HEAD")
    assert find_trailer(repo, "HEAD", "Audit-Seq", "3") == old
    assert last_trailer(repo, "HEAD", "Audit-Seq") == "3"


def test_tags_are_created_on_a_commit_and_read_back(repo: Path) -> None:
    commit = _governed_commit(repo, 9)
    assert tag_target(repo, "greet-prod-2-9") is None
    create_tag(repo, "greet-prod-2-9", commit, "deploy")
    assert tag_target(repo, "greet-prod-2-9") == commit
    assert git(repo, "cat-file", "-t", "greet-prod-2-9") == "tag"
    with pytest.raises(Conflict):
        create_tag(repo, "greet-prod-2-9", git(repo, "rev-parse", "HEAD~1"))
    assert tag_target(repo, "greet-prod-2-9") == commit
    with pytest.raises(InputError):
        tag_target(repo, "bad tag")


def test_read_committed_returns_the_committed_text_not_the_working_copy(repo: Path) -> None:
    (repo / "schemas" / "registry.yml").write_text("edited\n")
    assert read_committed(repo, "HEAD", "schemas/registry.yml") == "versions: []\n"
    assert read_committed(repo, "HEAD", "schemas/absent.yml") is None
