"""Atomic file writes, the repository lock, and all-or-nothing multi-file transactions.

Every state change in a governed repository goes through :class:`Transaction`:
the new bytes of each file are staged and fsynced, then a journal naming them is
renamed into place (the commit point), then the files are replaced or appended to
and the journal removed. A process killed at any moment leaves either the old
state (no journal) or a journal that the next command rolls forward, so a pointer
is never written without its version record or its audit entry.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Base64Bytes,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from ..errors import Conflict, InputError, InvalidFile, UnsafePath

STATE_DIR = ".promptgov"
LOCK_NAME = "lock"
JOURNAL_NAME = "journal.json"
DEFAULT_LOCK_TIMEOUT = 30.0
FAULT_ENV = "PROMPTGOV_FAULT"

if TYPE_CHECKING:
    import filelock

_STAGED_RE = rf"^{re.escape(STATE_DIR)}/staging/[0-9a-f]{{32}}$"


class _WriteOp(BaseModel):
    """Replace ``path`` with the staged file ``staged``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["write"]
    path: str
    staged: Annotated[str, StringConstraints(pattern=_STAGED_RE)]


class _AppendOp(BaseModel):
    """Truncate ``path`` to ``offset`` (undoing a torn earlier try), then append ``data``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["append"]
    path: str
    offset: Annotated[int, Field(ge=0, strict=True)]
    data: Base64Bytes


class _DeleteOp(BaseModel):
    """Remove ``path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["delete"]
    path: str


_Op = Annotated[_WriteOp | _AppendOp | _DeleteOp, Field(discriminator="op")]


