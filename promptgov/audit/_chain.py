"""The audit log of one governed repository: staged appends, head cache, reads, verify, repair."""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from ..errors import InputError, IntegrityError, NotFound, VerificationFailed
from ..store.files import STATE_DIR, Transaction, journal_pending, read_bytes, repo_lock
from ..store.localkey import mac, mac_ok
from ..store.paths import CONFIG_FILE
from ._checkpoint import (
    CHECKPOINTS_FILE,
    Checkpoint,
    check_checkpoints,
    checkpoint_line,
    key_id,
    last_line,
    load_public_key,
    new_checkpoint_check,
    rotation_details,
)
from ._markdown import CLOSE_FENCE, HEADER, HEADING, RECORD_FENCE, render_entry
from ._record import (
    GENESIS_HASH,
    LINE_SUFFIX_LEN,
    SHA256_RE,
    AuditEntry,
    AuditRecord,
    build_record,
    chain_hash,
    parse_time,
    seal,
)
from ._verify import AuditProblem, AuditVerifyReport, scan_log

LOG_FILE = "audit/artifact-audit-log.md"
#: Head cache: (seq, hash, log size) so an append never re-reads the log.
HEAD_CACHE = f"{STATE_DIR}/cache/audit-head.json"
#: Where ``repair`` keeps the bytes it removed, as evidence.
REPAIRS_DIR = "audit/repairs"
#: Markers that make a directory a governed repository when walking up.
REPO_MARKERS = ("promptgov.yml", STATE_DIR)
_TAIL_CHUNK = 1 << 16
#: Actions a filter on another action includes: an emergency promotion is a promotion
#: ('audit show --action promote' left it out).
ACTION_FAMILIES: dict[str, tuple[str, ...]] = {"promote": ("emergency-promote",)}


def find_repo_root(start: Path | None = None, *, cwd: Path | None = None) -> Path:
    """The repository to act on: ``start`` if given, else the nearest ancestor of the
    current directory holding ``promptgov.yml`` or ``.promptgov/``.

    Raises:
        NotFound: ``start`` is not a directory, or no ancestor is a governed repository.
    """
    if start is not None:
        if not start.is_dir():
            raise NotFound(
                f"repository directory {start} does not exist.", cli_hint="Check --repo."
            )
        return start
    here = (cwd or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if any((candidate / marker).exists() for marker in REPO_MARKERS):
            return candidate
    raise NotFound(
        f"no governed repository here ({here}) or above.",
        cli_hint="Run 'promptgov init' or pass --repo DIR.",
    )


@dataclass(frozen=True)
class _Head:
    seq: int
    hash: str
    size: int
    cache: bytes


#: The head each open transaction has staged up to, so several entries can be staged at once.
_PENDING: weakref.WeakKeyDictionary[Transaction, _Head] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class RepairResult:
    """What ``audit repair`` did."""

    finished_journal: bool
    """An interrupted transaction was completed from its journal first."""
    removed_bytes: int = 0
    """Bytes of torn final entry removed (0 when there was none)."""
    removed_seq: int | None = None
    """The sequence number the torn entry would have had."""
    saved_to: str | None = None
    """Where the removed bytes were kept, relative to the repository."""
    entry: AuditEntry | None = None
    """The ``repair`` entry recording the removal."""

    def summary(self) -> str:
        """One line for people."""
        if self.removed_bytes:
            assert self.entry is not None
            return (
                f"removed torn entry {self.removed_seq} ({self.removed_bytes} bytes, kept in "
                f"{self.saved_to}); recorded as entry {self.entry.seq}"
            )
        if self.finished_journal:
            return "finished an interrupted write from its journal; the log is complete"
        return "nothing to repair: the log has no torn final entry"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "finished_journal": self.finished_journal,
            "removed_bytes": self.removed_bytes,
            "removed_seq": self.removed_seq,
            "saved_to": self.saved_to,
            "entry_seq": self.entry.seq if self.entry else None,
            "summary": self.summary(),
        }


