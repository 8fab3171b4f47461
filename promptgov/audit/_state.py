"""The state the audit chain commits to, replayed from the entries' ``details.state``.

:func:`replay` folds every entry, oldest first, into the latest commitment for each
prompt, record, change-log entry and committed file, and the governed policy files'
digests: what ``verify`` compares the files with. :class:`StateIndex` keeps just each
prompt's latest entry digest and the policy in force, so a write or a decision can check
what it reads against the chain without reading the whole log; it is a
MAC'd cache, extended from the bytes appended since it was built and rebuilt from the
whole log (with every link re-checked) whenever it does not match.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, IntegrityError
from ..store.files import STATE_DIR, atomic_write_in, journal_pending, read_bytes
from ..store.localkey import mac, mac_ok
from ._markdown import CLOSE_FENCE, RECORD_FENCE
from ._record import GENESIS_HASH, LINE_SUFFIX_LEN, SHA256_RE, chain_hash

INDEX_FILE = f"{STATE_DIR}/cache/audit-state.json"
_LOG_FILE = "audit/artifact-audit-log.md"


@dataclass
class PromptState:
    """The latest commitments for one prompt."""

    seq: int
    """The last entry that committed the prompt's entry."""
    entry: str
    """The digest it committed."""
    versions: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    environments: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    rollbacks: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)


@dataclass
class ChainState:
    """Everything the chain commits to, latest first-class facts only."""

    committing: bool = False
    """The log's first entry marks it as one whose entries carry state commitments."""
    prompts: dict[str, PromptState] = field(default_factory=dict)
    changelog: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)
    files: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    policy: tuple[int, dict[str, str | None]] | None = None
    """The entry that last recorded the governed policy files, and their digests."""

    def fold(self, seq: int, state: Any) -> None:
        """Apply one entry's ``details.state``."""
        if seq == 1 and isinstance(state, dict):
            self.committing = True
        if not isinstance(state, dict):
            return
        for name, c in _committed_prompts(state):
            p = self.prompts.get(name) or PromptState(seq, c["entry"])
            p.seq, p.entry = seq, c["entry"]
            for kind in ("versions", "environments", "rollbacks"):
                target: dict[str, tuple[int, dict[str, str]]] = getattr(p, kind)
                for key, digests in _dict(c.get(kind)).items():
                    if isinstance(digests, dict):
                        target[key] = (seq, digests)
            self.prompts[name] = p
        for key, digests in _dict(state.get("changelog")).items():
            if key.isdigit() and isinstance(digests, dict):
                self.changelog[int(key)] = (seq, digests)
        for rel, digest in _dict(state.get("files")).items():
            if digest is None or isinstance(digest, str):
                self.files[rel] = (seq, digest)
        policy = committed_policy(state)
        if policy is not None:
            self.policy = (seq, policy)


