"""User Python scripts named by ``file://x.py[:fn]``: in a killable worker during a run.

:func:`call_in_worker` is what a run uses (transforms, ``transformResponse``): the script runs
in the run's :mod:`.pyworker` pool with a deadline. :func:`call` imports and calls in-process,
for what runs once while a config loads (test generators, prompt functions' checks).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from . import pyworker
from .errors import ScriptError

__all__ = [
    "ScriptError",
    "call",
    "call_in_worker",
    "call_in_worker_sync",
    "get_function",
    "load_module",
    "split_ref",
]

_modules: dict[tuple[str, int], ModuleType] = {}
_guard = threading.Lock()


def split_ref(ref: str) -> tuple[str, str | None]:
    """``path.py:fn`` → (``path.py``, ``fn``); a bare path gives (path, None)."""
    if ref.startswith("file://"):
        ref = ref[len("file://") :]
    head, sep, tail = ref.rpartition(":")
    if sep and len(head) > 1 and tail and "/" not in tail and "\\" not in tail:
        return head, tail
    return ref, None


def load_module(path: Path) -> ModuleType:
    """Import ``path`` once per modification time; its folder joins ``sys.path``."""
    resolved = path.resolve()
    try:
        stamp = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise ScriptError(f"cannot read {path}: {exc.strerror}") from exc
    key = (str(resolved), stamp)
    with _guard:
        module = _modules.get(key)
        if module is not None:
            return module
        name = "_promptgov_evals_" + hashlib.sha256(key[0].encode()).hexdigest()[:16]
        spec = importlib.util.spec_from_file_location(name, resolved)
        if spec is None or spec.loader is None:
            raise ScriptError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        folder = str(resolved.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's script failed to import: report, don't crash
            raise ScriptError(f"error importing {path}: {type(exc).__name__}: {exc}") from exc
        _modules[key] = module
        return module


def get_function(path: Path, name: str) -> Callable[..., Any]:
    """The function ``name`` defined in the script at ``path``."""
    func = getattr(load_module(path), name, None)
    if not callable(func):
        raise ScriptError(f"{path} has no function {name!r}")
    return func  # type: ignore[no-any-return]


def call(path: Path, name: str, *args: Any) -> Any:
    """Call ``name(*args)`` from the script at ``path``; its exceptions become ScriptError."""
    func = get_function(path, name)
    try:
        return func(*args)
    except Exception as exc:  # user code: any exception is the script's failure
        raise ScriptError(f"{path}:{name} raised {type(exc).__name__}: {exc}") from exc


def _request(path: Path, name: str, args: tuple[Any, ...]) -> dict[str, Any]:
    return {"path": str(path.resolve()), "function": name, "args": list(args), "encode": "plain"}


async def call_in_worker(path: Path, name: str, *args: Any, timeout_s: float | None) -> Any:
    """Call ``name(*args)`` from the script at ``path`` in the run's worker pool.

    Arguments and the result cross as JSON (sets and tuples become lists).

    Raises:
        ScriptError: the script cannot be read or imported, lacks ``name``, raised, or
            returned a value JSON cannot carry.
        PythonTimeout: no answer within ``timeout_s`` (None: 300 s); the worker was killed.
    """
    reply = await pyworker.current().call(
        _request(path, name, args), what=f"{path.name}:{name}", timeout_s=timeout_s
    )
    return _result(reply, path, name)


def call_in_worker_sync(path: Path, name: str, *args: Any, timeout_s: float | None) -> Any:
    """:func:`call_in_worker` for synchronous code (prompt rendering); the thread blocks."""
    reply = pyworker.current().call_sync(
        _request(path, name, args), what=f"{path.name}:{name}", timeout_s=timeout_s
    )
    return _result(reply, path, name)


def _result(reply: pyworker.Reply, path: Path, name: str) -> Any:
    if reply.ok:
        return json.loads(reply.value)
    if reply.stage == "read":
        raise ScriptError(f"cannot read {path}: {reply.strerror or reply.message}")
    if reply.stage == "import":
        raise ScriptError(f"error importing {path}: {reply.error}")
    if reply.stage == "lookup":
        raise ScriptError(f"{path} has no function {name!r}")
    if reply.stage == "encode":
        raise ScriptError(f"{path}:{name} returned a value JSON cannot carry: {reply.message}")
    raise ScriptError(f"{path}:{name} raised {reply.error}")
