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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError, IntegrityError, InvalidFile, NotFound
from ..model import ChangeLogEntry, PromptCard, PromptContent, PromptEntry, VersionRecord
from . import changelog, registry_file
from .commitments import (
    bounded,
    changelog_commitment,
    entry_digest,
    file_digest,
    is_committed_file,
    prompt_commitment,
)
from .files import Transaction, atomic_write_in, journal_pending, read_bytes, repo_lock
from .objects import ObjectStore
from .paths import REGISTRY_FILE
from .registry_file import Prompts

#: How long a reader that saw a commit half-applied waits for its writer to finish.
WRITER_WAIT_S = 2.0


class AuditSink(Protocol):
    """The audit log as the unit of work sees it (the audit layer implements it)."""

    def prepare(self, fields: dict[str, Any]) -> Any:
        """Validate (and redact) one entry's fields into a record, staging nothing."""
        ...

    def next_seq(self, txn: Transaction) -> int:
        """The sequence number the next entry staged into ``txn`` will get."""
        ...

    def stage(self, txn: Transaction, records: list[Any], state: dict[str, Any]) -> None:
        """Stage ``records`` in order; the last one carries ``state`` (what the unit wrote)."""
        ...

    def committed(self, name: str) -> tuple[bool, tuple[int, str] | None]:
        """Whether the log commits to state, and (entry seq, digest) last committed for ``name``."""
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
        #: Prompts of the snapshot already shown to agree with the audit chain.
        self._agreed: set[str] = set()

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
        """The entry of prompt ``name``; read from the current registry, it is first shown
        to agree with the audit chain (once per prompt and registry version).

        Raises:
            NotFound: no such prompt is registered.
            IntegrityError: the entry disagrees with the audit log.
        """
        if snapshot is None:
            snapshot = self.registry()
            if name not in self._agreed:
                try:
                    snapshot = self._agreeing(snapshot, name)
                except IntegrityError:
                    snapshot = self._agreeing(self._after_writer(), name)
                if snapshot is not self._snapshot:
                    self._snapshot = snapshot  # the shard was stale: keep the file's block
                self._agreed.add(name)
        if name not in snapshot:
            known = ", ".join(sorted(snapshot)[:10]) or "none yet"
            raise NotFound(
                f"unknown prompt {name!r} (registered: {known}); register it first.",
                cli_hint=f"Run 'promptgov add {name}'.",
                prompt=name,
            )
        return snapshot[name]

    def _after_writer(self) -> Prompts:
        """The registry read again once no writer is between its renames.

        A reader without the lock can see one file of a commit before the others (the new
        registry beside the old audit log): that is a moment, not a forgery, so the read is
        repeated when the writer's journal is gone (bounded, for a journal left by a crash).
        """
        deadline = time.monotonic() + WRITER_WAIT_S
        while journal_pending(self.root) and time.monotonic() < deadline:
            time.sleep(0.005)
        self._forget()
        return self.registry()

    def changelog(self) -> list[ChangeLogEntry]:
        """Every change-log entry, oldest first."""
        return changelog.read(self.root)

    def _load(self, raw: bytes | None, key: bytes | None, *, write_cache: bool) -> Prompts:
        if raw is None:
            raise InvalidFile(
                f"{REGISTRY_FILE} is missing; restore it from git.",
                cli_hint="Or run 'promptgov init' to start a new registry.",
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
        self._agreed = set()
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
                snapshot = self._agreeing(self._locked_registry(txn), name)
                unit = Edit(self, txn, snapshot, name, create=create)
                yield unit
                unit._stage_registry()
                unit._seal()
            except BaseException:
                self._forget()
                raise
            saved = txn.staged(REGISTRY_FILE)
            txn.commit()
            if saved:  # the file now holds exactly the snapshot in memory
                self._sig = _signature(self.root / REGISTRY_FILE)

    def _agreeing(self, snapshot: Prompts, name: str | None) -> Prompts:
        """``snapshot``, once prompt ``name`` is shown to be what the audit chain last committed.

        A cached shard that disagrees is dropped for the committed YAML block; a block
        that disagrees too is refused, so no decision is made on state the chain does
        not vouch for.

        Raises:
            IntegrityError: the prompt's entry disagrees with the audit log.
        """
        if name is None:
            return snapshot
        committing, last = self._audit.committed(name)
        if not committing:
            return snapshot  # a log written before entries carried state
        if name not in snapshot:
            if last is None:
                return snapshot
            raise IntegrityError(
                f"{name} was removed from {REGISTRY_FILE} but audit entry #{last[0]} records "
                "it, so nothing is decided on it. Restore the file from git.",
                cli_hint="'promptgov verify' lists every difference.",
            )
        if last is not None and entry_digest(snapshot[name]) == last[1]:
            return snapshot
        snapshot = snapshot.reparsed(name)
        if last is not None and entry_digest(snapshot[name]) == last[1]:
            return snapshot
        if last is None:
            raise IntegrityError(
                f"{name} in {REGISTRY_FILE} is not recorded in the audit log, so it is not used. "
                "Restore the file from git.",
                cli_hint="'promptgov verify' lists every difference.",
            )
        raise IntegrityError(
            f"{name} in {REGISTRY_FILE} disagrees with audit entry #{last[0]}, so it is not "
            "used. Restore the file from git.",
            cli_hint="'promptgov verify' names each field.",
        )

    def _staged(self, raw: bytes, snapshot: Prompts, key: bytes | None) -> None:
        self._snapshot, self._raw, self._sig, self._key = snapshot, raw, None, key
        self._agreed = set()

    def _forget(self) -> None:
        self._snapshot, self._raw, self._sig, self._key = None, None, None, None
        self._agreed = set()


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
        #: The same, never replaced: what this unit's commitments are relative to.
        self._base = snapshot
        self.name = name
        #: Audit records to stage at commit, and the change-log entries staged.
        self._records: list[Any] = []
        self._first_seq = 0
        self._changelog: list[ChangeLogEntry] = []
        #: What the unit committed to per prompt, filled when the registry is staged.
        self._commitments: dict[str, Any] = {}
        self._entry: PromptEntry | None = None
        #: The governed policy files' digests this unit puts in force (a policy change).
        self._policy: dict[str, str | None] | None = None
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
            f"{self.name} has no version {version!r} (latest: {recent}).",
            cli_hint=f"See 'promptgov history {self.name}'.",
            prompt=self.name,
            version=version,
        )

    def replace(self, record: VersionRecord) -> None:
        """Stage ``record`` in place of the version of the same number."""
        versions = [record if r.version == record.version else r for r in self.entry.versions]
        self.entry = self.entry.model_copy(update={"versions": versions})

    # ------------------------------------------------------------------ records

    def audit(self, **fields: Any) -> int:
        """Add a complete audit entry (``outcome`` defaults to success); its sequence number.

        The entry is validated now and staged at commit, after everything else, so the
        last entry of the unit can commit to the state the unit wrote.
        """
        fields.setdefault("outcome", "success")
        record = self.store._audit.prepare(fields)
        if not self._records:
            self._first_seq = self.store._audit.next_seq(self.txn)
        self._records.append(record)
        return self._first_seq + len(self._records) - 1

    def changelog(self, **fields: Any) -> ChangeLogEntry:
        """Stage one change-log entry."""
        entry = changelog.append(self.txn, **fields)
        self._changelog.append(entry)
        return entry

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

    def put_file(self, data: bytes) -> str:
        """Stage a plain file's bytes into the object store; their sha256."""
        return self.store.objects.put_file(self.txn, data)

    def commit_policy(self, digests: dict[str, str | None]) -> None:
        """Record ``digests`` (path → sha256) as the governed policy files now in force."""
        self._policy = dict(digests)

    # ------------------------------------------------------------------ commit

    def _stage_registry(self) -> None:
        if not self._staged:
            return
        snapshot = self.registry
        for name, entry in self._staged.items():
            snapshot = snapshot.with_entry(name, entry)
            before = self._base[name] if name in self._base else None
            self._commitments[name] = prompt_commitment(before, entry)
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

    def _seal(self) -> None:
        """Stage the audit records; the last commits to the registry, change-log and files."""
        state: dict[str, Any] = {}
        if self._commitments:
            state["prompts"] = bounded(self._commitments)
        if self._changelog:
            state["changelog"] = changelog_commitment(self._changelog)
        files = {
            rel: file_digest(self.txn.read(rel))
            for rel in self.txn.paths()
            if is_committed_file(rel)
        }
        if files:
            state["files"] = files
        if self._policy is not None:
            state["policy"] = self._policy
        if not self._records:
            if state:
                raise TypeError("a unit of work that changes governed state needs an audit entry")
            return
        self.store._audit.stage(self.txn, self._records, state)
