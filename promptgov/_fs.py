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
import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Conflict, InputError, UnsafePath

STATE_DIR = ".promptgov"
LOCK_NAME = "lock"
JOURNAL_NAME = "journal.json"
DEFAULT_LOCK_TIMEOUT = 30.0
FAULT_ENV = "PROMPTGOV_FAULT"

if TYPE_CHECKING:
    import filelock

_locks: dict[str, filelock.FileLock] = {}
_locks_guard = threading.Lock()


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$PROMPTGOV_FAULT`` names this point.

    Crash-safety tests set the variable to prove that a real ``kill -9`` at each
    step boundary leaves the repository consistent.
    """
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


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


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_name(path)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
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


def safe_join(root: Path, rel: str) -> Path:
    """``root / rel``, refusing absolute paths and anything that escapes ``root``."""
    if not rel or rel.startswith(("/", "\\")) or "\x00" in rel:
        raise UnsafePath(f"unsafe path {rel!r}: use a relative path inside the repository.")
    candidate = (root / rel).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise UnsafePath(f"path {rel!r} escapes the repository {root}; use a path inside it.")
    return root / rel


@contextmanager
def repo_lock(root: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the repository's write lock (re-entrant within a process).

    On entry, a journal left by a crashed writer is rolled forward first.
    """
    state = root / STATE_DIR
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {state}: {exc.strerror or exc}.") from exc
    import filelock  # only writers need it

    key = str((state / LOCK_NAME).resolve())
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

    Must be called with the repository lock held.
    """
    state = root / STATE_DIR
    journal = state / JOURNAL_NAME
    raw = read_bytes(journal)
    did = False
    if raw is not None:
        try:
            ops = json.loads(raw)["ops"]
        except (ValueError, KeyError, TypeError):
            # A journal is renamed into place only once complete, so a bad one is foreign.
            raise InputError(
                f"{journal} is corrupt; inspect it, then delete it to discard the unfinished change."
            ) from None
        _apply(root, ops)
        journal.unlink()
        _fsync_dir(state)
        did = True
    staging = state / "staging"
    if staging.is_dir():
        for stray in staging.iterdir():
            stray.unlink(missing_ok=True)
            did = True
    return did


def _apply(root: Path, ops: list[dict[str, Any]]) -> None:
    touched: set[Path] = set()
    for i, op in enumerate(ops):
        target = root / op["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if op["op"] == "write":
            staged = root / op["staged"]
            if staged.exists():
                os.replace(staged, target)
        elif op["op"] == "append":
            data = base64.b64decode(op["data"])
            with open(target, "ab+") as fh:
                fh.truncate(op["offset"])
                fh.seek(op["offset"])
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        elif op["op"] == "delete":
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
        safe_join(self.root, rel)
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

    @property
    def empty(self) -> bool:
        """True when nothing is staged."""
        return not self._order

    def commit(self) -> None:
        """Stage, journal (the commit point), apply, clean up."""
        if self.empty:
            return
        state = self.root / STATE_DIR
        staging = state / "staging"
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
            atomic_write(state / JOURNAL_NAME, json.dumps({"ops": ops}).encode())
            fault_point("txn.after-journal")
            _apply(self.root, ops)
            (state / JOURNAL_NAME).unlink()
            _fsync_dir(state)
        except OSError as exc:
            raise InputError(
                f"cannot write to {self.root}: {exc.strerror or exc}. Nothing was changed; "
                "check permissions and free space."
            ) from exc
        finally:
            self._writes.clear()
            self._appends.clear()
            self._order.clear()
