"""The application-side client: the prompt an environment serves, fast and resilient.

An application calls :meth:`PromptClient.get` on every request. It answers from memory
for ``ttl`` seconds, then re-reads the governed repository. When that read fails (a
repository mid-checkout, a tampered object, a missing mount) it keeps serving what it
had — from memory, else from an on-disk last-good copy — and, as a last resort, an
explicit fallback the application supplied. Every answer says which version and hash it
is, where it came from and whether the registry vouched for it, so logs can link an
output to the exact prompt that produced it.

A disk copy proves nothing by itself: whoever can write the file can write a matching
hash. So each copy records the registry it came from and the hash that registry records
for the version; every live read checks the copy against the registry and replaces (and
reports, on the ``promptgov.sdk`` logger) one the registry does not vouch for; a copy
served while the registry cannot be read says ``verified=False``; and only a private
file of this user, in a private directory, is ever read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import CheckFailed, NotFound, PromptGovError
from .model import ENV_RE, ModelSpec, PromptContent, Variable, check_name
from .registry import Registry
from .render import render, template_variables
from .repo import find_root

Source = Literal["live", "cached", "stale", "disk", "fallback"]
DEFAULT_TTL = 30.0
DEFAULT_ENV = "prod"
#: The disk copy format this client writes; a file of any other format is never served.
DISK_COPY_FORMAT: Final = 2
#: Where discarded and refused disk copies are reported.
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedPrompt:
    """One answer of :meth:`PromptClient.get`: content plus where it came from."""

    name: str
    env: str
    version: str
    sha256: str
    content: PromptContent
    #: ``live`` (read from the repository now or within the TTL; over HTTP: fetched from
    #: the server by this call), ``cached`` (over HTTP: from memory, revalidated within the
    #: TTL), ``stale`` (the last live answer, kept because a re-read failed), ``disk`` (the
    #: on-disk last-good copy), ``fallback`` (the application's own default).
    source: Source
    error: str | None = None
    #: True when the registry's record of this version has this content hash: checked by
    #: this read (``live``, and ``disk`` when the registry file could still be read) or by
    #: the live read that produced it (``stale``). False for a disk copy served while the
    #: registry cannot be read (nothing offline tells a genuine copy from a well-made
    #: forgery) and for a fallback.
    verified: bool = False

    def render(self, **variables: Any) -> str | list[dict[str, str]]:
        """Render with strict variables (a missing one is an error, never a blank)."""
        return render(self.content, variables, f"{self.name}@{self.version}")


class _DiskCopy(BaseModel):
    """One on-disk last-good copy: a live answer and the registry that vouched for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: Literal[2]
    registry: str = Field(description="The repository read, as the client names it.")
    project: str = Field(description="The project named in that repository's promptgov.yml.")
    name: str
    env: str
    version: str
    sha256: str = Field(description="The hash the registry records for this version.")
    content: PromptContent


