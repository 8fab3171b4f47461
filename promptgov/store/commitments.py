"""What an audit entry commits to: digests of the state its unit of work wrote.

Every unit of work that changes a prompt's registry entry, the change log or an eval
output stages an audit entry whose ``details.state`` holds these digests. ``verify``
replays them against the files; ``gate``, ``promote`` and ``rollback`` refuse a prompt
whose entry no longer hashes to what its last audit entry committed. Each changed record
also carries one short digest per field, so a disagreement names the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from ..hashing import canonical_json
from ..model import ChangeLogEntry, PromptEntry

#: Key of the whole-record digest among a record's field digests.
WHOLE = "*"
#: Hex characters kept of each field digest: they name a field, the whole digest proves it.
FIELD_DIGEST_LEN = 16
#: Records a unit may change and still get per-field digests (bulk imports get less).
FIELD_DIGEST_RECORDS = 64
#: Past this size (bytes of JSON) a unit's commitment keeps only each prompt's entry digest.
MAX_DETAIL_BYTES = 256 * 1024
#: Directories whose files (eval outputs) are committed by the entry that wrote them.
COMMITTED_DIRS: tuple[str, ...] = ("logs/evals/",)

Commitment = dict[str, Any]


def json_digest(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def entry_digest(entry: PromptEntry) -> str:
    """The digest of a prompt's whole registry entry."""
    return json_digest(entry.model_dump(mode="json"))


def record_digests(record: BaseModel) -> dict[str, str]:
    """One short digest per field and the whole record's digest under ``*``."""
    data = record.model_dump(mode="json")
    out = {k: json_digest(v)[:FIELD_DIGEST_LEN] for k, v in data.items()}
    out[WHOLE] = json_digest(data)
    return out


def _changed(
    before: Iterable[tuple[str, BaseModel]], after: Iterable[tuple[str, BaseModel]]
) -> dict[str, dict[str, str]]:
    old = dict(before)
    return {key: record_digests(rec) for key, rec in after if old.get(key) != rec}


def prompt_commitment(before: PromptEntry | None, after: PromptEntry) -> Commitment:
    """What a unit of work commits to for one prompt: the entry and each changed record."""
    prev = before or PromptEntry()
    return {
        "entry": entry_digest(after),
        "versions": _changed(
            ((r.version, r) for r in prev.versions), ((r.version, r) for r in after.versions)
        ),
        "environments": _changed(prev.environments.items(), after.environments.items()),
        "rollbacks": _changed(
            ((r.id, r) for r in prev.rollbacks), ((r.id, r) for r in after.rollbacks)
        ),
    }


def bounded(prompts: dict[str, Commitment]) -> dict[str, Commitment]:
    """The prompts' commitments, thinned so one audit entry stays small.

    A unit that changes many records (a bulk import) keeps each record's whole digest
    but not its per-field ones; one that is still too large keeps only each prompt's
    entry digest. Either way every byte stays committed; only how precisely a later
    disagreement is named changes.
    """
    kinds = ("versions", "environments", "rollbacks")
    changed = sum(len(c[k]) for c in prompts.values() for k in kinds)
    if changed > FIELD_DIGEST_RECORDS:
        prompts = {
            name: {
                "entry": c["entry"],
                **{k: {key: {WHOLE: d[WHOLE]} for key, d in c[k].items()} for k in kinds},
            }
            for name, c in prompts.items()
        }
    if len(canonical_json(prompts)) > MAX_DETAIL_BYTES:
        prompts = {name: {"entry": c["entry"]} for name, c in prompts.items()}
    return prompts


def changelog_commitment(entries: Iterable[ChangeLogEntry]) -> dict[str, dict[str, str]]:
    """Digests of the change-log entries a unit of work appended, by sequence number."""
    return {str(e.seq): record_digests(e) for e in entries}


def is_committed_file(rel: str) -> bool:
    """True for files whose bytes the audit entry that wrote them commits to."""
    return rel.startswith(COMMITTED_DIRS)


def file_digest(data: bytes | None) -> str | None:
    """sha256 of a committed file's bytes (None: the unit deleted it)."""
    return None if data is None else hashlib.sha256(data).hexdigest()


def differing_fields(record: BaseModel, committed: Mapping[str, str]) -> list[str] | None:
    """None when ``record`` is what was committed, else the fields that differ (empty when
    the commitment kept no per-field digests)."""
    now = record_digests(record)
    if now[WHOLE] == committed.get(WHOLE):
        return None
    named = set(committed) - {WHOLE}
    if not named:
        return []
    return sorted(k for k in (set(now) | named) - {WHOLE} if now.get(k) != committed.get(k))
