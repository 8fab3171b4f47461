"""The rollback's eval re-run, in a child process that a deadline bounds as a whole.

A provider that never returns, a hung ``exec:`` command or a regex that never ends
would otherwise hold a rollback at its eval step for ever, with the pointer already
moved. The child runs :func:`~promptgov.actions.evaluate.run_suite` (which writes
nothing) in a session of its own; at the deadline the whole session is killed and the
step fails, so the caller can record the stall and ``--resume`` or ``--undo`` it. The
child also exits when its parent dies (its stdin closes), so a killed rollback leaves
no eval running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors
from ..errors import CheckFailed, InputError, PromptGovError

if TYPE_CHECKING:
    from ..evals import RunOptions
    from ..registry import Registry
    from .evaluate import SuiteRun

#: Seconds the whole eval re-run of a rollback may take unless the caller says otherwise.
DEFAULT_EVAL_TIMEOUT = 600.0


def run_suite_bounded(
    registry: Registry, ref: str, options: RunOptions | None, timeout: float
) -> SuiteRun:
    """Run ``ref``'s suite in a child process; kill it and raise at ``timeout`` seconds.

    Only the plain options cross the process boundary: ``options.progress`` is not called.

    Raises:
        CheckFailed: the deadline passed; the child and everything it started were killed.
        PromptGovError: the run itself failed (the child's error, same class and message).
    """
    from .evaluate import SuiteRun

    if not timeout > 0:
        raise InputError(f"the eval timeout must be a positive number of seconds, not {timeout}.")
    plain = (type(None), bool, int, float, str)
    values = (
        {f.name: getattr(options, f.name) for f in dataclass_fields(options)} if options else {}
    )
    fields = {
        k: dict(v) if isinstance(v, Mapping) else v
        for k, v in values.items()
        if isinstance(v, (*plain, Mapping))
    }
    with tempfile.TemporaryDirectory(prefix="promptgov-rerun-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "stderr.txt"
        payload = {"root": str(registry.repo.root), "ref": ref, "options": fields, "out": str(out)}
        _run_child(payload, log, timeout)
        data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        if data is None:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise InputError(
                f"the eval re-run of {ref} stopped without a result"
                + (f" ({tail[-1].strip()})" if tail else "")
                + "; fix the cause, then run 'promptgov rollback --resume'."
            )
    if "error" in data:
        cls = getattr(errors, data["error"], None)
        if not (isinstance(cls, type) and issubclass(cls, PromptGovError)):
            cls = InputError
        raise cls(data["message"])
    return SuiteRun(registry.get(ref), data["suite"], data["suite_sha256"], data["v3"], None)


def _run_child(payload: dict[str, Any], log: Path, timeout: float) -> None:
    """Start the child, hand it ``payload``, wait until it exits or the deadline passes."""
    with open(log, "wb") as err:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            raise InputError(f"cannot start the eval re-run: {exc.strerror or exc}.") from exc
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(payload).encode() + b"\n")
            proc.stdin.flush()  # stdin stays open: its end tells the child that we died
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed(
                f"the eval re-run of {payload['ref']} did not finish within {timeout:g} s "
                "and was stopped.",
                ref=payload["ref"],
            ) from None
        finally:
            if proc.poll() is None:
                _kill(proc)
            proc.stdin.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole session (providers, hooks, the Node worker), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def _child() -> None:
    """Run one suite as the parent asked, write the result file, exit."""
    payload = json.loads(sys.stdin.readline())

    def orphaned() -> None:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
    from ..evals import RunOptions
    from ..registry import Registry
    from .evaluate import run_suite

    try:
        registry = Registry(Path(payload["root"]))
        run = run_suite(registry, payload["ref"], options=RunOptions(**payload["options"]))
        result: dict[str, Any] = {
            "suite": run.suite,
            "suite_sha256": run.suite_sha256,
            "v3": run.v3,
        }
    except PromptGovError as exc:
        result = {"error": type(exc).__name__, "message": exc.message}
    out = Path(payload["out"])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, default=str), encoding="utf-8")
    os.replace(tmp, out)
    sys.stdout.flush()
    os._exit(0)  # never wait for provider threads that are still running


if __name__ == "__main__":
    _child()