class _Refused(Exception):
    """A disk copy (or the cache directory) that must not be served from, and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Kept:
    """A live answer as its disk copy: the file, its exact bytes, and what they record."""

    path: Path
    data: bytes
    copy: _DiskCopy


@dataclass
class _Entry:
    served: ServedPrompt
    fetched_at: float
    kept: _Kept | None


class PromptClient:
    """Serve the prompts a governed repository assigns to an environment.

    ``repo`` defaults to ``$PROMPTGOV_REPO`` (read from ``environ``, injectable for
    tests); ``cache_dir`` (default ``$PROMPTGOV_CACHE_DIR`` or ``~/.cache/promptgov/sdk``)
    holds the last-good copies, created 0700 with files 0600; ``fallback`` maps a prompt
    name to a template string (or a :class:`PromptContent`) used when nothing else can be
    served. With ``require_signed`` a version is served live only when the pointer move
    that put it in place (and, for a promotion, the approvals the policy needs) carries
    valid signatures of the allowed signers; otherwise the client keeps what it had and
    says why in ``error``.
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
        require_signed: bool = False,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.require_signed = require_signed
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
        self._reported: set[str] = set()

    def get(self, name: str, env: str | None = None) -> ServedPrompt:
        """The prompt ``env`` serves for ``name``.

        Every live read also checks the disk copy against the registry and rewrites it
        when it differs from the live answer.

        Raises:
            PromptGovError: nothing can be served — the repository cannot be read, there
                is no usable disk copy and no fallback for ``name``.
        """
        env = env or self.env
        key = (name, env)
        entry = self._memory.get(key)
        now = self._clock()
        if entry is not None and now - entry.fetched_at < self.ttl:
            return entry.served
        try:
            served, reg = self._fetch(name, env)
        except PromptGovError as exc:
            return self._degraded(name, env, entry, exc)
        kept = self._kept(reg, served, entry.kept if entry is not None else None)
        if kept is not None:
            self._keep(kept)
        self._memory[key] = _Entry(served, now, kept)
        return served

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached answers (of ``name``, or all): the next ``get`` reads the repository."""
        for key in [k for k in self._memory if name is None or k[0] == name]:
            del self._memory[key]

    # ------------------------------------------------------------------ sources

    def _fetch(self, name: str, env: str) -> tuple[ServedPrompt, Registry]:
        """The live answer, and the registry it was read from."""
        if self._registry is None:
            self._registry = Registry(self.repo)
        reg = self._registry
        v = reg.get(name, env=env)
        if self.require_signed:
            from .signed_decisions import current_move_problem

            problem = current_move_problem(reg.repo, name, reg.entry(name), env)
            if problem is not None:
                raise CheckFailed(f"not switching to {name}@{v.version}: {problem}.")
        return ServedPrompt(name, env, v.version, v.sha256, v.content, "live", verified=True), reg

    def _degraded(
        self, name: str, env: str, entry: _Entry | None, exc: PromptGovError
    ) -> ServedPrompt:
        error = exc.message
        self._registry = None  # re-open next time: the repository may have been replaced
        if entry is not None:
            return replace(entry.served, source="stale", error=error)
        refused = None
        try:
            disk = self._load(name, env)
        except _Refused as no:
            disk, refused = None, no.reason
            logger.warning(
                "%s@%s: refused the disk copy in %s: %s.",
                *(name, env, self.cache_dir, refused),
                extra={"prompt": name, "env": env},
            )
            error = f"{error} The disk copy was refused: {refused}."
        if disk is not None:
            if not disk.verified:
                error += (
                    f" Serving the disk copy of {disk.version}; it could not be checked "
                    "against the registry."
                )
            return replace(disk, error=error)
        return _last_resort(
            self.fallback, name, env, error, refused is not None, exc, "PromptClient"
        )

    # ------------------------------------------------------------------ the disk copy

    def _root(self, reg: Registry | None) -> str | None:
        """The registry disk copies belong to: the repository as this client names it.

        Not resolved through symlinks, so a deploy that repoints ``current/`` keeps its
        copies; without ``repo``, the repository ``reg`` (or the working directory) is in.
        None when no repository can be named: nothing on disk is then served.
        """
        if self.repo is not None:
            return os.path.abspath(self.repo)
        try:
            return str(reg.repo.root if reg is not None else find_root())
        except PromptGovError:
            return None

    def _path(self, name: str, env: str, root: str) -> Path | None:
        """The copy's file: one per registry, prompt and environment (None for bad names)."""
        return _copy_path(self.cache_dir, name, env, root)

    def _kept(self, reg: Registry, served: ServedPrompt, last: _Kept | None) -> _Kept | None:
        """The disk copy recording ``served`` (``last`` again when nothing it records changed)."""
        root = self._root(reg) or str(reg.repo.root)  # never None with a registry
        project = reg.repo.config.project
        if last is not None and (
            last.copy.registry,
            last.copy.project,
            last.copy.version,
            last.copy.sha256,
        ) == (root, project, served.version, served.sha256):
            return last
        path = self._path(served.name, served.env, root)
        if path is None:
            return None
        return _kept_copy(path, root, project, served)

    def _keep(self, kept: _Kept) -> None:
        """Make the disk copy the live answer; report a copy the registry does not vouch for.

        Runs on every live read, so a copy altered while the application runs is replaced
        within one TTL; writes only when the bytes differ (a write costs an fsync).
        """
        _store_copy(self.cache_dir, kept, self._disagreement, self._report_once)

    def _disagreement(self, old: bytes, live: _DiskCopy) -> str | None:
        """Why the registry does not vouch for the copy ``old``; None for a genuine copy."""
        try:
            disk = _DiskCopy.model_validate_json(old)
        except ValidationError:
            return "it is not a disk copy this client wrote"
        try:
            _check_identity(disk, live.name, live.env, live.registry, live.project)
            if self._registry is not None:
                _check_record(self._registry, disk)
        except _Refused as exc:
            return exc.reason
        return None

    def _load(self, name: str, env: str) -> ServedPrompt | None:
        """The disk copy of ``name@env``, checked against whatever of the registry is readable.

        Raises:
            _Refused: the copy is unsafe to read, altered, of another registry or project,
                or the registry records another hash for its version.
        """
        root = self._root(None)
        disk = None if root is None else _read_copy(self.cache_dir, name, env, root)
        if root is None or disk is None:
            return None
        reg: Registry | None
        try:  # whatever of the repository is still readable checks the copy
            reg = Registry(self.repo)
            project: str | None = reg.repo.config.project
        except PromptGovError:
            reg, project = None, None
        _check_identity(disk, name, env, root, project)
        verified = reg is not None and _check_record(reg, disk)
        return ServedPrompt(
            name, env, disk.version, disk.sha256, disk.content, "disk", verified=verified
        )

    def _report_once(self, copy: _DiskCopy, message: str) -> None:
        """Log an operational problem once per client, not on every live read."""
        if message not in self._reported:
            self._reported.add(message)
            logger.warning(
                "%s@%s: %s.",
                copy.name,
                copy.env,
                message,
                extra={"prompt": copy.name, "env": copy.env},
            )


