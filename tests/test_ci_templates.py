"""The CI templates `init` writes: the GitHub workflow's gate step really gates a PR."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _gate_step(root: Path) -> str:
    wf = yaml.safe_load((root / ".github/workflows/promptgov.yml").read_text())
    steps = wf["jobs"]["eval-gate"]["steps"]
    script = next(s["run"] for s in steps if s.get("name", "").startswith("Register"))
    values = {
        "github.event.number": "7",
        "github.event.pull_request.title": "tweak",
        "github.actor": "octo",
    }
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: values[m.group(1)], script)


def _run_step(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "BASE_REF": "main", "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def _pr_repo(example_repo: Path, tmp_path: Path, old: str, new: str) -> Path:
    """A clone with origin/main = the example, and a PR branch editing the prompt."""
    _git(example_repo, "init", "-q", "-b", "main")
    _git(example_repo, "add", "-A")
    _git(example_repo, "commit", "-qm", "base")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(example_repo), str(clone))
    _git(clone, "checkout", "-qb", "pr")
    p = clone / "prompts/support-reply/prompt.yml"
    p.write_text(p.read_text().replace(old, new))
    _git(clone, "commit", "-qam", "edit", "--allow-empty")
    return clone


def test_init_writes_workflow_gitlab_snippet_and_pre_commit(example_repo: Path) -> None:
    for rel in (".github/workflows/promptgov.yml", "ci/gitlab-ci.yml", ".pre-commit-config.yaml"):
        assert yaml.safe_load((example_repo / rel).read_text()), rel
    hooks = yaml.safe_load((example_repo / ".pre-commit-config.yaml").read_text())["repos"][0][
        "hooks"
    ]
    assert hooks[0]["entry"] == "promptgov verify"


def test_workflow_gate_step_passes_a_good_change(example_repo: Path, tmp_path: Path) -> None:
    clone = _pr_repo(example_repo, tmp_path, "sign off politely", "sign off warmly")
    res = _run_step(clone, _gate_step(clone))
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"Gate for support-reply@[\w.+-]+ → prod: PASS", res.stdout), res.stdout


def test_workflow_gate_step_fails_a_worse_change(example_repo: Path, tmp_path: Path) -> None:
    clone = _pr_repo(example_repo, tmp_path, "apologize for the inconvenience, ", "")
    res = _run_step(clone, _gate_step(clone))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL" in res.stdout and "pass rate" in res.stdout


def test_workflow_ignores_prs_without_prompt_changes(example_repo: Path, tmp_path: Path) -> None:
    clone = _pr_repo(example_repo, tmp_path, "sign off politely", "sign off politely")
    assert shutil.which("git")
    res = _run_step(clone, _gate_step(clone))
    assert res.returncode == 0 and "Gate for" not in res.stdout
