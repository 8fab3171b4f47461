"""Scripting basics of the command line: the version, and a filter that matches nothing."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from .conftest import run_cli, run_proc


def test_version_prints_the_installed_distributions_version() -> None:
    proc = run_proc("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"promptgov {version('promptgov')}"


def test_audit_show_of_an_action_no_entry_has_is_an_error(example_repo: Path) -> None:
    res = run_cli("audit", "show", "--action", "bogus", "--repo", example_repo)
    assert res.exit_code == 2
    assert "no audit entry has action 'bogus'; actions in this log: init." in res.stderr
    ok = run_cli("audit", "show", "--action", "init", "--repo", example_repo)
    assert ok.exit_code == 0 and "init" in ok.stdout
