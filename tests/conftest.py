"""Shared fixtures: real governed repositories in temp dirs, and a CLI runner."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

import promptgov
from promptgov import AddOptions, add
from promptgov.cli import main

#: Files that are derived or transient and may change on a read-only command.
VOLATILE = (".promptgov/lock", ".promptgov/cache/")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes under ``root`` (except the lock file and the derived cache)."""
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(VOLATILE) and "/.git/" not in f"/{rel}":
            out[rel] = p.read_bytes()
    return out


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, cwd: Path | None = None) -> Result:
    """Run the promptgov CLI in-process, capturing output and exit code."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    code = 0
    try:
        if cwd:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main([str(a) for a in args])
            except SystemExit as exc:
                code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    finally:
        os.chdir(old)
    return Result(code, out.getvalue(), err.getvalue())


def run_proc(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the promptgov CLI as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "promptgov", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A governed repository initialised with the example (nothing registered yet)."""
    root = tmp_path / "repo"
    promptgov.init(root, example=True)
    return root


@pytest.fixture
def registered_repo(example_repo: Path) -> Path:
    """The example with support-reply@1.0.0 registered."""
    add(promptgov.Registry(example_repo), "support-reply", AddOptions(message="first"), by="carol")
    return example_repo


@pytest.fixture
def served_repo(example_repo: Path) -> Path:
    """The example with support-reply@1.0.0 released through every environment."""
    from .flows import add_version, release

    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0")
    return example_repo