def verify_bytes(
    data: bytes,
    *,
    checkpoints: bytes | None = None,
    external: list[tuple[str, bytes]] | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> AuditVerifyReport:
    """Verify audit log ``data`` (and checkpoint files) without touching the disk.

    ``checkpoints`` is the repository's ``audit/checkpoints.jsonl``; ``external`` are
    checkpoint copies kept elsewhere, as (label, bytes). Never raises on their content.
    """
    scan = scan_log(data)
    sources: list[tuple[str, bytes, bool]] = []
    if checkpoints:
        sources.append((CHECKPOINTS_FILE, checkpoints, True))
    for label, blob in external or []:
        sources.append((label, blob, False))
    check_checkpoints(scan, sources, public_key)
    if not sources and public_key is None and scan.report.entries:
        scan.report.warnings.append(
            "no signed checkpoint: a truncated or wholly rewritten log cannot be detected; "
            "run 'promptgov audit checkpoint'"
        )
    return scan.report


class AuditLog:
    """The hash-chained audit log ``audit/artifact-audit-log.md`` of a repository.

    Writers stage entries into the same :class:`~promptgov.store.files.Transaction` as the
    change they record, under the repository lock, so the action and its entry land
    together or not at all.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"AuditLog(root={str(self.root)!r})"

    @property
    def path(self) -> Path:
        """The log file."""
        return self.root / LOG_FILE

    # ------------------------------------------------------------------ head

    def _disk_head(self) -> _Head:
        """The committed head: the cache when it matches the log's size, else the tail."""
        try:
            size: int | None = self.path.stat().st_size
        except FileNotFoundError:
            size = None
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror or exc}.") from exc
        cached = _parse_cache(read_bytes(self.root / HEAD_CACHE))
        if size is None or size == 0:
            if cached is not None and cached[0] > 0:
                raise IntegrityError(
                    f"{LOG_FILE} is missing but {cached[0]} entries were recorded; restore it "
                    f"from git, or delete {HEAD_CACHE} to start a new log."
                )
            return _Head(0, GENESIS_HASH, 0, b"")
        if cached is not None and cached[2] == size:
            return _Head(cached[0], cached[1], size, b"")
        seq, digest = _tail_head(self.path, size)
        return _Head(seq, digest, size, b"")

    def _txn_head(self, txn: Transaction) -> _Head:
        state = _PENDING.get(txn)
        if state is not None and not txn.empty and txn.read(HEAD_CACHE) == state.cache:
            return state
        return self._disk_head()

    def head(self) -> tuple[int, str]:
        """(sequence number, hash) of the last entry; ``(0, GENESIS_HASH)`` when empty.

        Raises:
            VerificationFailed: the log ends with a torn entry (run ``audit repair``).
        """
        head = self._disk_head()
        return head.seq, head.hash

    # ------------------------------------------------------------------ writes

    def stage(
        self,
        txn: Transaction,
        *,
        action: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
        outcome: str = "success",
        prompt: str | None = None,
        env: str | None = None,
        from_version: str | None = None,
        from_sha256: str | None = None,
        to_version: str | None = None,
        to_sha256: str | None = None,
        evidence: list[str] | None = None,
        approvers: list[str] | None = None,
        eval_run_id: str | None = None,
        gate_verdict: str | None = None,
        error: str | None = None,
        on_behalf_of: str | None = None,
        ticket: str | None = None,
        details: dict[str, Any] | None = None,
        **unknown: Any,
    ) -> AuditEntry:
        """Stage one entry into ``txn`` (call under :func:`~promptgov.store.files.repo_lock`).

        Secrets are redacted, the record is validated, chained to the head as staged
        so far in ``txn`` and appended with the head cache at commit. Entries staged
        earlier in the same transaction are seen, so one command may stage several.

        Raises:
            InputError: a required field is missing or invalid; nothing is staged.
            VerificationFailed: the log ends with a torn entry (run ``audit repair``).
        """
        fields = {k: v for k, v in locals().items() if k not in ("self", "txn", "unknown")}
        return self.stage_record(txn, build_record({**fields, **unknown}))

    def next_seq(self, txn: Transaction) -> int:
        """The sequence number the next entry staged into ``txn`` gets."""
        return self._txn_head(txn).seq + 1

    def stage_record(self, txn: Transaction, record: AuditRecord) -> AuditEntry:
        """Stage an already validated :class:`AuditRecord` (see :meth:`stage`)."""
        if not isinstance(record, AuditRecord):
            raise InputError("audit record refused: expected an AuditRecord. Nothing was written.")
        head = self._txn_head(txn)
        entry, line = seal(record, seq=head.seq + 1, prev_hash=head.hash)
        chunk = render_entry(entry.model_dump(mode="json"), line)
        if head.size == 0:
            chunk = HEADER + chunk
        size = head.size + len(chunk)
        cache = head_cache(entry.seq, entry.hash, size)
        txn.append(LOG_FILE, chunk)
        txn.write(HEAD_CACHE, cache)
        _PENDING[txn] = _Head(entry.seq, entry.hash, size, cache)
        return entry

    def append(self, **fields: Any) -> AuditEntry:
        """Lock, stage one entry (same fields as :meth:`stage`), commit; returns the entry."""
        with repo_lock(self.root):
            txn = Transaction(self.root)
            entry = self.stage(txn, **fields)
            txn.commit()
        return entry

    # ------------------------------------------------------------------ reads

    def read(self) -> bytes:
        """The log's bytes (empty when it does not exist yet)."""
        return read_bytes(self.path) or b""

    def entries(
        self,
        prompt: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
    ) -> Iterator[AuditEntry]:
        """Entries in log order, optionally only one prompt's, one action's, or recent ones.

        ``action="promote"`` includes ``emergency-promote`` (:data:`ACTION_FAMILIES`). Reads records as stored; unreadable records are skipped (``verify`` reports them).

        Raises:
            InputError: ``since`` is not a time.
        """
        after = parse_time(since) if isinstance(since, str) else since
        matching = {action, *ACTION_FAMILIES.get(action or "", ())}
        for obj in iter_records(self.read()):
            if prompt is not None and obj.get("prompt") != prompt:
                continue
            if action is not None and obj.get("action") not in matching:
                continue
            try:
                entry = AuditEntry.model_validate(obj)
                if after is not None and entry.timestamp < after:
                    continue
            except (ValidationError, InputError):
                continue
            yield entry

    def verify(
        self,
        checkpoint: Path | None = None,
        public_key: Path | bytes | Ed25519PublicKey | None = None,
    ) -> AuditVerifyReport:
        """Check the log, the repository's checkpoints and an optional external checkpoint.

        Read-only and lock-free; never raises on what the files contain.

        Raises:
            NotFound / InputError: ``checkpoint`` or ``public_key`` cannot be read.
        """
        key = public_key
        if isinstance(key, Path | bytes):
            key = load_public_key(key)
        external: list[tuple[str, bytes]] = []
        if checkpoint is not None:
            blob = read_bytes(checkpoint)
            if blob is None:
                raise NotFound(f"checkpoint file {checkpoint} does not exist.")
            external.append((str(checkpoint), blob))
        linked = self.path.is_symlink()
        report = verify_bytes(
            b"" if linked else self.read(),
            checkpoints=read_bytes(self.root / CHECKPOINTS_FILE),
            external=external,
            public_key=key,
        )
        if linked:
            report.add(
                AuditProblem(
                    f"{LOG_FILE} is a symlink, not the log; restore it from git", kind="file"
                )
            )
        elif report.entries == 0 and (self.root / CONFIG_FILE).is_file():
            # `init` writes the first entry, so a governed repository never has an empty log.
            report.add(
                AuditProblem(
                    f"{LOG_FILE} is missing, empty or holds no entry although this is a governed "
                    "repository (init writes the first one); restore it from git",
                    kind="file",
                )
            )
        report.journal_pending = journal_pending(self.root)
        if report.journal_pending:
            report.warnings.append(
                "a committed change is still being applied (journal pending); any promptgov "
                "write, or 'promptgov audit repair', finishes it"
            )
        return report

    # ------------------------------------------------------------------ repair

    def repair(self, *, actor: str, reason: str | None = None) -> RepairResult:
        """Remove a torn final entry left by a crash and record that it did so.

        A committed transaction interrupted mid-write is first finished from its
        journal (taking the lock does that), which completes the entry instead.
        The removed bytes are kept under ``audit/repairs/``.

        Raises:
            VerificationFailed: the log has a problem other than a torn final entry.
        """
        pending = journal_pending(self.root)
        with repo_lock(self.root):
            data = self.read()
            scan = scan_log(data)
            torn = scan.report.torn
            others = [p for p in scan.report.problems if p.kind != "torn"]
            if others:
                raise VerificationFailed(
                    f"audit log {others[0]}; repair only removes a torn final entry, so "
                    "restore the file from git instead."
                )
            if torn is None:
                return RepairResult(finished_journal=pending)
            removed = data[torn.offset :]
            stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S%f")
            saved = f"{REPAIRS_DIR}/{stamp}-entry-{torn.seq}.torn"
            txn = Transaction(self.root)
            kept = data[: torn.offset]
            txn.write(LOG_FILE, kept)
            txn.write(saved, removed)
            head = scan.report.head_seq, scan.report.head_hash
            cache = head_cache(head[0], head[1], len(kept))
            txn.write(HEAD_CACHE, cache)
            _PENDING[txn] = _Head(head[0], head[1], len(kept), cache)
            entry = self.stage(
                txn,
                action="repair",
                actor=actor,
                reason=reason
                or f"removed torn entry {torn.seq} ({len(removed)} bytes) left by a crash",
                details={
                    "removed_bytes": len(removed),
                    "removed_sha256": hashlib.sha256(removed).hexdigest(),
                    "removed_seq": torn.seq,
                    "offset": torn.offset,
                    "saved_to": saved,
                },
            )
            txn.commit()
        return RepairResult(pending, len(removed), torn.seq, saved, entry)

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, private_key: Ed25519PrivateKey) -> Checkpoint:
        """Append a checkpoint signed with ``private_key`` covering the current head.

        The log and existing checkpoints are verified first; a log that no longer
        extends the previous checkpoint is never signed.

        Raises:
            VerificationFailed: the log or its checkpoints have problems.
            Conflict: ``private_key`` is not the key in force.
            InputError: the log is empty.
        """
        with repo_lock(self.root):
            txn = Transaction(self.root)
            result = self._stage_checkpoint(txn, private_key, self.read())
            txn.commit()
        return result

    def _stage_checkpoint(
        self,
        txn: Transaction,
        private_key: Ed25519PrivateKey,
        data: bytes,
        *,
        rotated_to: bool = False,
    ) -> Checkpoint:
        existing = txn.read(CHECKPOINTS_FILE)
        report = verify_bytes(data, checkpoints=existing)
        if not report.ok:
            raise VerificationFailed(
                f"audit log {report.problems[0]}; fix it before signing a checkpoint."
            )
        if not rotated_to:
            new_checkpoint_check(report, private_key.public_key())
        if report.head_seq == 0:
            raise InputError("nothing to checkpoint: the audit log has no entries yet.")
        previous = last_line(existing)
        kid = key_id(private_key.public_key())
        lines = (existing or b"").count(b"\n")
        if previous is not None:
            try:
                last = json.loads(previous)
            except ValueError:
                last = None
            if not isinstance(last, dict):
                last = {}
            if last.get("seq") == report.head_seq and last.get("key_id") == kid:
                return Checkpoint(
                    report.head_seq, report.head_hash, kid, str(last.get("time")), lines, False
                )
        line = checkpoint_line(private_key, report.head_seq, report.head_hash, previous)
        prefix = b"" if not existing or existing.endswith(b"\n") else b"\n"
        txn.append(CHECKPOINTS_FILE, prefix + line + b"\n")
        return Checkpoint(
            report.head_seq,
            report.head_hash,
            kid,
            json.loads(line)["time"],
            lines + 1 + (1 if prefix else 0),
            True,
        )

    def rotate_key(
        self,
        old_key: Ed25519PrivateKey,
        new_key: Ed25519PrivateKey,
        *,
        actor: str,
        reason: str,
    ) -> AuditEntry:
        """Replace the checkpoint key: a ``rotate-key`` entry signed by both keys, then a
        checkpoint signed by the new key, committed together.

        Raises:
            InputError: no key is in force yet, or the two keys are the same.
            Conflict: ``old_key`` is not the key in force.
            VerificationFailed: the log or its checkpoints have problems.
        """
        old_id, new_id = key_id(old_key.public_key()), key_id(new_key.public_key())
        if old_id == new_id:
            raise InputError(
                "the new key is the old key; generate a new Ed25519 key.",
                cli_hint="Create one with 'promptgov audit keygen'.",
            )
        with repo_lock(self.root):
            data = self.read()
            report = verify_bytes(data, checkpoints=read_bytes(self.root / CHECKPOINTS_FILE))
            if not report.ok:
                raise VerificationFailed(
                    f"audit log {report.problems[0]}; fix it before rotating the key."
                )
            if not report.key_ids:
                raise InputError(
                    "no checkpoint key in force yet; sign a first checkpoint with the new "
                    "key instead of rotating.",
                    cli_hint="Run 'promptgov audit checkpoint --key FILE'.",
                )
            new_checkpoint_check(report, old_key.public_key())
            txn = Transaction(self.root)
            head = self._txn_head(txn)
            entry = self.stage(
                txn,
                action="rotate-key",
                actor=actor,
                reason=reason,
                details=rotation_details(old_key, new_key, head.hash),
            )
            chunk = txn.read(LOG_FILE)
            assert chunk is not None
            self._stage_checkpoint(txn, new_key, chunk, rotated_to=True)
            txn.commit()
        return entry


