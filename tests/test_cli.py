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


def test_a_recorded_run_refuses_another_engine_and_records_nothing(registered_repo: Path) -> None:
    from .conftest import snapshot

    before = snapshot(registered_repo)
    res = run_cli("eval", "support-reply@1.0.0", "--engine", "promptfoo", "--repo", registered_repo)
    assert res.exit_code == 2 and "--engine promptfoo runs a config" in res.stderr
    assert snapshot(registered_repo) == before


def test_the_promptfoo_engine_without_promptfoo_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    config = _plain_config(tmp_path)
    proc = run_proc("eval", "-c", config, "--engine", "promptfoo", env={"PATH": str(empty)})
    assert proc.returncode == 1 and "no 'promptfoo' on PATH" in proc.stderr


def test_a_promptfoo_run_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    """Every subprocess has a time limit: a promptfoo that never finishes is stopped."""
    import os
    import time

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hang = bin_dir / "promptfoo"
    hang.write_text("#!/bin/sh\nsleep 600 &\nsleep 600\n")
    hang.chmod(0o755)
    config = _plain_config(tmp_path)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PROMPTGOV_PROMPTFOO_TIMEOUT_S": "1"}
    started = time.monotonic()
    proc = run_proc("eval", "-c", config, "--engine", "promptfoo", env=env, timeout=120)
    assert proc.returncode == 1 and "promptfoo did not finish" in proc.stderr
    assert time.monotonic() - started < 100


def _plain_config(tmp_path: Path) -> Path:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: ['Say {{ word }}']\nproviders: [echo]\n"
        "tests: [{vars: {word: hi}, assert: [{type: contains, value: hi}]}]\n"
    )
    return config
