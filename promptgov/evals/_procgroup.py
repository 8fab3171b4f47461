"""Killing a worker process with everything it started: the engine's workers lead their own group."""

from __future__ import annotations

import os
import signal
import subprocess

__all__ = ["POSIX", "kill_group"]

POSIX = os.name == "posix"


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s process group (started with ``start_new_session``), or ``proc`` alone."""
    if POSIX:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:  # pragma: no cover - no process groups to kill
        proc.kill()
