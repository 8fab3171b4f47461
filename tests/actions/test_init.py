"""``promptgov init`` tells a new team what to run next: add or import, eval, gate, promote."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import run_cli


def test_init_prints_the_next_steps(tmp_path: Path) -> None:
    res = run_cli("init", tmp_path / "repo")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:2] == [f"Initialised governed repository in {tmp_path / 'repo'}", "Next steps:"]
    commands = [line.split()[1] for line in lines[2:]]
    assert commands == ["import", "add", "eval", "gate", "promote", "approve"]
    assert "docs/prompt-yml.md" in res.stdout


def test_init_with_the_example_names_its_prompt(tmp_path: Path) -> None:
    res = run_cli("init", tmp_path / "repo", "--example", "--json")
    steps = json.loads(res.stdout)["next_steps"]
    assert steps[0] == "promptgov add support-reply --message 'first version' --author you"
    assert all("support-reply" in s for s in steps)
    # Each step is a real command line: the example's first one registers 1.0.0.
    args = steps[0].replace("'first version'", "first").split()[1:]
    assert run_cli(*args, "--repo", tmp_path / "repo").exit_code == 0
    assert run_cli(*steps[1].split()[1:], "--repo", tmp_path / "repo").exit_code == 0
