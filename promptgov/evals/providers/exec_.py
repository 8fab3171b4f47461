"""The ``exec:`` provider: runs a command with the prompt, options and context as arguments."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .cache import ResponseCache, cache_key
from .interface import (
    CallContext,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderResponse,
    TokenUsage,
)
from .python import call_timeout_s, script_context, sooner

_PARTS = re.compile(r"""[^\s"']+|"([^"]*)"|'([^']*)'""")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def split_command(command: str) -> list[str]:
    """Split a command line the way promptfoo does: whitespace, with '…' and "…" quoting."""
    parts: list[str] = []
    for match in _PARTS.finditer(command):
        parts.append(match.group(1) or match.group(2) or match.group(0))
    return parts


class ExecProvider(Provider):
    """``exec:<command>``: the output is the command's trimmed stdout; it reports no cost.

    A non-zero exit, or stderr with an empty stdout, is an error (promptfoo). Results
    are cached only when the command names a file, keyed on that file's content. A command
    still running after ``config.timeout`` ms (else ``REQUEST_TIMEOUT_MS``, else 300 s, or the
    run's ``timeoutMs``) is killed with everything it started (its process group).
    """

    def __init__(
        self,
        id: str,
        config: Mapping[str, Any] | None = None,
        label: str | None = None,
        *,
        command: str,
        base_dir: Path,
        cache: ResponseCache | None = None,
        env: Mapping[str, str] | None = None,
    ):
        super().__init__(id, config, label)
        self.command = command.strip()
        self.argv = split_command(self.command)
        if not self.argv:
            raise ProviderConfigError(f"provider {id!r} names no command: write exec:<command>")
        self.base_dir = base_dir
        self.cache = cache or ResponseCache.disabled()
        self.timeout_s = call_timeout_s(self.config, env or {}, what=id)

    def _file_hashes(self) -> list[str]:
        hashes = []
        for part in self.argv:
            path = self.base_dir / part
            if path.is_file():
                hashes.append(hashlib.sha256(path.read_bytes()).hexdigest())
        return hashes

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Run the command once; stdout (ANSI codes stripped, trimmed) is the output."""
        options = {"id": self.id, "config": {**self.config, "basePath": str(self.base_dir)}}
        key = ""
        hashes = self._file_hashes() if not context.no_cache and self.cache.enabled else []
        if hashes:
            key = cache_key(self.id, self.config, prompt, files=hashes)
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        args = [*self.argv[1:], prompt, json.dumps(options), json.dumps(script_context(context))]
        stdout, stderr = await self._run(args, sooner(context.timeout_s, self.timeout_s))
        out = _ANSI.sub("", stdout.decode("utf-8", "replace")).strip()
        err = _ANSI.sub("", stderr.decode("utf-8", "replace")).strip()
        if err and not out:
            raise ProviderError(err)
        # promptfoo's exec response is only ``{output}``; the row counts it as one request.
        response = ProviderResponse(
            output=out, raw=out, token_usage=TokenUsage(num_requests=1), fields={"output": out}
        )
        if key:
            self.cache.put(key, response)
        return response

    async def _run(self, args: list[str], timeout_s: float) -> tuple[bytes, bytes]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.argv[0],
                *args,
                cwd=self.base_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=_POSIX,
            )
        except OSError as exc:
            raise ProviderError(
                f"Command failed: {self.command}: cannot start {self.argv[0]}: {exc.strerror}"
            ) from exc
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError as exc:
            await _kill(proc)
            raise ProviderError(
                f"Command timed out after {timeout_s:g}s: {self.command} (it was killed; "
                "config.timeout or REQUEST_TIMEOUT_MS sets the limit in ms)"
            ) from exc
        except asyncio.CancelledError:
            await asyncio.shield(_kill(proc))  # the run's timeoutMs: stop it, then give up
            raise
        if proc.returncode != 0:
            detail = stderr.decode("utf-8", "replace").strip()
            raise ProviderError(
                f"Command failed: {self.command} (exit {proc.returncode})"
                + (f"\n{detail}" if detail else "")
            )
        return stdout, stderr


_POSIX = os.name == "posix"


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the command and its process group, and reap it.

    The group is killed even when the command itself has exited: a child it left behind
    (``sleep 1000 &``) keeps the group, and the output pipes, alive.
    """
    try:
        if _POSIX:
            os.killpg(proc.pid, signal.SIGKILL)
        elif proc.returncode is None:  # pragma: no cover - no process groups to kill
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    await proc.wait()