class _Journal(BaseModel):
    """``.promptgov/journal.json``: the commit point of one transaction."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ops: list[_Op]


_locks: dict[str, filelock.FileLock] = {}
_locks_guard = threading.Lock()
#: How many times this process reached each fault point (for ``<point>@<n>``).
_reached: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$PROMPTGOV_FAULT`` names this point, or fail
    as a full disk would if it names ``enospc:<point>``.

    ``<point>@<n>`` fires only the n-th time the process reaches the point, so a test can
    aim at the third transaction of a rollback. Crash-safety tests set the variable to
    prove that a real ``kill -9`` or a full disk at each step boundary leaves the
    repository consistent and the message truthful.
    """
    fault = os.environ.get(FAULT_ENV)
    if not fault:
        return
    count = _reached[name] = _reached.get(name, 0) + 1
    kind, _, point = fault.rpartition(":")
    target, _, nth = point.partition("@")
    if target != name or (nth and nth != str(count)):
        return
    if kind == "":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _replace_file(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename, fsync the directory; a failure leaves no temp file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory."""
    try:
        _replace_file(path, data)
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}. Check permissions and free space."
        ) from exc


def read_bytes(path: Path) -> bytes | None:
    """The bytes of ``path``, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a directory, expected a file.") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc


def load_yaml(path: Path, label: str | None = None) -> Any:
    """Read and parse a YAML file (aliases refused, see :mod:`promptgov._yaml`)."""
    from .. import _yaml

    data = read_bytes(path)
    if data is None:
        raise InvalidFile(f"{label or path} does not exist.")
    return _yaml.loads(data, label or str(path))


def safe_join(root: Path, rel: str) -> Path:
    """``root / rel``, refusing absolute paths and anything that escapes ``root``."""
    if not rel or rel.startswith(("/", "\\")) or "\x00" in rel:
        raise UnsafePath(f"unsafe path {rel!r}: use a relative path inside the repository.")
    candidate = (root / rel).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise UnsafePath(f"path {rel!r} escapes the repository {root}; use a path inside it.")
    return root / rel


def confine(root: Path, rel: str) -> Path:
    """``root / rel`` as a path promptgov may write, or :class:`UnsafePath`.

    Stricter than :func:`safe_join` because every file in a clone may be crafted
    (issue: a committed journal wrote outside the repository): ``rel`` is a plain
    relative POSIX path with no ``..``, outside ``.git``, whose directory resolves
    inside the repository after following symlinks, and which is not itself a symlink.
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        raise UnsafePath(f"unsafe path {rel!r}: use a relative path inside the repository.")
    segments = rel.split("/")
    if (
        PurePosixPath(rel).is_absolute()
        or any(seg in ("..", ".") for seg in segments)
        or ":" in segments[0]
        or segments[0].casefold() in ("", ".git")
    ):
        raise UnsafePath(
            f"unsafe path {rel!r}: promptgov writes only relative paths inside the "
            "repository, never into .git."
        )
    real_root = root.resolve()
    target = root / rel
    parent = target.parent.resolve()
    if not parent.is_relative_to(real_root) or parent.is_relative_to(real_root / ".git"):
        raise UnsafePath(
            f"path {rel!r} leads outside the repository {root} through a symlink; "
            "replace the symlink with a directory."
        )
    if target.is_symlink():
        raise UnsafePath(
            f"{rel} is a symlink; promptgov never writes through one. "
            "Replace it with a regular file."
        )
    return target


def atomic_write_in(root: Path, rel: str, data: bytes) -> None:
    """:func:`atomic_write` of ``root / rel`` after :func:`confine` has accepted ``rel``."""
    atomic_write(confine(root, rel), data)


def _state_dir(root: Path) -> Path:
    """``root/.promptgov``, refusing one that is a symlink (a clone may carry one)."""
    state = root / STATE_DIR
    if state.is_symlink() or (state.exists() and not state.is_dir()):
        raise UnsafePath(
            f"{state} is not a plain directory; a symlink there would let writes escape "
            "the repository. Remove it and retry."
        )
    return state


@contextmanager
def repo_lock(root: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the repository's write lock (re-entrant within a process).

    On entry, a journal left by a crashed writer is rolled forward first.
    """
    state = _state_dir(root)
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {state}: {exc.strerror or exc}.") from exc
    import filelock  # only writers need it

    lock_path = confine(root, f"{STATE_DIR}/{LOCK_NAME}")  # filelock truncates what it opens
    if lock_path.exists() and not lock_path.is_file():
        raise InputError(f"{lock_path} is not a regular file; remove it and retry.")
    key = str(lock_path.resolve())
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = filelock.FileLock(key, thread_local=False)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout as exc:
        raise Conflict(
            f"the repository {root} is locked by another promptgov process; "
            f"retry when it finishes (lock file {key})."
        ) from exc
    try:
        if lock.lock_counter == 1:
            recover(root)
        yield
    finally:
        lock.release()


def journal_pending(root: Path) -> bool:
    """True when a committed transaction has not been fully applied yet."""
    return (root / STATE_DIR / JOURNAL_NAME).exists()


def recover(root: Path) -> bool:
    """Roll forward a committed journal and delete stray staged files; True if it did work.

    A journal is machine-local state. One that git tracks arrived from someone else's
    commit, and one that fails validation was not written by promptgov: either is
    reported and left alone, never applied. Must be called with the repository lock held.
    """
    state = _state_dir(root)
    journal = state / JOURNAL_NAME
    did = False
    if journal.is_symlink() or journal.exists():
        ops = _load_journal(root, journal)
        try:
            _apply(root, ops)
        except OSError as exc:
            raise InputError(
                f"cannot finish the committed change journaled in {STATE_DIR}/{JOURNAL_NAME}: "
                f"{exc.strerror or exc}. It stays journaled; free space or fix permissions, "
                "then run the command again.",
                committed=True,
            ) from exc
        journal.unlink()
        _fsync_dir(state)
        did = True
    staging = state / "staging"
    if staging.is_dir() and not staging.is_symlink():
        for stray in staging.iterdir():
            if stray.is_file() and not stray.is_symlink():
                stray.unlink(missing_ok=True)
                did = True
    return did


def _load_journal(root: Path, journal: Path) -> list[_Op]:
    """The journal's operations, each path confined, or a refusal that applies nothing."""
    rel = f"{STATE_DIR}/{JOURNAL_NAME}"
    from ..gitops import is_tracked

    if is_tracked(root, rel):
        raise UnsafePath(
            f"{rel} is tracked by git, so it came from a commit, not from a crash here; it was "
            "not applied. Untrack it in git, delete the file, and commit.",
            cli_hint=f"Run 'git rm --cached {rel}', delete the file, and commit.",
        )
    if journal.is_symlink():
        raise UnsafePath(f"{rel} is a symlink; it was not applied. Delete it and retry.")
    raw = read_bytes(journal) or b""
    try:
        ops = _Journal.model_validate_json(raw).ops
        for op in ops:
            confine(root, op.path)
            if isinstance(op, _WriteOp):
                confine(root, op.staged)
    except (ValidationError, UnsafePath) as exc:
        detail = exc.message if isinstance(exc, UnsafePath) else "not a promptgov journal"
        raise InvalidFile(
            f"{rel} was not applied ({detail.rstrip('.')}). Inspect it, then delete it to "
            "discard the unfinished change."
        ) from None
    return ops


def _apply(root: Path, ops: Sequence[_Op]) -> None:
    touched: set[Path] = set()
    for i, op in enumerate(ops):
        target = confine(root, op.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(op, _WriteOp):
            staged = confine(root, op.staged)
            if staged.exists():
                os.replace(staged, target)
        elif isinstance(op, _AppendOp):
            with open(target, "ab+") as fh:
                fh.truncate(op.offset)
                fh.seek(op.offset)
                fh.write(op.data)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            target.unlink(missing_ok=True)
        touched.add(target.parent)
        fault_point(f"txn.apply.{i}")
    for parent in touched:
        _fsync_dir(parent)


class Transaction:
    """Staged writes to several files of one repository, applied all or none.

    Use inside :func:`repo_lock`. ``read`` sees the staged state, so a step can
    build on an earlier step of the same transaction.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._writes: dict[str, bytes | None] = {}
        self._appends: dict[str, bytearray] = {}
        self._order: list[str] = []

    def _touch(self, rel: str) -> None:
        confine(self.root, rel)
        if rel not in self._order:
            self._order.append(rel)

    def write(self, rel: str, data: bytes) -> None:
        """Replace file ``rel`` with ``data`` at commit."""
        self._touch(rel)
        self._appends.pop(rel, None)
        self._writes[rel] = data

    def append(self, rel: str, data: bytes) -> None:
        """Append ``data`` to file ``rel`` at commit."""
        self._touch(rel)
        if rel in self._writes:
            current = self._writes[rel] or b""
            self._writes[rel] = current + data
        else:
            self._appends.setdefault(rel, bytearray()).extend(data)

    def delete(self, rel: str) -> None:
        """Delete file ``rel`` at commit."""
        self._touch(rel)
        self._appends.pop(rel, None)
        self._writes[rel] = None

    def read(self, rel: str) -> bytes | None:
        """The file's bytes as they will be after commit."""
        if rel in self._writes:
            return self._writes[rel]
        base = read_bytes(self.root / rel)
        extra = self._appends.get(rel)
        if extra is None:
            return base
        return (base or b"") + bytes(extra)

    def staged(self, rel: str) -> bool:
        """True when ``rel`` will be replaced (or deleted) at commit."""
        return rel in self._writes

    def paths(self) -> list[str]:
        """Every path written, appended to or deleted so far, in staging order."""
        return list(self._order)

    @property
    def empty(self) -> bool:
        """True when nothing is staged."""
        return not self._order

    def commit(self) -> None:
        """Stage, journal (the commit point), apply, clean up.

        Raises:
            InputError: a write failed; its ``context["committed"]`` says whether the
                journal was written (the next command then finishes the change) or not
                (nothing changed), so an action can say which of its steps stands.
        """
        if self.empty:
            return
        state = _state_dir(self.root)
        staging = state / "staging"
        committed = False
        written: list[Path] = []
        try:
            staging.mkdir(parents=True, exist_ok=True)
            ops: list[dict[str, Any]] = []
            for rel in self._order:
                if rel in self._writes:
                    data = self._writes[rel]
                    if data is None:
                        ops.append({"op": "delete", "path": rel})
                        continue
                    staged = staging / uuid.uuid4().hex
                    written.append(staged)
                    with open(staged, "wb") as fh:
                        fh.write(data)
                        fh.flush()
                        os.fsync(fh.fileno())
                    ops.append(
                        {
                            "op": "write",
                            "path": rel,
                            "staged": staged.relative_to(self.root).as_posix(),
                        }
                    )
                else:
                    target = self.root / rel
                    offset = target.stat().st_size if target.exists() else 0
                    data_b = bytes(self._appends[rel])
                    ops.append(
                        {
                            "op": "append",
                            "path": rel,
                            "offset": offset,
                            "data": base64.b64encode(data_b).decode("ascii"),
                        }
                    )
            _fsync_dir(staging)
            fault_point("txn.before-journal")
            _replace_file(state / JOURNAL_NAME, json.dumps({"ops": ops}).encode())
            committed = True
            fault_point("txn.after-journal")
            _apply(self.root, _Journal.model_validate({"ops": ops}).ops)
            (state / JOURNAL_NAME).unlink()
            _fsync_dir(state)
        except OSError as exc:
            if committed:
                raise InputError(
                    f"the change was committed but not fully applied to {self.root}: "
                    f"{exc.strerror or exc}. It is kept in {STATE_DIR}/{JOURNAL_NAME} and the "
                    "next promptgov command finishes it once there is space and permission.",
                    committed=True,
                ) from exc
            for path in written:  # before the commit point: leave no trace
                _discard(path)
            raise InputError(
                f"cannot write to {self.root}: {exc.strerror or exc}. Nothing was changed; "
                "check permissions and free space.",
                committed=False,
            ) from exc
        finally:
            self._writes.clear()
            self._appends.clear()
            self._order.clear()
