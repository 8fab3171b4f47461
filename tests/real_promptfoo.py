"""Real promptfoo, for the tests that check files written for it.

``make test`` installs promptfoo and the Node 22 it needs from ``package.json`` into
``node_modules`` (``npm ci``). A test that asks for the ``promptfoo`` fixture fails, never
skips, when they are missing: a file written for promptfoo is only known to work once
promptfoo has run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
#: promptfoo 0.123's ``engines`` field.
MIN_NODE = (22, 22)
QUIET = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "PROMPTFOO_DISABLE_SHARING": "1",
    "PROMPTFOO_CACHE_ENABLED": "false",
    "CI": "1",
}


@dataclass(frozen=True)
class Promptfoo:
    """Runs ``promptfoo eval`` with the Node beside it."""

    env: dict[str, str]

    def eval(self, config: Path, *, timeout: float = 300) -> dict[str, Any]:
        """promptfoo's v3 output of ``config`` (run in its directory); fails on its errors."""
        with tempfile.TemporaryDirectory(prefix="promptfoo-out-") as tmp:
            out = Path(tmp) / "out.json"
            done = subprocess.run(
                [
                    "promptfoo",
                    "eval",
                    "-c",
                    config.name,
                    "-o",
                    str(out),
                    "--no-cache",
                    "--no-table",
                ],
                cwd=config.parent,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            # 100 is promptfoo's exit code for failed tests; anything else is an error.
            assert done.returncode in (0, 100) and out.is_file(), done.stdout + done.stderr
            data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
            return data


@pytest.fixture(scope="session")
def promptfoo() -> Promptfoo:
    """promptfoo from ``node_modules`` (``make test`` installs it); fails when it is missing."""
    env = {**os.environ, **QUIET, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    if not (BIN / "promptfoo").exists():
        pytest.fail(f"real promptfoo is not installed in {BIN}; run 'make node_modules/.installed'")
    node = subprocess.run(
        ["node", "--version"], env=env, capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    major, minor = (int(x) for x in node.lstrip("v").split(".")[:2])
    if (major, minor) < MIN_NODE:
        pytest.fail(
            f"promptfoo needs Node >= 22.22, found {node}; run 'make node_modules/.installed'"
        )
    return Promptfoo(env)
