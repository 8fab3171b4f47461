"""The store and its one unit of work.

Every governance action writes through :meth:`Store.edit`: it takes the repository
lock, reads the registry under it (the compare-and-swap base), lets the action stage a
new prompt entry, its audit entry, its change-log entry and any other files, and commits
all of them in one journal when the block exits cleanly. Nothing is written when the
block raises.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError, InvalidFile, NotFound
from ..model import ChangeLogEntry, PromptCard, PromptContent, PromptEntry, VersionRecord
from . import changelog, registry_file
from .files import Transaction, atomic_write_in, journal_pending, read_bytes, repo_lock
from .objects import ObjectStore
from .paths import REGISTRY_FILE
from .registry_file import Prompts


class AuditSink(Protocol):
    """Stages one audit entry into a transaction (the audit layer implements it)."""

    def __call__(self, txn: Transaction, **fields: Any) -> int:
        """Stage the entry; return its sequence number."""
        ...


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Store:
    """The files of the governed repository at ``root``: registry, objects, change log."""

    def __init__(self, root: Path, audit: AuditSink) -> None:
        self.root = root
        self.objects = ObjectStore(root)
        self._audit = audit
        self._snapshot: Prompts | None = None
        #: The bytes the snapshot was read from or staged as (compared by identity).
        self._raw: bytes | None = None
        #: (inode, size, mtime) of the registry file when the snapshot was read from it.
        self._sig: tuple[int, int, int] | None = None
        #: sha256 of those bytes.
        self._key: bytes | None = None

    # ------------------------------------------------------------------ reads

    def registry(self) -> Prompts:
        """Every prompt's entry, loaded lazily; cached until the file changes on disk."""
        # Stat before reading: a file replaced in between only causes a reload later.
        sig = _signature(self.root / REGISTRY_FILE)
        if self._snapshot is not None and sig is not None and sig == self._sig:
            return self._snapshot
        raw = read_bytes(self.root / REGISTRY_FILE)
        snapshot = self._load(raw, None, write_cache=True)
        self._sig = sig
        return snapshot

    def entry(self, name: str, snapshot: Prompts | None = None) -> PromptEntry:
        """The entry of prompt ``name``.

        Raises:
            NotFound: no such prompt is registered.
        """
        snapshot = self.registry() if snapshot is None else snapshot
        if name not in snapshot:
            known = ", ".join(sorted(snapshot)[:10]) or "none yet"
            raise NotFound(
                f"unknown prompt {name!r} (registered: {known}); register it with "
                f"'promptgov add {name}'.",
                prompt=name,
            )
        return snapshot[name]

    def changelog(self) -> list[ChangeLogEntry]:
        """Every change-log entry, oldest first."""
        return changelog.read(self.root)

    def _load(self, raw: bytes | None, key: bytes | None, *, write_cache: bool) -> Prompts:
        if raw is None:
            raise InvalidFile(
                f"{REGISTRY_FILE} is missing; restore it from git, or run 'promptgov init'."
            )
        key = key or hashlib.sha256(raw).digest()
        snapshot, cache_files = registry_file.load(self.root, raw, REGISTRY_FILE, key.hex())
        if cache_files and write_cache and not journal_pending(self.root):
            for rel, data in cache_files.items():
                if data is not None:
                    try:
                        atomic_write_in(self.root, rel, data)
                    except InputError:
                        break  # the cache is an optimisation only
        self._snapshot, self._raw, self._key = snapshot, raw, key
        return snapshot

    def _locked_registry(self, txn: Transaction) -> Prompts:
        """The registry as it stands under the lock (content-checked, not stat-checked)."""
        if txn.staged(REGISTRY_FILE):
            raw = txn.read(REGISTRY_FILE)
            if self._snapshot is not None and raw is self._raw:
                return self._snapshot
            return self._load(raw, None, write_cache=False)
        raw = read_bytes(self.root / REGISTRY_FILE)
        key = hashlib.sha256(raw or b"").digest()
        if self._snapshot is not None and key == self._key:
            return self._snapshot
        return self._load(raw, key, write_cache=False)

    # ------------------------------------------------------------------ the unit of work

    @contextmanager
    def edit(self, name: str | None = None, *, create: bool = False) -> Iterator[Edit]:
        """Lock, read under the lock, and commit everything staged when the block exits.

        ``name`` is the prompt the action changes (its entry is ``edit.entry``); with
        ``create`` an unregistered prompt starts empty instead of raising NotFound.
        On an exception nothing is committed and the in-memory registry is dropped.
        """
        with repo_lock(self.root):
            txn = Transaction(self.root)
            try:
                snapshot = self._locked_registry(txn)
                unit = Edit(self, txn, snapshot, name, create=create)
                yield unit
                unit._stage_registry()
            except BaseException:
                self._forget()
                raise
            saved = txn.staged(REGISTRY_FILE)
            txn.commit()
            if saved:  # the file now holds exactly the snapshot in memory
                self._sig = _signature(self.root / REGISTRY_FILE)

    def _staged(self, raw: bytes, snapshot: Prompts, key: bytes | None) -> None:
        self._snapshot, self._raw, self._sig, self._key = snapshot, raw, None, key

    def _forget(self) -> None:
        self._snapshot, self._raw, self._sig, self._key = None, None, None, None


