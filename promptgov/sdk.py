"""The application-side client: the prompt an environment serves, fast and resilient.

An application calls :meth:`PromptClient.get` on every request. It answers from memory
for ``ttl`` seconds, then re-reads the governed repository. When that read fails (a
repository mid-checkout, a tampered object, a missing mount) it keeps serving what it
had — from memory, else from an on-disk last-good cache whose hashes are re-checked —
and, as a last resort, an explicit fallback the application supplied. Every answer
says which version and hash it is and where it came from, so logs can link an output
to the exact prompt that produced it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import NotFound, PromptGovError
from .model import ModelSpec, PromptContent, Variable
from .registry import Registry
from .render import render, template_variables
from .store.files import atomic_write, read_bytes

Source = Literal["live", "stale", "disk", "fallback"]
DEFAULT_TTL = 30.0
DEFAULT_ENV = "prod"


@dataclass(frozen=True)
class ServedPrompt:
    """One answer of :meth:`PromptClient.get`: content plus where it came from."""

    name: str
    env: str
    version: str
    sha256: str
    content: PromptContent
    #: ``live`` (read from the repository now or within the TTL), ``stale`` (the last
    #: live answer, kept because a re-read failed), ``disk`` (the on-disk last-good
    #: cache), ``fallback`` (the application's own default).
    source: Source
    error: str | None = None

    def render(self, **variables: Any) -> str | list[dict[str, str]]:
        """Render with strict variables (a missing one is an error, never a blank)."""
        return render(self.content, variables, f"{self.name}@{self.version}")


@dataclass
class _Entry:
    served: ServedPrompt
    fetched_at: float


class PromptClient:
    """Serve the prompts a governed repository assigns to an environment.

    ``repo`` defaults to ``$PROMPTGOV_REPO`` (read from ``environ``, injectable for
    tests); ``cache_dir`` (default ``$PROMPTGOV_CACHE_DIR`` or ``~/.cache/promptgov/sdk``)
    holds the last-good copies; ``fallback`` maps a prompt name to a template string
    (or a :class:`PromptContent`) used when nothing else can be served.
    """

    def __init__(
        self,
        repo: Path | str | None = None,
        *,
        env: str = DEFAULT_ENV,
        ttl: float = DEFAULT_TTL,
        cache_dir: Path | str | None = None,
        fallback: Mapping[str, str | PromptContent] | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        environ = os.environ if environ is None else environ
        root = repo if repo is not None else environ.get("PROMPTGOV_REPO")
        self.repo = Path(root) if root is not None else None
        self.env = env
        self.ttl = ttl
        default_cache = Path(environ.get("PROMPTGOV_CACHE_DIR") or Path.home() / ".cache/promptgov")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache / "sdk"
        self.fallback = dict(fallback or {})
        self._clock = clock
        self._memory: dict[tuple[str, str], _Entry] = {}
        self._registry: Registry | None = None

    def get(self, name: str, env: str | None = None) -> ServedPrompt:
        """The prompt ``env`` serves for ``name``.

        Raises:
            PromptGovError: nothing can be served — the repository cannot be read, there
                is no cached copy and no fallback for ``name``.
        """
        env = env or self.env
        key = (name, env)
        entry = self._memory.get(key)
        now = self._clock()
        if entry is not None and now - entry.fetched_at < self.ttl:
            return entry.served
        try:
            served = self._fetch(name, env)
        except PromptGovError as exc:
            return self._degraded(name, env, entry, exc)
        last = entry.served if entry is not None else None
        if last is None or (last.version, last.sha256, last.source) != (
            served.version,
            served.sha256,
            "live",
        ):
            self._store(served)  # only when it changed: the disk copy costs an fsync
        self._memory[key] = _Entry(served, now)
        return served

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached answers (of ``name``, or all): the next ``get`` reads the repository."""
        for key in [k for k in self._memory if name is None or k[0] == name]:
            del self._memory[key]

    # ------------------------------------------------------------------ sources

    def _fetch(self, name: str, env: str) -> ServedPrompt:
        if self._registry is None:
            self._registry = Registry(self.repo)
        v = self._registry.get(name, env=env)
        return ServedPrompt(name, env, v.version, v.sha256, v.content, "live")

    def _degraded(
        self, name: str, env: str, entry: _Entry | None, exc: PromptGovError
    ) -> ServedPrompt:
        error = exc.message
        self._registry = None  # re-open next time: the repository may have been replaced
        if entry is not None:
            return _replace_source(entry.served, "stale", error)
        disk = self._load(name, env)
        if disk is not None:
            return _replace_source(disk, "disk", error)
        template = self.fallback.get(name)
        if template is not None:
            content = template if isinstance(template, PromptContent) else _fallback(name, template)
            return ServedPrompt(name, env, "fallback", content.sha256, content, "fallback", error)
        raise NotFound(
            f"cannot serve {name}@{env}: {error} No cached copy and no fallback; pass "
            f"fallback={{{name!r}: '…'}} to PromptClient to keep serving.",
            prompt=name,
            env=env,
        ) from exc

    def _path(self, name: str, env: str) -> Path:
        return self.cache_dir / f"{name}@{env}.json"

    def _store(self, served: ServedPrompt) -> None:
        data = {
            "name": served.name,
            "env": served.env,
            "version": served.version,
            "sha256": served.sha256,
            "content": served.content.model_dump(mode="json", exclude_none=True),
        }
        try:
            atomic_write(self._path(served.name, served.env), json.dumps(data).encode())
        except PromptGovError:
            pass  # the disk copy is a safety net; serving goes on without it

    def _load(self, name: str, env: str) -> ServedPrompt | None:
        try:
            raw = read_bytes(self._path(name, env))
            if raw is None:
                return None
            data = json.loads(raw)
            content = PromptContent.model_validate(data["content"])
        except (PromptGovError, ValueError, KeyError, TypeError):
            return None
        if content.sha256 != data.get("sha256"):
            return None  # an altered cache file is never served
        return ServedPrompt(name, env, str(data["version"]), content.sha256, content, "disk")


def _fallback(name: str, template: str) -> PromptContent:
    """A fallback template as content, declaring the variables it uses."""
    bare = PromptContent(template=template, model=ModelSpec(provider="fallback"))
    used = template_variables(bare, f"fallback template of {name}")
    return PromptContent(
        template=template,
        model=bare.model,
        variables=[Variable(name=v) for v in sorted(used)],
    )


def _replace_source(served: ServedPrompt, source: Source, error: str) -> ServedPrompt:
    return ServedPrompt(
        served.name, served.env, served.version, served.sha256, served.content, source, error
    )


__all__ = ["PromptClient", "ServedPrompt"]
