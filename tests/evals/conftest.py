"""Fixtures for engine tests that run real processes: the CLI under a deadline, and /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class EvalRun:
    """One finished ``promptgov eval`` process: its exit code, output and result rows."""

    returncode: int
    stdout: str
    stderr: str
    rows: list[dict[str, Any]]

    def row(self, test_idx: int) -> dict[str, Any]:
        (found,) = [r for r in self.rows if r["testIdx"] == test_idx]
        return found


class Procs:
    """Run the CLI as a real process with a time bound; check processes are gone."""

    def eval(
        self, cwd: Path, config: str = "c.yaml", *, env: dict[str, str] | None = None
    ) -> EvalRun:
        """``promptgov eval -c config -o out.json`` in ``cwd``; fails the test past 60 s.

        A hang (the bug these tests exist for) is a failure with the process killed, not a
        suite that never ends. The bound is loose because CI machines are shared: that the
        limit under test is what ended a call is shown by the row's message, not by wall time.
        """
        try:
            done = subprocess.run(
                [sys.executable, "-m", "promptgov", "eval", "-c", config, "-o", "out.json"],
                cwd=cwd,
                env={**os.environ, "PROMPTFOO_CACHE_ENABLED": "false", **(env or {})},
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            pytest.fail("promptgov eval did not exit within 60 s")
        out = cwd / "out.json"
        rows = json.loads(out.read_text())["results"]["results"] if out.exists() else []
        return EvalRun(done.returncode, done.stdout, done.stderr, rows)

    def recorded(self, path: Path) -> list[int]:
        """The pids a test script wrote to ``path``, one a line."""
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def survivors(self, pids: list[int], within: float = 3.0) -> list[int]:
        """The pids still alive after waiting up to ``within`` seconds for them to go."""
        deadline = time.monotonic() + within
        while True:
            alive = [pid for pid in pids if _alive(pid)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.05)

    def worker_children(self) -> set[int]:
        """Live child processes of this process that are Python workers of the engine."""
        me = str(os.getpid())
        found = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[1] == me and fields[0] != "Z" and b"pyworker/_main.py" in cmdline:
                found.add(int(entry.name))
        return found


@pytest.fixture
def procs() -> Procs:
    return Procs()