def committed_policy(state: Any) -> dict[str, str | None] | None:
    """The policy files' digests one entry's ``details.state`` records (None: it records none).

    A record is the whole governed set, path → sha256 of the bytes (None: no such file).
    """
    raw = state.get("policy") if isinstance(state, dict) else None
    if not isinstance(raw, dict):
        return None
    return {
        k: v for k, v in raw.items() if isinstance(k, str) and (v is None or isinstance(v, str))
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _committed_prompts(state: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, commitment) of each well-formed prompt commitment in one entry's state."""
    for name, c in _dict(state.get("prompts")).items():
        if isinstance(c, dict) and isinstance(c.get("entry"), str):
            yield name, c


def chained_records(
    data: bytes, start: int = 0
) -> Iterator[tuple[int, dict[str, Any], bytes, str]]:
    """(end offset, record, canonical body, stored hash) of each record from ``start``."""
    pos = start
    while True:
        fence = data.find(RECORD_FENCE, pos)
        if fence == -1:
            return
        begin = fence + len(RECORD_FENCE)
        eol = data.find(b"\n", begin)
        if eol == -1 or data[eol : eol + len(CLOSE_FENCE)] != CLOSE_FENCE:
            return
        pos = eol + len(CLOSE_FENCE)
        line = data[begin:eol]
        body = line[:-LINE_SUFFIX_LEN] + b"}"
        try:
            obj = json.loads(body)
            digest = line[-66:-2].decode("ascii")
        except (ValueError, RecursionError, UnicodeError):
            obj, digest = None, ""
        yield pos, obj if isinstance(obj, dict) else {}, body, digest


def replay(data: bytes) -> ChainState:
    """The state committed by every entry of the log ``data`` (links are not checked here)."""
    state = ChainState()
    for _end, obj, _body, _digest in chained_records(data):
        seq = obj.get("seq")
        details = obj.get("details")
        if type(seq) is int and isinstance(details, dict) and "state" in details:
            state.fold(seq, details["state"])
    return state


@dataclass
class StateIndex:
    """Each prompt's last committed entry digest, as of a verified prefix of the log."""

    size: int = 0
    seq: int = 0
    hash: str = GENESIS_HASH
    committing: bool = False
    prompts: dict[str, tuple[int, str]] = field(default_factory=dict)
    policy: tuple[int, dict[str, str | None]] | None = None
    """The policy in force: the entry that recorded it and the files' digests."""

    def _payload(self) -> bytes:
        return json.dumps(
            {
                "size": self.size,
                "seq": self.seq,
                "hash": self.hash,
                "committing": self.committing,
                "prompts": self.prompts,
                "policy": self.policy,
            },
            sort_keys=True,
        ).encode()

    def _extend(self, data: bytes, offset: int) -> None:
        """Fold the records of ``data`` (the log's bytes from ``offset``), checking each link.

        Raises:
            IntegrityError: an appended record does not chain onto the one before.
        """
        for end, obj, body, digest in chained_records(data):
            seq = obj.get("seq")
            if (
                type(seq) is not int
                or seq != self.seq + 1
                or obj.get("prev_hash") != self.hash
                or not SHA256_RE.match(digest)
                or chain_hash(self.hash, body) != digest
            ):
                raise IntegrityError(
                    f"{_LOG_FILE} does not verify after entry {self.seq}: nothing is decided "
                    "on state the chain cannot vouch for; verify the audit log.",
                    cli_hint="Run 'promptgov audit verify'.",
                )
            details = obj.get("details")
            state = details.get("state") if isinstance(details, dict) else None
            if seq == 1 and isinstance(state, dict):
                self.committing = True
            if isinstance(state, dict):
                for name, c in _committed_prompts(state):
                    self.prompts[name] = (seq, c["entry"])
                policy = committed_policy(state)
                if policy is not None:
                    self.policy = (seq, policy)
            self.size, self.seq, self.hash = offset + end, seq, digest


def load_index(root: Path) -> StateIndex:
    """The index for the log as it is now: the cache, extended or rebuilt as needed.

    Only the bytes appended since the cache was written are read, after checking that
    the record the cache ends on is still where it was.

    Raises:
        IntegrityError: the log's chain does not hold.
    """
    path = root / _LOG_FILE
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    except OSError as exc:
        raise InputError(f"cannot read {_LOG_FILE}: {exc.strerror or exc}.") from exc
    index = _cached(root)
    if index is not None and (index.size > size or not _ends_with(path, index)):
        index = None  # the log was replaced under the cache
    if index is not None and index.size == size:
        return index
    if index is None:
        index, tail = StateIndex(), read_bytes(path) or b""
    else:
        tail = _read_from(path, index.size)
    index._extend(tail, index.size)
    _save(root, index)
    return index


def _cached(root: Path) -> StateIndex | None:
    raw = read_bytes(root / INDEX_FILE)
    if not raw:
        return None
    try:
        obj = json.loads(raw)
        payload = json.dumps(obj["index"], sort_keys=True).encode()
        if not mac_ok(obj.get("mac"), b"audit-state", payload):
            return None
        i = obj["index"]
        return StateIndex(
            size=int(i["size"]),
            seq=int(i["seq"]),
            hash=str(i["hash"]),
            committing=bool(i["committing"]),
            prompts={str(k): (int(v[0]), str(v[1])) for k, v in i["prompts"].items()},
            policy=_cached_policy(i["policy"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def _cached_policy(raw: Any) -> tuple[int, dict[str, str | None]] | None:
    if raw is None:
        return None
    seq, files = raw
    return int(seq), {str(k): None if v is None else str(v) for k, v in files.items()}


def _ends_with(path: Path, index: StateIndex) -> bool:
    """True when the record ending at ``index.size`` still carries ``index.hash``."""
    if index.size == 0:
        return True
    need = 66 + len(CLOSE_FENCE)
    chunk = _read_from(path, index.size - need, need)
    if chunk[-len(CLOSE_FENCE) :] != CLOSE_FENCE or len(chunk) != need:
        return False
    return chunk[:64].decode("ascii", "replace") == index.hash


def _read_from(path: Path, offset: int, length: int = -1) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, offset))
            return fh.read(length)
    except OSError as exc:
        raise InputError(f"cannot read {_LOG_FILE}: {exc.strerror or exc}.") from exc


def _save(root: Path, index: StateIndex) -> None:
    payload = index._payload()
    tag = mac(b"audit-state", payload)
    if tag is None:
        return
    text = json.dumps({"index": json.loads(payload), "mac": tag}).encode()
    if journal_pending(root):
        return  # the journal is finished first; the index is an optimisation only
    try:
        atomic_write_in(root, INDEX_FILE, text)
    except (InputError, OSError):
        return