def _kept_copy(path: Path, registry: str, project: str, served: ServedPrompt) -> _Kept:
    """``served`` as the disk copy to keep at ``path``, with its exact bytes."""
    copy = _DiskCopy(
        format=DISK_COPY_FORMAT,
        registry=registry,
        project=project,
        name=served.name,
        env=served.env,
        version=served.version,
        sha256=served.sha256,
        content=served.content,
    )
    return _Kept(path, copy.model_dump_json(exclude_none=True).encode(), copy)


def _copy_path(cache_dir: Path, name: str, env: str, root: str) -> Path | None:
    """A copy's file: one per registry, prompt and environment (None for bad names)."""
    try:
        check_name(name)
    except ValueError:
        return None
    if not ENV_RE.match(env):
        return None
    key = hashlib.sha256(root.encode()).hexdigest()[:16]
    return cache_dir / f"{name}@{env}.{key}.json"


def _read_copy(cache_dir: Path, name: str, env: str, root: str) -> _DiskCopy | None:
    """The disk copy of ``name@env`` from registry ``root`` as stored (None if there is none).

    Raises:
        _Refused: the file is unsafe to read or is not a disk copy this client wrote.
    """
    path = _copy_path(cache_dir, name, env, root)
    if path is None or not _private_dir(cache_dir, create=False):
        return None
    raw = _read_private(path)
    if raw is None:
        return None
    try:
        return _DiskCopy.model_validate_json(raw)
    except ValidationError:
        raise _Refused("it is not a disk copy this client wrote") from None


def _store_copy(
    cache_dir: Path,
    kept: _Kept,
    disagreement: Callable[[bytes, _DiskCopy], str | None],
    report_once: Callable[[_DiskCopy, str], None],
) -> None:
    """Write ``kept`` unless the file already holds its bytes; warn when the copy it
    replaces is one the registry does not vouch for (``disagreement`` says why)."""
    path, data, copy = kept.path, kept.data, kept.copy
    try:
        _private_dir(cache_dir, create=True)
    except _Refused as exc:
        report_once(copy, f"not keeping disk copies: {exc.reason}")
        return
    problem: str | None
    try:
        old = _read_private(path)
    except _Refused as exc:
        old, problem = None, exc.reason
    else:
        if old == data:
            return
        problem = None if old is None else disagreement(old, copy)
    if problem is not None:
        logger.warning(
            "%s@%s: discarded the disk copy %s: %s; replaced it with the live answer %s.",
            *(copy.name, copy.env, path, problem, copy.version),
            extra={"prompt": copy.name, "env": copy.env},
        )
    try:
        _write_private(path, data)
    except OSError as exc:  # the copy is a safety net; serving goes on without it
        report_once(copy, f"cannot write the disk copy {path}: {exc.strerror or exc}")


