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
    if raw is None:
        return []
    data = _yaml.loads(raw, CHANGELOG_FILE) or []
    if not isinstance(data, list):
        raise InvalidFile(f"{CHANGELOG_FILE}: expected a list of entries. Restore it from git.")
    return [
        validate_model(ChangeLogEntry, d, f"{CHANGELOG_FILE} entry {i + 1}")
        for i, d in enumerate(data)
    ]


def append(txn: Transaction, **fields: Any) -> ChangeLogEntry:
    """Stage one entry; its sequence number follows the file's last."""
    raw = txn.read(CHANGELOG_FILE) or HEADER.encode()
    seq = raw.count(b"\n- seq: ") + (1 if raw.startswith(b"- seq: ") else 0) + 1
    entry = ChangeLogEntry(seq=seq, **fields)
    block = _yaml.dump_block([entry.model_dump(mode="json", exclude_none=True)])
    if not raw.endswith(b"\n"):
        raw += b"\n"
    txn.write(CHANGELOG_FILE, raw + block.encode("utf-8"))
    return entry
