"""The rollback's eval re-run, in a child process that a deadline bounds as a whole.

A provider that never returns, a hung ``exec:`` command or a regex that never ends
would otherwise hold a rollback at its eval step for ever, with the pointer already
moved. The child runs :func:`~promptgov.actions.evaluate.run_suite` (which writes
nothing) in a session of its own; at the deadline the whole session is killed and the
step fails, so the caller can record the stall and ``--resume`` or ``--undo`` it. The
child also exits when its parent dies (a pipe from the parent closes), so a killed
rollback leaves no eval running. A single-threaded caller (the CLI) forks, which costs
nothing more than running in-process; any other starts a fresh interpreter, since
forking a threaded process is unsafe. This module is the one boundary to that child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import errors
from ..errors import CheckFailed, InputError, PromptGovError

if TYPE_CHECKING:
    from ..evals import RunOptions
    from ..registry import Registry
    from .evaluate import SuiteRun

#: Seconds the whole eval re-run of a rollback may take unless the caller says otherwise.
DEFAULT_EVAL_TIMEOUT = 600.0
_POLL = 0.02


def run_suite_bounded(
    registry: Registry, ref: str, options: RunOptions | None, timeout: float
) -> SuiteRun:
    """Run ``ref``'s suite in a child process; kill it and raise at ``timeout`` seconds.

    A fresh interpreter receives only the plain options (``options.progress`` is then
    not called).

    Raises:
        CheckFailed: the deadline passed; the child and everything it started were killed.
        PromptGovError: the run itself failed (the child's error, same class and message).
    """
    from .evaluate import SuiteRun, run_suite

    if not timeout > 0:
        raise InputError(f"the eval timeout must be a positive number of seconds, not {timeout}.")
    with tempfile.TemporaryDirectory(prefix="promptgov-rerun-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "stderr.txt"
        try:
            if hasattr(os, "fork") and threading.active_count() == 1:

                def work() -> None:
                    _write(
                        out, _result(lambda: run_suite(registry, ref, options=options, fresh=True))
                    )

                pid, release = _fork(work, log)
            else:
                payload = {
                    "root": str(registry.repo.root),
                    "ref": ref,
                    "options": _plain(options),
                    "out": str(out),
                }
                pid, release = _spawn(payload, log)
            _wait(ref, timeout, pid, release)
        except OSError as exc:
            raise InputError(f"cannot run the eval re-run: {exc.strerror or exc}.") from exc
        data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        if data is None:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise InputError(
                f"the eval re-run of {ref} stopped without a result"
                + (f" ({tail[-1].strip()})" if tail else "")
                + "; fix the cause, then resume the rollback.",
                cli_hint="Run 'promptgov rollback --resume'.",
            )
    if "error" in data:
        cls = getattr(errors, data["error"], None)
        if not (isinstance(cls, type) and issubclass(cls, PromptGovError)):
            cls = InputError
        raise cls(data["message"])
    from ..declared_model import DeclaredModel

    v = registry.get(ref)
    declared = DeclaredModel.of(registry.repo.config, v.content)
    return SuiteRun(v, data["suite"], data["suite_sha256"], data["v3"], None, declared)


def _plain(options: RunOptions | None) -> dict[str, Any]:
    """The options a fresh interpreter can receive as JSON."""
    if options is None:
        return {}
    values = {f.name: getattr(options, f.name) for f in dataclass_fields(options)}
    return {
        k: dict(v) if isinstance(v, Mapping) else v
        for k, v in values.items()
        if isinstance(v, (type(None), bool, int, float, str, Mapping))
    }


def _result(run: Callable[[], Any]) -> dict[str, Any]:
    """The child's answer: the run's outputs, or the promptgov error it raised."""
    try:
        done = run()
    except PromptGovError as exc:
        return {"error": type(exc).__name__, "message": exc.message}
    return {"suite": done.suite, "suite_sha256": done.suite_sha256, "v3": done.v3}


def _write(out: Path, result: dict[str, Any]) -> None:
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, default=str), encoding="utf-8")
    os.replace(tmp, out)


# --------------------------------------------------------------------------- the two children


def _fork(work: Callable[[], None], log: Path) -> tuple[int, Callable[[], None]]:
    """Fork a child that does ``work`` in a copy of this process; its pid and its release."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(write_end)
        _child_main(work, log, read_end)
    os.close(read_end)
    return pid, lambda: os.close(write_end)


def _child_main(work: Callable[[], None], log: Path, parent_pipe: int) -> NoReturn:
    """Own session, quiet output, exit with the parent; then do ``work`` and exit."""
    code = 1
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, to in ((0, devnull), (1, devnull), (2, err)):
            os.dup2(to, fd)
        threading.Thread(target=_exit_with_parent, args=(parent_pipe,), daemon=True).start()
        work()
        code = 0
    except BaseException:  # noqa: BLE001 - the parent reads the reason from the log
        traceback.print_exc()
    finally:
        os._exit(code)  # never run the parent's exit handlers or wait for provider threads


def _exit_with_parent(fd: int) -> None:
    while os.read(fd, 1):  # b"" once the parent's end is closed: it finished or died
        pass
    os._exit(1)


def _spawn(payload: dict[str, Any], log: Path) -> tuple[int, Callable[[], None]]:
    """Start a fresh interpreter that runs :func:`_child`; its pid and its release."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    assert proc.stdin is not None
    stdin = proc.stdin
    stdin.write(json.dumps(payload).encode() + b"\n")
    stdin.flush()  # stdin stays open: its end tells the child that we died

    def release() -> None:
        stdin.close()
        proc.wait()  # already reaped by _wait: this only settles the Popen

    return proc.pid, release


def _wait(ref: str, timeout: float, pid: int, release: Callable[[], None]) -> None:
    """Wait for the child until the deadline; then kill its whole session and raise.

    What the child left running in its session is killed either way.
    """
    deadline, reaped = time.monotonic() + timeout, False
    try:
        while not reaped:
            reaped = os.waitpid(pid, os.WNOHANG)[0] != 0
            if not reaped and time.monotonic() >= deadline:
                raise CheckFailed(
                    f"the eval re-run of {ref} did not finish within {timeout:g} s and was stopped.",
                    ref=ref,
                )
            if not reaped:
                time.sleep(_POLL)
    finally:
        try:
            os.killpg(pid, signal.SIGKILL)  # its session: the child and what it started
        except OSError:
            pass  # no one left in it
        if not reaped:
            try:
                os.kill(pid, signal.SIGKILL)  # not yet in a session of its own
            except OSError:
                pass
            os.waitpid(pid, 0)
        release()


def _child() -> None:
    """The fresh interpreter's side: run one suite as the parent asked, write the result."""
    payload = json.loads(sys.stdin.readline())

    def orphaned() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
    from ..evals import RunOptions
    from ..registry import Registry
    from .evaluate import run_suite

    registry = Registry(Path(payload["root"]))
    options = RunOptions(**payload["options"])
    _write(
        Path(payload["out"]),
        _result(lambda: run_suite(registry, payload["ref"], options=options, fresh=True)),
    )
    os._exit(0)  # never wait for provider threads that are still running


if __name__ == "__main__":
    _child()