def _check_identity(disk: _DiskCopy, name: str, env: str, root: str, project: str | None) -> None:
    """Refuse a copy of another registry, project, prompt or environment, or altered content."""
    if disk.registry != root:
        raise _Refused(f"it was stored for the registry at {disk.registry}, not {root}")
    if project is not None and disk.project != project:
        raise _Refused(f"it was stored for project {disk.project!r}, not {project!r}")
    if (disk.name, disk.env) != (name, env):
        raise _Refused(f"it holds {disk.name}@{disk.env}, not {name}@{env}")
    if disk.content.sha256 != disk.sha256:
        raise _Refused("its content does not match its hash")


def _check_record(reg: Registry, disk: _DiskCopy) -> bool:
    """Whether the registry vouches for ``disk``; False when it cannot say (file unreadable,
    prompt unknown).

    Raises:
        _Refused: the registry has no such version, or records another hash for it.
    """
    try:
        entry = reg.entry(disk.name)
    except PromptGovError:
        return False
    rec = next((r for r in entry.versions if r.version == disk.version), None)
    if rec is None:
        raise _Refused(f"{disk.name} has no version {disk.version!r} in the registry")
    if rec.sha256 != disk.sha256:
        raise _Refused(
            f"the registry records {disk.version} as {rec.sha256[:12]}…, "
            f"the copy claims {disk.sha256[:12]}…"
        )
    return True


def _check_private(st: os.stat_result, what: str, fix: str) -> None:
    """Refuse what another user owns or may write: only this user's own files are trusted."""
    if st.st_uid != os.geteuid():
        raise _Refused(f"{what} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise _Refused(f"{what} is writable by other users (mode {mode:03o}); {fix}")


def _private_dir(path: Path, *, create: bool) -> bool:
    """Whether the cache directory exists (made 0700 when ``create``) and is private.

    Raises:
        _Refused: it is not a directory, or another user owns or may write it.
    """
    try:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not create:
                return False
            os.makedirs(path, mode=0o700, exist_ok=True)
            st = os.stat(path)
    except OSError as exc:
        raise _Refused(f"cannot use the cache directory {path}: {exc.strerror or exc}") from exc
    what = f"the cache directory {path}"
    if not stat.S_ISDIR(st.st_mode):
        raise _Refused(f"{what} is not a directory")
    _check_private(st, what, f"run 'chmod 700 {path}'")
    return True


def _read_private(path: Path) -> bytes | None:
    """The bytes of a private regular file (not through a symlink), or None if absent.

    Raises:
        _Refused: it is a symlink or not a regular file, or another user owns or may write it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Refused(f"it is a symlink; delete {path}") from exc
        raise _Refused(f"it cannot be read: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused(f"it is not a regular file; delete {path}")
        _check_private(st, "it", f"delete {path}")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _Refused(f"it cannot be read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically by a file created 0600 (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # durability of the rename; the copy is already whole
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _last_resort(
    fallback: Mapping[str, str | PromptContent],
    name: str,
    env: str,
    error: str,
    refused: bool,
    exc: Exception,
    client: str,
) -> ServedPrompt:
    """The application's fallback for ``name``; without one, a NotFound that says how to
    pass one.

    Raises:
        NotFound: no fallback for ``name``.
    """
    template = fallback.get(name)
    if template is not None:
        content = template if isinstance(template, PromptContent) else _fallback(name, template)
        return ServedPrompt(name, env, "fallback", content.sha256, content, "fallback", error)
    missing = "There is no fallback" if refused else "No cached copy and no fallback"
    raise NotFound(
        f"cannot serve {name}@{env}: {error} {missing}; pass "
        f"fallback={{{name!r}: '…'}} to {client} to keep serving.",
        prompt=name,
        env=env,
    ) from exc


def _fallback(name: str, template: str) -> PromptContent:
    """A fallback template as content, declaring the variables it uses."""
    bare = PromptContent(template=template, model=ModelSpec(provider="fallback"))
    used = template_variables(bare, f"fallback template of {name}")
    return PromptContent(
        template=template,
        model=bare.model,
        variables=[Variable(name=v) for v in sorted(used)],
    )


__all__ = ["PromptClient", "ServedPrompt"]
