"""``schemas/prompt-change-log.yml``: the human-readable change log, append-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import _yaml
from ..errors import InvalidFile
from ..model import ChangeLogEntry, validate_model
from .files import Transaction, read_bytes
from .paths import CHANGELOG_FILE

HEADER = (
    "# promptgov change log: one entry per registered version, promotion and rollback.\n"
    "# Append-only; written by promptgov.\n"
)


def read(root: Path) -> list[ChangeLogEntry]:
    """Every change-log entry, oldest first."""
    raw = read_bytes(root / CHANGELOG_FILE)
    return [] if raw is None else parse(raw)


def parse(raw: bytes, label: str = CHANGELOG_FILE) -> list[ChangeLogEntry]:
    """The entries of change-log bytes ``raw``, oldest first."""
    data = _yaml.loads(raw, label) or []
    if not isinstance(data, list):
        raise InvalidFile(f"{CHANGELOG_FILE}: expected a list of entries. Restore it from git.")
    return [validate_model(ChangeLogEntry, d, f"{label} entry {i + 1}") for i, d in enumerate(data)]


def append(txn: Transaction, **fields: Any) -> ChangeLogEntry:
    """Stage one entry; its sequence number follows the file's last."""
    raw = txn.read(CHANGELOG_FILE) or HEADER.encode()
    seq = raw.count(b"\n- seq: ") + (1 if raw.startswith(b"- seq: ") else 0) + 1
    entry = ChangeLogEntry(seq=seq, **fields)
    txn.write(CHANGELOG_FILE, extend(raw, [entry]))
    return entry


def extend(raw: bytes, entries: list[ChangeLogEntry]) -> bytes:
    """Change-log bytes ``raw`` with ``entries`` appended as the file writes them."""
    if not raw.endswith(b"\n"):
        raw += b"\n"
    blocks = (_yaml.dump_block([e.model_dump(mode="json", exclude_none=True)]) for e in entries)
    return raw + "".join(blocks).encode("utf-8")