def head_cache(seq: int, digest: str, size: int) -> bytes:
    """The head cache's bytes, MAC'd so a forged one (edited, or come with a clone) is ignored."""
    tag = mac(b"audit-head", f"{seq}:{digest}:{size}".encode())
    return json.dumps({"seq": seq, "hash": digest, "size": size, "mac": tag}).encode()


def _parse_cache(raw: bytes | None) -> tuple[int, str, int] | None:
    if not raw:
        return None
    try:
        obj = json.loads(raw)
        seq, digest, size = obj["seq"], obj["hash"], obj["size"]
        if not mac_ok(obj.get("mac"), b"audit-head", f"{seq}:{digest}:{size}".encode()):
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if type(seq) is not int or type(size) is not int or not isinstance(digest, str):
        return None
    if seq < 0 or size < 0 or not SHA256_RE.match(digest):
        return None
    return seq, digest, size


def _tail_head(path: Path, size: int) -> tuple[int, str]:
    """(seq, hash) of the last entry, reading only the end of the file.

    Raises:
        VerificationFailed: the file ends in the middle of an entry.
    """
    chunk = _TAIL_CHUNK
    try:
        with open(path, "rb") as fh:
            while True:
                start = max(0, size - chunk)
                fh.seek(start)
                tail = fh.read(size - start)
                fence = tail.rfind(RECORD_FENCE)
                if fence >= 0 or start == 0:
                    break
                chunk *= 2
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    if fence == -1:
        if HEADING in tail:
            raise _torn_error(size)
        return 0, GENESIS_HASH
    begin = fence + len(RECORD_FENCE)
    eol = tail.find(b"\n", begin)
    if eol == -1 or tail[eol:] != CLOSE_FENCE or tail.find(HEADING, fence) != -1:
        raise _torn_error(size)
    line = tail[begin:eol]
    try:
        body = line[:-LINE_SUFFIX_LEN] + b"}"
        obj = json.loads(body)
        seq = obj["seq"]
        digest = line[-66:-2].decode("ascii")
        if type(seq) is not int or chain_hash(obj["prev_hash"], body) != digest:
            raise ValueError("stored hash does not match")
    except (ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise VerificationFailed(
            f"the last entry of {LOG_FILE} is damaged ({exc}); verify the audit log and "
            "restore the file from git.",
            cli_hint="Run 'promptgov audit verify'.",
        ) from None
    return seq, digest


def _torn_error(size: int) -> VerificationFailed:
    return VerificationFailed(
        f"{LOG_FILE} ends with a torn entry (the file is {size} bytes and its last entry is "
        "incomplete); repair the audit log before writing.",
        cli_hint="Run 'promptgov audit repair'.",
    )


def iter_records(data: bytes) -> Iterator[dict[str, Any]]:
    """Every readable record of ``data`` (with its ``hash``), in file order."""
    pos = 0
    while True:
        fence = data.find(RECORD_FENCE, pos)
        if fence == -1:
            return
        start = fence + len(RECORD_FENCE)
        eol = data.find(b"\n", start)
        if eol == -1:
            return
        pos = eol
        if data[eol : eol + len(CLOSE_FENCE)] != CLOSE_FENCE:
            continue
        try:
            obj = json.loads(data[start:eol])
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            yield obj
