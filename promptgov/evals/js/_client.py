"""The Python side of the Node.js worker: one process per event loop, every call with a deadline.

Node runs user code on one thread, so a single runaway call (``while (true) {}``) stalls every
other call queued behind it and cannot be interrupted from inside. The only cure is to kill
the process; this client does that when a call passes its deadline, fails that call with
:class:`JavascriptTimeout`, and re-sends the other calls that were in flight to a fresh
worker (each gets one such retry). The process is also killed at interpreter exit, and the
worker exits by itself when its stdin closes, so no Node process outlives promptgov.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import JavascriptError, JavascriptTimeout, JavascriptUnavailable
from ._jsvalue import json_stringify
from ._worker_source import WORKER_JS

__all__ = ["DEFAULT_TIMEOUT_S", "Reply", "close_worker", "find_node", "request", "worker_pid"]

#: promptfoo's ``REQUEST_TIMEOUT_MS`` default (300,000 ms), the longest it lets any one call
#: run; a run's ``timeoutMs`` (``evaluateOptions`` or ``--timeout``) replaces it.
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Reply:
    """What the worker answered: a value, or the message and stack of what the code threw."""

    ok: bool
    value: Any = None
    #: The code returned ``undefined`` (``value`` is then None).
    undefined: bool = False
    error: str = ""
    stack: str = ""


class _WorkerGone(Exception):
    """The process ended with this call in flight; ``by_timeout`` when we killed it."""

    def __init__(self, by_timeout: bool) -> None:
        super().__init__("the Node.js worker exited unexpectedly")
        self.by_timeout = by_timeout


class _Process:
    """One running ``node`` and the calls awaiting its answers."""

    def __init__(self, proc: asyncio.subprocess.Process, loop: asyncio.AbstractEventLoop) -> None:
        self.proc = proc
        self.loop = loop
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)
        self.killed_by_timeout = False
        self.reader = loop.create_task(self._read())

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.reader.done()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                line = await self.proc.stdout.readline()
            except asyncio.CancelledError:
                # asyncio.run is ending the loop with the worker still up: stop it inside the
                # loop, so its pipes close before the loop does.
                await self._stop()
                raise
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue
            future = self.pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(_WorkerGone(self.killed_by_timeout))
        self.pending.clear()

    async def submit(self, payload: Mapping[str, Any]) -> asyncio.Future[dict[str, Any]]:
        assert self.proc.stdin is not None
        ident = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.pending[ident] = future
        self.proc.stdin.write((json_stringify({**payload, "id": ident}) + "\n").encode())
        try:
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self.pending.pop(ident, None)
            future.cancel()
            raise _WorkerGone(self.killed_by_timeout) from None
        return future

    async def _stop(self) -> None:
        assert self.proc.stdin is not None
        _kill(self.proc)
        self.proc.stdin.close()
        await self.proc.wait()

    def kill(self, *, by_timeout: bool) -> None:
        self.killed_by_timeout = self.killed_by_timeout or by_timeout
        _kill(self.proc)

    async def close(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 2)
            except TimeoutError:
                _kill(self.proc)
                await self.proc.wait()
        try:
            await self.reader
        except asyncio.CancelledError:
            pass


_current: _Process | None = None
_lock: asyncio.Lock | None = None


def find_node(environ: Mapping[str, str] | None = None) -> str | None:
    """The Node.js executable on PATH (``PROMPTGOV_NODE`` overrides), or None."""
    env = os.environ if environ is None else environ
    override = env.get("PROMPTGOV_NODE")
    if override:
        return override
    return shutil.which("node", path=env.get("PATH"))


async def _process(purpose: str) -> _Process:
    """The worker of the running loop, started (or restarted) on demand."""
    global _current, _lock
    loop = asyncio.get_running_loop()
    if _current is not None and (_current.loop is not loop or not _current.alive):
        if _current.loop is not loop:
            _kill(_current.proc)  # its loop is gone: nothing can await it any more
        _current = None
    if _lock is None or getattr(_lock, "_pg_loop", None) is not loop:
        _lock = asyncio.Lock()
        _lock._pg_loop = loop  # type: ignore[attr-defined]
    async with _lock:
        if _current is None:
            _current = _Process(await _spawn(purpose), loop)
    return _current


async def _spawn(purpose: str) -> asyncio.subprocess.Process:
    node = find_node()
    if node is None:
        raise JavascriptUnavailable(
            f"{purpose} need Node.js, and no 'node' was found on PATH. Install Node.js 18+ "
            "(or set PROMPTGOV_NODE), or write the check in Python."
        )
    try:
        proc = await asyncio.create_subprocess_exec(
            node,
            "-e",
            WORKER_JS,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise JavascriptUnavailable(
            f"{purpose} need Node.js, and {node!r} could not be started "
            f"({exc.strerror or exc}). Install Node.js 18+ or fix PROMPTGOV_NODE."
        ) from None
    atexit.register(_kill, proc)
    return proc


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass


async def request(
    payload: Mapping[str, Any], *, purpose: str, timeout_s: float | None = None
) -> Reply:
    """Send one request to the worker and wait for its answer, at most ``timeout_s`` seconds.

    Raises:
        JavascriptUnavailable: Node.js is missing or cannot start.
        JavascriptTimeout: no answer in time; the worker was killed (the next call restarts it).
        JavascriptError: the worker died by itself (the user code called ``process.exit``…).
    """
    limit = DEFAULT_TIMEOUT_S if timeout_s is None or timeout_s <= 0 else timeout_s
    for attempt in (1, 2):
        worker = await _process(purpose)
        future: asyncio.Future[dict[str, Any]] | None = None
        try:
            future = await worker.submit(payload)
            message = await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError:
            worker.kill(by_timeout=True)
            raise JavascriptTimeout(
                f"{purpose}: the JavaScript code did not finish within {limit:g}s (an endless "
                "loop, or a promise that never settles); the Node.js worker was restarted."
            ) from None
        except _WorkerGone as gone:
            if gone.by_timeout and attempt == 1:
                continue  # another call's timeout killed the worker under us: run again
            raise JavascriptError(f"{purpose}: the Node.js worker exited unexpectedly") from None
        except asyncio.CancelledError:
            # The caller gave up (the eval's own timeoutMs): Node may still be spinning on it.
            if future is None or not future.done():
                worker.kill(by_timeout=True)
            raise
        return Reply(
            ok=bool(message.get("ok")),
            value=message.get("result"),
            undefined=bool(message.get("undef")),
            error=str(message.get("error", "")),
            stack=str(message.get("stack", "")),
        )
    raise AssertionError("unreachable: the second attempt returns or raises")


async def worker_pid() -> int | None:
    """The pid of the running loop's worker, if one is running (for tests and diagnostics)."""
    loop = asyncio.get_running_loop()
    if _current is not None and _current.loop is loop and _current.alive:
        return _current.proc.pid
    return None


async def close_worker() -> None:
    """Stop the worker of the running loop, if one was started (the runner calls this at the end)."""
    global _current
    if _current is not None and _current.loop is asyncio.get_running_loop():
        await _current.close()
    _current = None