class Edit:
    """One unit of work: the state read under the lock, and what to commit with it."""

    def __init__(
        self,
        store: Store,
        txn: Transaction,
        snapshot: Prompts,
        name: str | None,
        *,
        create: bool,
    ) -> None:
        self.store = store
        self.txn = txn
        #: The registry as read under the lock.
        self.registry = snapshot
        self.name = name
        self._entry: PromptEntry | None = None
        #: Entries to commit, by prompt name.
        self._staged: dict[str, PromptEntry] = {}
        if name is not None:
            if name in snapshot:
                self._entry = snapshot[name]
            elif create:
                self._entry = PromptEntry()
            else:
                store.entry(name, snapshot)  # raises NotFound

    # ------------------------------------------------------------------ the prompt's entry

    @property
    def entry(self) -> PromptEntry:
        """The prompt's entry as staged so far."""
        if self._entry is None:
            raise TypeError("this edit was opened without a prompt name")
        return self._entry

    @entry.setter
    def entry(self, value: PromptEntry) -> None:
        if self.name is None:
            raise TypeError("this edit was opened without a prompt name")
        self._entry = value
        self._staged[self.name] = value

    def stage_entry(self, name: str, entry: PromptEntry) -> None:
        """Stage the entry of another prompt (bulk imports, merges)."""
        if name == self.name:
            self.entry = entry
        else:
            self._staged[name] = entry

    def record(self, version: str) -> VersionRecord:
        """The staged record of ``version`` of this prompt.

        Raises:
            NotFound: the prompt has no such version.
        """
        for rec in self.entry.versions:
            if rec.version == version:
                return rec
        recent = ", ".join(r.version for r in self.entry.versions[-5:])
        raise NotFound(
            f"{self.name} has no version {version!r} (latest: {recent}); "
            f"see 'promptgov history {self.name}'.",
            prompt=self.name,
            version=version,
        )

    def replace(self, record: VersionRecord) -> None:
        """Stage ``record`` in place of the version of the same number."""
        versions = [record if r.version == record.version else r for r in self.entry.versions]
        self.entry = self.entry.model_copy(update={"versions": versions})

    # ------------------------------------------------------------------ records

    def audit(self, **fields: Any) -> int:
        """Stage a complete audit entry (``outcome`` defaults to success); its sequence number."""
        fields.setdefault("outcome", "success")
        return self.store._audit(self.txn, **fields)

    def changelog(self, **fields: Any) -> ChangeLogEntry:
        """Stage one change-log entry."""
        return changelog.append(self.txn, **fields)

    # ------------------------------------------------------------------ other files

    def put_content(self, content: PromptContent) -> str:
        """Stage ``content`` into the object store; its hash."""
        return self.store.objects.put_content(self.txn, content)

    def put_card(self, card: PromptCard) -> str:
        """Stage ``card`` into the object store; its hash."""
        return self.store.objects.put_card(self.txn, card)

    def write(self, rel: str, data: bytes) -> None:
        """Stage file ``rel`` with ``data``."""
        self.txn.write(rel, data)

    def write_json(self, rel: str, data: Any) -> None:
        """Stage a JSON file (pretty, UTF-8)."""
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        self.txn.write(rel, text.encode())

    def read(self, rel: str) -> bytes | None:
        """File ``rel`` as it will be after commit."""
        return self.txn.read(rel)

    # ------------------------------------------------------------------ commit

    def _stage_registry(self) -> None:
        if not self._staged:
            return
        snapshot = self.registry
        for name, entry in self._staged.items():
            snapshot = snapshot.with_entry(name, entry)
        raw, files = registry_file.render(snapshot)
        self.txn.write(REGISTRY_FILE, raw)
        for rel, data in files.items():
            if data is None:
                self.txn.delete(rel)
            else:
                self.txn.write(rel, data)
        staged, key = registry_file.reopen(snapshot, raw, files, self.store.root)
        self.store._staged(raw, staged, key)
        self.registry = staged
        self._staged.clear()
