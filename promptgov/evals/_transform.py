"""promptfoo ``transform`` hooks on outputs: ``file://x.py[:fn]`` in a Python worker, JavaScript on Node.

A transform is one of three things, as in promptfoo's ``transform.ts``: a Python file (called
in the engine's Python worker pool, as python assertions are), a ``file://x.js[:fn]`` module, or inline JavaScript
built as ``new Function('output', 'context', body)``. Both JavaScript forms run in the
engine's one Node worker (:mod:`promptgov.evals.js`), so ``??``, ternaries and ``undefined``
behave as they do in promptfoo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import _scripts, js
from .errors import JavascriptError, TransformError

__all__ = ["TransformError", "apply_transform"]

_JS_SUFFIXES = (".js", ".cjs", ".mjs")


async def apply_transform(
    code: str,
    output: Any,
    context: Mapping[str, Any],
    *,
    base_dir: Path,
    timeout_s: float | None = None,
) -> Any:
    """Apply a promptfoo ``transform`` (``options.transform``, ``transform:`` on providers).

    ``file://x.py:fn`` calls ``fn(output, context)`` (default ``get_transform``) in a Python
    worker; ``file://x.js:fn`` and inline code run on Node; each at most ``timeout_s`` seconds.

    Raises:
        TransformError: the script is missing or fails, the JavaScript threw or timed out, or
            Node is needed and missing.
        PythonTimeout: the Python script did not return in time (its worker was killed).
    """
    text = code.strip()
    try:
        if text.startswith("file://"):
            rel, function = _scripts.split_ref(text)
            path = base_dir / rel
            if path.suffix in _JS_SUFFIXES:
                reply = await js.call_file(
                    path,
                    function,
                    _plain(output, context),
                    purpose="JavaScript transforms",
                    timeout_s=timeout_s,
                )
            elif path.suffix == ".py":
                return await _scripts.call_in_worker(
                    path,
                    function or "get_transform",
                    *_plain(output, context),
                    timeout_s=timeout_s,
                )
            else:
                raise TransformError(f"transform {text}: expected a .py or .js file")
        else:
            reply = await js.call_function(
                ["output", "context"],
                js.transform_body(text),
                _plain(output, context),
                purpose="JavaScript transforms",
                timeout_s=timeout_s,
            )
    except _scripts.ScriptError as exc:
        raise TransformError(f"transform {text}: {exc}") from exc
    except JavascriptError as exc:
        raise TransformError(f"transform {text!r}: {exc}") from exc
    if not reply.ok:
        raise TransformError(f"transform {text!r} failed: {reply.error}")
    return reply.value


def _plain(output: Any, context: Mapping[str, Any]) -> list[Any]:
    """The arguments as Node receives them: JSON values (anything else becomes its ``str``)."""
    return list(json.loads(json.dumps([output, dict(context)], default=str)))
