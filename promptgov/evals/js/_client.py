"""The Python side of the Node.js worker: one process, started on first use, every call with a deadline.

Node runs user code on one thread, so a single runaway call (``while (true) {}``) stalls every
other call queued behind it and cannot be interrupted from inside. The only cure is to kill
the process; this client does that when a call passes its deadline, fails that call with
:class:`JavascriptTimeout`, and re-sends the other calls that were in flight to a fresh
worker (each gets one such retry).

The client is driven by a reader thread, not by an event loop, like the Python worker pool:
one worker serves the config loader (test generators, prompt functions checked while a config
loads), successive ``asyncio.run`` loops and blocking callers (Nunjucks filters called while a
template renders) alike, so a run starts Node at most once. The process is killed with its
process group at interpreter exit, and exits by itself when its stdin closes, so no Node
process outlives promptgov.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._procgroup import POSIX, kill_group
from ..errors import JavascriptError, JavascriptTimeout, JavascriptUnavailable
from ._jsvalue import json_stringify
from ._worker_source import WORKER_JS

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Reply",
    "close_worker",
    "find_node",
    "prestart",
    "request",
    "request_sync",
    "resolve_paths",
    "worker_pid",
]

#: promptfoo's ``REQUEST_TIMEOUT_MS`` default (300,000 ms), the longest it lets any one call
#: run; a run's ``timeoutMs`` (``evaluateOptions`` or ``--timeout``) replaces it.
DEFAULT_TIMEOUT_S = 300.0

#: The source checkout promptgov runs from, whose ``node_modules`` ``make`` fills.
_CHECKOUT = Path(__file__).resolve().parents[3]


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
    """One running ``node``, the calls awaiting its answers, and the thread that reads them."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pending: dict[int, Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)
        self.killed_by_timeout = False
        self._guard = threading.Lock()
        self._writing = threading.Lock()
        self._exited = False
        self.reader = threading.Thread(
            target=self._read, name=f"promptgov-node-worker-{proc.pid}", daemon=True
        )
        self.reader.start()

    @property
    def alive(self) -> bool:
        return not self._exited and self.proc.poll() is None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._guard:
                future = self.pending.pop(message.get("id"), None)
            if future is not None:
                _settle(future, message, None)
        self.kill(by_timeout=False)  # whatever the user code left in the group goes with it
        with self._guard:
            self._exited = True
            orphans = list(self.pending.values())
            self.pending.clear()
        self.proc.wait()
        for future in orphans:
            _settle(future, None, _WorkerGone(self.killed_by_timeout))
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def submit(self, payload: Mapping[str, Any]) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        with self._guard:
            if self._exited:
                raise _WorkerGone(self.killed_by_timeout)
            ident = next(self.ids)
            self.pending[ident] = future
        line = (json_stringify({**payload, "id": ident}) + "\n").encode()
        assert self.proc.stdin is not None
        # A separate lock: a write blocked on a hung worker's full pipe must not stop kill().
        with self._writing:
            try:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
            except (OSError, ValueError):
                with self._guard:
                    self.pending.pop(ident, None)
                raise _WorkerGone(self.killed_by_timeout) from None
        return future

    def kill(self, *, by_timeout: bool) -> None:
        """Kill the worker and its process group (a no-op once it has exited)."""
        with self._guard:
            self.killed_by_timeout = self.killed_by_timeout or by_timeout
            if not self._exited:
                kill_group(self.proc)

    def close(self, wait_s: float = 2.0) -> None:
        """Close stdin (the worker exits by itself), killing it if it does not in ``wait_s``."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.reader.join(wait_s)
        if self.reader.is_alive():
            self.kill(by_timeout=False)
            self.reader.join()


def _settle(
    future: Future[dict[str, Any]], message: dict[str, Any] | None, error: BaseException | None
) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        elif message is not None:
            future.set_result(message)
    except InvalidStateError:
        pass


_current: _Process | None = None
_lock = threading.Lock()


def find_node(environ: Mapping[str, str] | None = None) -> str | None:
    """The Node.js executable on PATH (``PROMPTGOV_NODE`` overrides), or None."""
    env = os.environ if environ is None else environ
    override = env.get("PROMPTGOV_NODE")
    if override:
        return override
    return shutil.which("node", path=env.get("PATH"))


def resolve_paths(environ: Mapping[str, str] | None = None) -> list[str]:
    """Where the worker looks for the npm packages it needs itself (``esbuild`` for TypeScript).

    After the TypeScript file's own folder and its parents (as Node resolves), in order:
    ``PROMPTGOV_NODE_MODULES`` (folders separated like PATH), the current directory, and the
    promptgov checkout, whose ``node_modules`` ``make test`` and ``make demo`` install.
    """
    env = os.environ if environ is None else environ
    extra = [p for p in env.get("PROMPTGOV_NODE_MODULES", "").split(os.pathsep) if p]
    return [*extra, os.getcwd(), str(_CHECKOUT)]


def _process(purpose: str) -> _Process:
    """The worker, started (or restarted) on demand."""
    global _current
    with _lock:
        if _current is None or not _current.alive:
            _current = _Process(_spawn(purpose))
        return _current


def prestart() -> None:
    """Start the worker now without waiting for it, so Node boots while Python reads on.

    The config loader calls this when a config names JavaScript; a missing Node is left for
    the first real call to report.
    """
    try:
        _process("JavaScript")
    except JavascriptUnavailable:
        pass


def _spawn(purpose: str) -> subprocess.Popen[bytes]:
    node = find_node()
    if node is None:
        raise JavascriptUnavailable(
            f"{purpose} need Node.js, and no 'node' was found on PATH. Install Node.js 18+ "
            "(or set PROMPTGOV_NODE), or write the check in Python."
        )
    env = {**os.environ, "PROMPTGOV_RESOLVE_PATHS": json.dumps(resolve_paths())}
    try:
        proc = subprocess.Popen(
            [node, "-e", WORKER_JS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=POSIX,
        )
    except OSError as exc:
        raise JavascriptUnavailable(
            f"{purpose} need Node.js, and {node!r} could not be started "
            f"({exc.strerror or exc}). Install Node.js 18+ or fix PROMPTGOV_NODE."
        ) from None
    return proc


@atexit.register
def _kill_at_exit() -> None:
    if _current is not None:
        _current.kill(by_timeout=False)


def _limit(timeout_s: float | None) -> float:
    return DEFAULT_TIMEOUT_S if timeout_s is None or timeout_s <= 0 else timeout_s


def _timeout(purpose: str, limit: float) -> JavascriptTimeout:
    return JavascriptTimeout(
        f"{purpose}: the JavaScript code did not finish within {limit:g}s (an endless "
        "loop, or a promise that never settles); the Node.js worker was restarted."
    )


def _reply(message: Mapping[str, Any]) -> Reply:
    return Reply(
        ok=bool(message.get("ok")),
        value=message.get("result"),
        undefined=bool(message.get("undef")),
        error=str(message.get("error", "")),
        stack=str(message.get("stack", "")),
    )


async def request(
    payload: Mapping[str, Any], *, purpose: str, timeout_s: float | None = None
) -> Reply:
    """Send one request to the worker and wait for its answer, at most ``timeout_s`` seconds.

    A cancelled caller (the eval's own ``timeoutMs``) has the worker killed, since Node may
    still be running its code.

    Raises:
        JavascriptUnavailable: Node.js is missing or cannot start.
        JavascriptTimeout: no answer in time; the worker was killed (the next call restarts it).
        JavascriptError: the worker died by itself (the user code called ``process.exit``…).
    """
    limit = _limit(timeout_s)
    for attempt in (1, 2):
        worker = _process(purpose)
        future: Future[dict[str, Any]] | None = None
        try:
            future = worker.submit(payload)
            message = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), limit)
        except TimeoutError:
            worker.kill(by_timeout=True)
            raise _timeout(purpose, limit) from None
        except _WorkerGone as gone:
            if gone.by_timeout and attempt == 1:
                continue  # another call's timeout killed the worker under us: run again
            raise JavascriptError(f"{purpose}: the Node.js worker exited unexpectedly") from None
        except asyncio.CancelledError:
            if future is None or not future.done():
                worker.kill(by_timeout=True)
            raise
        return _reply(message)
    raise AssertionError("unreachable: the second attempt returns or raises")


def request_sync(
    payload: Mapping[str, Any], *, purpose: str, timeout_s: float | None = None
) -> Reply:
    """:func:`request` for code outside the event loop (config loading, template filters).

    The calling thread blocks; the raises are :func:`request`'s.
    """
    limit = _limit(timeout_s)
    for attempt in (1, 2):
        worker = _process(purpose)
        try:
            message = worker.submit(payload).result(timeout=limit)
        except TimeoutError:
            worker.kill(by_timeout=True)
            raise _timeout(purpose, limit) from None
        except _WorkerGone as gone:
            if gone.by_timeout and attempt == 1:
                continue
            raise JavascriptError(f"{purpose}: the Node.js worker exited unexpectedly") from None
        return _reply(message)
    raise AssertionError("unreachable: the second attempt returns or raises")


async def worker_pid() -> int | None:
    """The pid of the running worker, if one is running (for tests and diagnostics)."""
    current = _current
    if current is not None and current.alive:
        return current.proc.pid
    return None


async def close_worker() -> None:
    """Stop the worker, if one was started (the runner calls this when a run ends)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        await asyncio.to_thread(current.close)
