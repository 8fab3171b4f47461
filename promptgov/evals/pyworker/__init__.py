"""The engine's one boundary for user Python: worker processes that can be killed.

Python run in-process cannot be interrupted: a ``call_api`` that never returns holds its
thread forever, and the interpreter waits for that thread at exit, so one hung script used to
hang the eval and keep the process from exiting. Every piece of user Python an eval runs —
python providers (``python:x.py``, ``file://x.py``), ``python`` assertions (inline and
``file://``), ``file://x.py`` assertion values, variables, prompt functions, transforms and
``transformResponse`` — therefore runs in a worker process (:mod:`._main`) of a
:class:`PythonWorkers` pool, with a deadline on every call: the run's ``timeoutMs``, else
``REQUEST_TIMEOUT_MS`` (for a python provider its ``config.timeout`` first), else promptfoo's
300 s. A call past its deadline, or cancelled by the run's ``timeoutMs``, has its worker
killed; the next call starts a fresh one.

Each python provider owns a pool (as promptfoo's provider owns its worker pool); the rest use
:func:`current`: the pool of the running eval (:func:`run_scope`, closed when the run ends,
so concurrent runs never share or kill each other's workers), or a process-wide pool outside
a run. Arguments and results cross as JSON, as they cross promptfoo's Node↔Python bridge.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar

from ._pool import DEFAULT_MAX_WORKERS, DEFAULT_TIMEOUT_S, PythonWorkers, Reply

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_TIMEOUT_S",
    "PythonWorkers",
    "Reply",
    "current",
    "run_scope",
]

_run_pool: ContextVar[PythonWorkers | None] = ContextVar("promptgov_python_workers", default=None)
_process_pool: PythonWorkers | None = None
_guard = threading.Lock()


def current() -> PythonWorkers:
    """The pool for python assertions, ``file://x.py`` values and transforms right now."""
    pool = _run_pool.get()
    if pool is not None:
        return pool
    global _process_pool
    with _guard:
        if _process_pool is None:
            _process_pool = PythonWorkers()
        return _process_pool


@contextlib.contextmanager
def run_scope(
    *, max_workers: int = DEFAULT_MAX_WORKERS, timeout_s: float | None = None
) -> Iterator[PythonWorkers]:
    """Give the code inside (and the tasks it starts) its own pool; kill its workers after.

    ``timeout_s`` is the deadline of calls that name none (prompt functions, variables).
    """
    pool = PythonWorkers(max_workers=max_workers, timeout_s=timeout_s)
    token = _run_pool.set(pool)
    try:
        yield pool
    finally:
        _run_pool.reset(token)
        pool.close()
