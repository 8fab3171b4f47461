"""promptfoo ``transform`` hooks on outputs: ``file://x.py[:fn]`` in-process, inline JS via Node."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _scripts

__all__ = ["TransformError", "apply_transform"]

#: Runs one inline transform the way promptfoo builds it: ``new Function('output', 'context',
#: body)`` where a one-line body is an expression to return.
_NODE_RUNNER = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const code = input.code.includes('\n') ? input.code : `return ${input.code}`;
Promise.resolve(new Function('output', 'context', code)(input.output, input.context))
  .then((value) => process.stdout.write(
    JSON.stringify({ value: value === undefined ? null : value })))
  .catch((err) => { process.stderr.write(String(err && err.message || err)); process.exit(1); });
"""


class TransformError(Exception):
    """The transform could not run or raised."""


def apply_transform(code: str, output: Any, context: Mapping[str, Any], *, base_dir: Path) -> Any:
    """Apply a promptfoo ``transform`` (``options.transform``, ``transform:`` on providers).

    ``file://x.py:fn`` calls ``fn(output, context)`` (default ``get_transform``) in-process;
    inline code is JavaScript and runs on Node, as in promptfoo.

    Raises:
        TransformError: the script is missing or fails, or inline code needs Node and none
            is on PATH.
    """
    text = code.strip()
    if text.startswith("file://"):
        rel, function = _scripts.split_ref(text)
        path = base_dir / rel
        if path.suffix != ".py":
            raise TransformError(f"transform {text}: only Python files can be run without Node")
        try:
            return _scripts.call(path, function or "get_transform", output, dict(context))
        except _scripts.ScriptError as exc:
            raise TransformError(f"transform {text}: {exc}") from exc
    node = shutil.which("node")
    if node is None:
        raise TransformError(
            f"transform {text!r} is JavaScript and needs Node on PATH; "
            "or use a file://transform.py:fn transform"
        )
    payload = json.dumps({"code": text, "output": output, "context": dict(context)}, default=str)
    done = subprocess.run(
        [node, "-e", _NODE_RUNNER], input=payload, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise TransformError(f"transform {text!r} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)["value"]
