"""The engine's one JavaScript boundary: a long-lived Node.js worker and JavaScript's semantics.

promptfoo is a Node program, so every piece of user code a config holds inline — ``javascript``
assertions, ``transform`` (test, assertion and provider), the http provider's
``transformResponse``, ``file://x.js`` exports — is JavaScript with JavaScript's rules
(``??``, ternaries, ``undefined``, truthiness). Running it on Node, rather than translating it
to Python, is the only way to get those rules exactly; running it in *one* worker per run keeps
that cheap (a Node start is ~40 ms, a call through the worker ~50 µs).

What cannot run on Node because promptfoo runs it in-process on values Python already holds
lives here too, reproducing JavaScript in Python where no library does:

* :mod:`._jsregex` — ``new RegExp(source)`` translated to Python ``re``;
* :mod:`._mathexpr` — the mathjs subset of ``derivedMetrics`` formulas;
* :mod:`._jsvalue` — ``String()``, ``Number()``, ``JSON.stringify``/``parse``, truthiness.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._client import (
    DEFAULT_TIMEOUT_S,
    Reply,
    close_worker,
    find_node,
    prestart,
    request,
    request_sync,
    worker_pid,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Reply",
    "call_file",
    "call_function",
    "call_provider",
    "close_worker",
    "describe_export",
    "find_node",
    "invoke_export",
    "invoke_export_sync",
    "js_type",
    "prestart",
    "run_assertion",
    "transform_body",
    "transform_response_body",
    "worker_pid",
]

#: promptfoo's test for a ``transformResponse`` that is a function rather than an expression,
#: widened to one-parameter arrows without parentheses (``data => …``).
_FUNCTION_EXPRESSION = re.compile(
    r"^(\(.*?\)\s*=>|[A-Za-z_$][\w$]*\s*=>|(async\s+)?function\s*\(.*?\))", re.DOTALL
)


async def run_assertion(
    code: str, output: Any, context: Mapping[str, Any], *, timeout_s: float | None = None
) -> Reply:
    """Run an inline ``javascript`` assertion body as promptfoo's ``getInlineFunction`` builds it."""
    return await request(
        {"kind": "assertion", "code": code, "output": output, "context": dict(context)},
        purpose="javascript assertions",
        timeout_s=timeout_s,
    )


async def call_function(
    params: Sequence[str],
    body: str,
    args: Sequence[Any],
    *,
    purpose: str,
    timeout_s: float | None = None,
) -> Reply:
    """``new Function(...params, body)(...args)``, awaited if it returns a promise."""
    return await request(
        {"kind": "function", "params": list(params), "body": body, "args": list(args)},
        purpose=purpose,
        timeout_s=timeout_s,
    )


async def call_file(
    path: Path,
    name: str | None,
    args: Sequence[Any],
    *,
    purpose: str,
    timeout_s: float | None = None,
) -> Reply:
    """Call export ``name`` (or the default export) of the module at ``path`` with ``args``."""
    return await request(
        {"kind": "file", "path": str(path.resolve()), "name": name, "args": list(args)},
        purpose=purpose,
        timeout_s=timeout_s,
    )


def describe_export(
    path: Path, name: str | None, *, purpose: str, timeout_s: float | None = None
) -> Reply:
    """Load the module at ``path`` and describe the export promptfoo's ``importModule`` picks.

    The value is ``{"type": "function", "source": String(fn)}`` or ``{"type": …, "value": …}``;
    the calling thread blocks (this runs while a config loads).
    """
    return request_sync(
        {"kind": "export", "path": str(path.resolve()), "name": name},
        purpose=purpose,
        timeout_s=timeout_s,
    )


def _invoke(
    path: Path, name: str | None, args: Sequence[Any], what: str, or_value: bool
) -> dict[str, Any]:
    return {
        "kind": "invoke",
        "path": str(path.resolve()),
        "name": name,
        "args": list(args),
        "what": what,
        "orValue": or_value,
    }


async def invoke_export(
    path: Path,
    name: str | None,
    args: Sequence[Any],
    *,
    purpose: str,
    what: str,
    or_value: bool = False,
    timeout_s: float | None = None,
) -> Reply:
    """Call the export promptfoo's ``importModule(path, name)`` picks with ``args``.

    An export that is not a function is returned as it is when ``or_value`` (a test
    generator file may export its tests), else it throws promptfoo's ``TypeError: <what> is
    not a function``.
    """
    return await request(
        _invoke(path, name, args, what, or_value), purpose=purpose, timeout_s=timeout_s
    )


def invoke_export_sync(
    path: Path,
    name: str | None,
    args: Sequence[Any],
    *,
    purpose: str,
    what: str,
    or_value: bool = False,
    timeout_s: float | None = None,
) -> Reply:
    """:func:`invoke_export` for code outside the event loop (the calling thread blocks)."""
    return request_sync(
        _invoke(path, name, args, what, or_value), purpose=purpose, timeout_s=timeout_s
    )


async def call_provider(
    path: Path,
    options: Mapping[str, Any],
    prompt: str,
    context: Mapping[str, Any],
    *,
    timeout_s: float | None = None,
) -> Reply:
    """``callApi(prompt, context)`` of the custom provider class at ``path``.

    The worker builds ``new Provider(options)`` once per path and options (again after a
    restart), as promptfoo builds it once per config.
    """
    return await request(
        {
            "kind": "provider",
            "path": str(path.resolve()),
            "options": dict(options),
            "prompt": prompt,
            "context": dict(context),
        },
        purpose="JavaScript providers",
        timeout_s=timeout_s,
    )


def js_type(reply: Reply) -> str:
    """JavaScript's ``typeof`` of the value a call returned, as messages name it."""
    value = reply.value
    if reply.undefined:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def transform_body(code: str) -> str:
    """promptfoo's ``transform`` function body: one line is an expression to return."""
    return code if "\n" in code else f"return {code}"


def transform_response_body(code: str) -> str:
    """promptfoo's http ``transformResponse`` body over ``json``, ``text`` and ``context``.

    A function expression is called with the three; anything else is an expression to return.
    """
    text = code.strip()
    if _FUNCTION_EXPRESSION.match(text):
        return f"return ({text})(json, text, context);"
    return f"return ({text});"
