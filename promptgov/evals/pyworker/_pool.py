"""A pool of Python worker processes: one call at a time each, a deadline on every call.

The pool is driven by threads, not by an event loop: each worker has a reader thread that
settles its call's future, so one pool serves successive ``asyncio.run`` loops and blocking
callers alike, and a worker keeps its imported modules between calls. A call past its
deadline, or whose caller is cancelled, has its worker killed with the worker's whole process
group (anything the user code started included); a queued call then gets a fresh worker.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import os
import subprocess
import sys
import threading
import weakref
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._procgroup import kill_group
from ..errors import PythonTimeout, PythonWorkerError

__all__ = ["DEFAULT_MAX_WORKERS", "DEFAULT_TIMEOUT_S", "PythonWorkers", "Reply"]

#: promptfoo's ``REQUEST_TIMEOUT_MS`` default (300,000 ms), its python worker's time limit.
DEFAULT_TIMEOUT_S = 300.0
#: promptfoo's default ``maxConcurrency``: as many calls at once as a run makes by default.
DEFAULT_MAX_WORKERS = 4

_PROGRAM = str(Path(__file__).with_name("_main.py"))
_POSIX = os.name == "posix"


@dataclass(frozen=True)
class Reply:
    """A worker's answer: the returned value as JSON text, or where and how the code failed."""

    ok: bool
    #: The function's return value, JSON-encoded in the worker (``ok`` only).
    value: str = "null"
    #: What failed: ``read`` (the file), ``import``, ``lookup`` (the function), ``call``, ``encode``.
    stage: str = ""
    error_type: str = ""
    message: str = ""
    #: The OS's words for a ``read`` failure ("No such file or directory").
    strerror: str = ""

    @property
    def error(self) -> str:
        """``Type: message``, as a traceback's last line shows it."""
        return f"{self.error_type}: {self.message}"


class _Call:
    """One request: its line, its future, and the worker running it (None while queued)."""

    __slots__ = ("future", "line", "what", "worker")

    def __init__(self, line: bytes, what: str) -> None:
        self.line = line
        self.what = what
        self.future: Future[Reply] = Future()
        self.worker: _Worker | None = None


def _settle(future: Future[Reply], reply: Reply | None, error: BaseException | None) -> None:
    """Resolve ``future`` unless its caller already gave up on it."""
    try:
        if error is not None:
            future.set_exception(error)
        elif reply is not None:
            future.set_result(reply)
    except InvalidStateError:
        pass


