"""``promptgov notify add``: a target lands in promptgov.yml with its comments kept, as a
policy change; a bad one changes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from promptgov.model import ProjectConfig
from promptgov.repo import Repo

from ..conftest import run_cli


def _config(root: Path) -> ProjectConfig:
    return Repo(root).config


def test_notify_add_appends_the_target_and_keeps_comments(example_repo: Path) -> None:
    path = example_repo / "promptgov.yml"
    before = path.read_text()
    res = run_cli(
        "notify", "add", "oncall", "json://127.0.0.1:9/hooks/oncall",
        "--events", "rollback,promotion", "--events", "test", "--repo", example_repo,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert "added notification target oncall <json://127.0.0.1:9/hooks/oncall>" in res.stdout
    assert "promptgov policy propose" in res.stdout
    after = path.read_text()
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(c in after.splitlines() for c in comments)
    assert (
        "notifications:\n  - name: oncall\n    url: json://127.0.0.1:9/hooks/oncall\n"
        "    events: [rollback, promotion, test]\n"
    ) in after
    [target] = _config(example_repo).notifications
    assert target == {
        "name": "oncall",
        "url": "json://127.0.0.1:9/hooks/oncall",
        "events": ["rollback", "promotion", "test"],
    }


def test_a_second_target_follows_the_first(example_repo: Path) -> None:
    for name, extra in (("a", []), ("b", ["--kind", "webhook", "--secret-env", "HOOK"])):
        url = "json://127.0.0.1:9/a" if name == "a" else "https://hooks.example.com/b"
        assert run_cli("notify", "add", name, url, *extra, "--repo", example_repo).exit_code == 0
    targets = _config(example_repo).notifications
    assert [t["name"] for t in targets] == ["a", "b"]
    assert targets[1] == {
        "name": "b",
        "url": "https://hooks.example.com/b",
        "kind": "webhook",
        "secret_env": "HOOK",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["x", "nosuchservice://token"],
            "error: apprise does not accept 'nosuchservice://***' as a notification URL; "
            "see https://appriseit.com/services/ for the URL of each service.",
        ),
        (
            ["x", "json://127.0.0.1:9/h", "--events", "rollback,deploy"],
            "error: unknown notification event 'deploy'; use one of rollback, promotion, "
            "trigger, test.",
        ),
        (
            ["bad name", "json://127.0.0.1:9/h"],
            "error: notification target name: use letters, digits, '-', '_' or '.' (at most 64).",
        ),
        (
            ["x", "slack://T/B/C", "--kind", "webhook"],
            "error: notification target: webhook target 'x' needs an http:// or https:// URL.",
        ),
    ],
)
def test_a_bad_target_is_refused_and_the_file_untouched(
    example_repo: Path, args: list[str], message: str
) -> None:
    path = example_repo / "promptgov.yml"
    before = path.read_bytes()
    res = run_cli("notify", "add", *args, "--repo", example_repo)
    assert (res.exit_code, res.stderr.strip()) == (2, message)
    assert path.read_bytes() == before


def test_a_duplicate_name_is_refused(example_repo: Path) -> None:
    assert run_cli("notify", "add", "oncall", "json://h/1", "--repo", example_repo).exit_code == 0
    before = (example_repo / "promptgov.yml").read_bytes()
    res = run_cli("notify", "add", "oncall", "json://h/2", "--repo", example_repo)
    assert res.exit_code == 2
    assert "already has a notification target named 'oncall'" in res.stderr
    assert (example_repo / "promptgov.yml").read_bytes() == before


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def test_a_target_added_the_demos_way_verifies_in_a_fresh_clone(
    example_repo: Path, tmp_path: Path
) -> None:
    """The demo's order: add, approve the policy change, generate, then commit; a clone of
    the result verifies (it failed with ``docs/promotion-pipeline.md: stale``)."""
    r = ["--repo", str(example_repo)]
    steps = [
        ["notify", "add", "oncall", "json://127.0.0.1:9/hooks/oncall", *r],
        ["policy", "propose", "--reason", "page on-call", "--by", "carol", *r],
        ["policy", "approve", "--by", "alice", *r],
        ["policy", "apply", "--by", "carol", *r],
        ["schema", *r],
        ["docs", *r],
    ]
    for step in steps:
        res = run_cli(*step)
        assert res.exit_code == 0, (step, res.stdout, res.stderr)
    _git(example_repo, "init", "-q", "-b", "main")
    _git(example_repo, "add", "-A")
    _git(example_repo, "commit", "-qm", "governed repository")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(example_repo), str(clone))
    res = run_cli("verify", "--repo", clone)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.stdout.startswith("✓ verified")
    [target] = _config(clone).notifications
    assert target["name"] == "oncall"
