"""The Python worker program: runs user Python for the engine, one call at a time.

Started by :mod:`._pool` as ``python <this file>``, it imports nothing of promptgov. It reads
one JSON request a line and answers one JSON line with the same ``id``, on private copies
of its stdin and stdout: the user code's ``print`` goes to stderr and its ``input()`` reads
an empty stdin, so neither can break the protocol. A request names a script file (imported
once per modification time, its folder put on ``sys.path`` as promptfoo's wrapper does) or
inline source (compiled once), a function (a dotted name) and JSON arguments; the answer is
the function's return value as JSON text, or the stage that failed with the exception's type
and message. Coroutines are run to completion. The worker exits when its stdin closes or
its parent dies, so it never outlives promptgov.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import IO, Any

#: How often the worker checks that its parent is still alive.
_PARENT_POLL_S = 0.5

_modules: dict[tuple[str, int], ModuleType] = {}
_inline: dict[str, dict[str, Any]] = {}


class _Failed(Exception):
    """A stage failed: carried back as ``stage``, ``type``, ``message`` (and ``strerror``)."""

    def __init__(self, stage: str, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.stage = stage
        self.exc = exc


def _load(path: str) -> ModuleType:
    """Import ``path`` once per modification time; its folder joins ``sys.path``."""
    try:
        resolved = os.path.realpath(path)
        stamp = os.stat(resolved).st_mtime_ns
    except OSError as exc:
        raise _Failed("read", exc) from None
    key = (resolved, stamp)
    module = _modules.get(key)
    if module is not None:
        return module
    import importlib.util  # here, not at start-up: a worker that runs inline code never needs it

    name = f"_promptgov_user_{len(_modules)}"
    try:
        spec = importlib.util.spec_from_file_location(name, resolved)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        folder = os.path.dirname(resolved)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # the user's script failed to import
        raise _Failed("import", exc) from None
    _modules[key] = module
    return module


def _namespace(source: str) -> dict[str, Any]:
    """Run inline source once per distinct text and keep its globals."""
    namespace = _inline.get(source)
    if namespace is None:
        namespace = {"__name__": "promptgov_inline"}
        try:
            exec(compile(source, "<python assertion>", "exec"), namespace)  # noqa: S102
        except (Exception, SystemExit) as exc:
            raise _Failed("call", exc) from None
        _inline[source] = namespace
    return namespace


def _function(request: dict[str, Any]) -> Callable[..., Any]:
    """The callable a request names: ``function`` (dotted) in its file or inline source."""
    parts = str(request["function"]).split(".")
    target: Any
    if request.get("source") is not None:
        namespace = _namespace(str(request["source"]))
        if parts[0] not in namespace:
            raise _Failed("lookup", NameError(f"name {parts[0]!r} is not defined"))
        target = namespace[parts[0]]
        parts = parts[1:]
    else:
        target = _load(str(request["path"]))
    for part in parts:
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise _Failed("lookup", exc) from None
    if not callable(target):
        raise _Failed("lookup", TypeError(f"'{type(target).__name__}' object is not callable"))
    return target  # type: ignore[no-any-return]


def _await(value: Any) -> Any:
    import asyncio

    async def settle() -> Any:
        return await value

    return asyncio.run(settle())


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _encode(value: Any, mode: str) -> str:
    if mode == "strict":
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    return json.dumps(value, default=_plain)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Answer one request (never raises for anything the user code does)."""
    ident = request.get("id")
    try:
        function = _function(request)
        try:
            value = function(*request.get("args", []))
            if isinstance(value, Awaitable):
                value = _await(value)
        except (Exception, SystemExit) as exc:  # user code: any exception is its failure
            raise _Failed("call", exc) from None
        try:
            text = _encode(value, str(request.get("encode", "plain")))
        except (TypeError, ValueError) as exc:
            raise _Failed("encode", exc) from None
    except _Failed as failed:
        return {
            "id": ident,
            "ok": False,
            "stage": failed.stage,
            "type": type(failed.exc).__name__,
            "message": str(failed.exc),
            "strerror": getattr(failed.exc, "strerror", None) or "",
        }
    return {"id": ident, "ok": True, "value": text}


def _watch_parent(parent: int) -> None:
    """Exit when the parent is gone (killed with -9, it cannot stop us itself)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def _private_streams() -> tuple[IO[bytes], IO[bytes]]:
    """Keep stdin/stdout for the protocol; give user code an empty stdin and stderr as stdout."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    empty = os.open(os.devnull, os.O_RDONLY)
    os.dup2(empty, 0)
    os.close(empty)
    os.dup2(2, 1)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    return requests, replies


def main() -> None:
    """Serve requests until stdin closes; ``argv[1]`` is the parent's pid."""
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]  # run by path: this folder must not shadow user imports
    # The parent's pid comes from the parent: it may have died before this line runs.
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    requests, replies = _private_streams()
    for line in requests:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        replies.write(json.dumps(handle(request)).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    main()