class _Worker:
    """One running worker process, the call it runs, and its reader thread."""

    def __init__(self, pool: PythonWorkers) -> None:
        self.pool = pool
        try:
            self.proc = subprocess.Popen(
                [sys.executable, _PROGRAM, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=_POSIX,
            )
        except OSError as exc:
            raise PythonWorkerError(
                f"cannot start a Python worker ({sys.executable}): {exc.strerror or exc}"
            ) from None
        self.call: _Call | None = None
        self._guard = threading.Lock()
        self._exited = False
        self.reader = threading.Thread(
            target=self._read, name=f"promptgov-python-worker-{self.proc.pid}", daemon=True
        )
        self.reader.start()

    def send(self, call: _Call) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(call.line)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.kill()  # it is gone: the reader reports the call as failed

    def kill(self) -> None:
        """Kill the worker and its process group (a no-op once it has exited and been reaped)."""
        with self._guard:
            if not self._exited:
                kill_group(self.proc)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self.pool._answered(self, message)
        self.kill()  # whatever the user code left in the group goes with it
        with self._guard:
            self._exited = True
        self.proc.wait()
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.proc.stdout.close()
        self.pool._gone(self)


def _reply(message: Mapping[str, Any]) -> Reply:
    if message.get("ok"):
        return Reply(ok=True, value=str(message.get("value", "null")))
    return Reply(
        ok=False,
        stage=str(message.get("stage", "")),
        error_type=str(message.get("type", "")),
        message=str(message.get("message", "")),
        strerror=str(message.get("strerror", "")),
    )


def _timeout(what: str, limit: float) -> PythonTimeout:
    return PythonTimeout(
        f"Python worker timed out after {round(limit * 1000)}ms: {what} did not return, "
        "and its worker was stopped."
    )


class PythonWorkers:
    """A pool of at most ``max_workers`` Python worker processes, started on demand.

    Calls beyond that wait for a free worker; the wait counts against the call's deadline.
    :meth:`close` kills every worker (the pool can be used again afterwards); workers are
    also killed at interpreter exit and exit by themselves when promptgov dies.
    """

    def __init__(
        self, *, max_workers: int = DEFAULT_MAX_WORKERS, timeout_s: float | None = None
    ) -> None:
        self.max_workers = max(1, max_workers)
        #: The deadline of a call that names none (None: :data:`DEFAULT_TIMEOUT_S`).
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._queue: deque[_Call] = deque()
        self._ids = itertools.count(1)
        _pools.add(self)

    # ---- calling

    async def call(
        self, request: Mapping[str, Any], *, what: str, timeout_s: float | None = None
    ) -> Reply:
        """Run one request in a worker and wait for its reply, at most ``timeout_s`` seconds.

        ``request`` holds ``path`` (a script file) or ``source`` (inline code), ``function``
        (a dotted name), ``args`` (JSON values) and ``encode`` (``plain`` or ``strict``);
        ``what`` names the code in messages; ``timeout_s`` None means the pool's own limit.
        A cancelled caller's worker is killed too.

        Raises:
            PythonTimeout: no reply in time; the worker was killed (the next call starts one).
            PythonWorkerError: the worker could not start or died during the call.
        """
        limit = self.limit(timeout_s)
        call = self._submit(request, what)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(call.future), limit)
        except TimeoutError:
            self._abandon(call)
            raise _timeout(what, limit) from None
        except asyncio.CancelledError:
            self._abandon(call)  # the run's timeoutMs: the code may still be running
            raise

    def call_sync(
        self, request: Mapping[str, Any], *, what: str, timeout_s: float | None = None
    ) -> Reply:
        """:meth:`call` for code outside the event loop (the calling thread blocks)."""
        limit = self.limit(timeout_s)
        call = self._submit(request, what)
        try:
            return call.future.result(timeout=limit)
        except TimeoutError:
            self._abandon(call)
            raise _timeout(what, limit) from None
        except BaseException:
            self._abandon(call)
            raise

    def limit(self, timeout_s: float | None = None) -> float:
        """The deadline a call gets: ``timeout_s``, else the pool's, else 300 s."""
        for value in (timeout_s, self.timeout_s):
            if value is not None and value > 0:
                return value
        return DEFAULT_TIMEOUT_S

    def _submit(self, request: Mapping[str, Any], what: str) -> _Call:
        # Values JSON cannot carry reach the code as their str(), as on the Node side.
        payload = {**request, "id": next(self._ids)}
        call = _Call(json.dumps(payload, default=str).encode() + b"\n", what)
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            if worker is None and len(self._workers) < self.max_workers:
                worker = self._spawn()
            if worker is None:
                self._queue.append(call)
                return call
            worker.call, call.worker = call, worker
        worker.send(call)
        return call

    def _spawn(self) -> _Worker:
        worker = _Worker(self)
        self._workers.add(worker)
        return worker

    def _next(self) -> _Call | None:
        """The first queued call whose caller still waits (called with the lock held)."""
        while self._queue:
            call = self._queue.popleft()
            if not call.future.done():
                return call
        return None

    def _abandon(self, call: _Call) -> None:
        with self._lock:
            if call in self._queue:
                self._queue.remove(call)
                return
            worker = call.worker
            if worker is None or worker.call is not call:
                return  # answered meanwhile
        worker.kill()

    # ---- what the reader threads report

    def _answered(self, worker: _Worker, message: Mapping[str, Any]) -> None:
        with self._lock:
            call, worker.call = worker.call, None
            following = None
            if worker in self._workers:
                following = self._next()
                if following is not None:
                    worker.call, following.worker = following, worker
                else:
                    self._idle.append(worker)
        if call is not None:
            _settle(call.future, _reply(message), None)
        if following is not None:
            worker.send(following)

    def _gone(self, worker: _Worker) -> None:
        replacement: _Worker | None = None
        following: _Call | None = None
        failure: PythonWorkerError | None = None
        with self._lock:
            self._workers.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            call, worker.call = worker.call, None
            if len(self._workers) < self.max_workers:
                following = self._next()
                if following is not None:
                    try:
                        replacement = self._spawn()
                        replacement.call, following.worker = following, replacement
                    except PythonWorkerError as exc:
                        failure = exc
        if call is not None:
            code = worker.proc.returncode
            _settle(
                call.future,
                None,
                PythonWorkerError(
                    f"{call.what}: the Python worker running it exited unexpectedly "
                    f"(exit code {code}); a worker cannot survive os._exit() or a crash."
                ),
            )
        if following is not None and replacement is not None:
            replacement.send(following)
        elif following is not None:
            _settle(following.future, None, failure)

    # ---- lifetime

    def pids(self) -> list[int]:
        """The process ids of the running workers (for diagnostics and tests)."""
        with self._lock:
            return sorted(w.proc.pid for w in self._workers)

    def close(self) -> None:
        """Kill every worker and fail the calls still queued; the pool stays usable."""
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            queued = list(self._queue)
            self._queue.clear()
        for call in queued:
            _settle(call.future, None, PythonWorkerError(f"{call.what}: the eval ended first"))
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.reader.join(timeout=5)


_pools: weakref.WeakSet[PythonWorkers] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_pools):
        pool.close()
