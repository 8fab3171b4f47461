"""Re-chaining one history's audit entries after another's, for the git merge driver.

The replayed entries keep what they recorded (actor, time, reason, evidence) and get new
sequence numbers and links; each says which entry it was (``details.replayed``). A last
``merge`` entry commits to the merged registry wherever the replayed commitments (made in
the other clone, before the merge) no longer describe it, so ``verify`` is clean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Conflict
from ..model import ChangeLogEntry, PromptEntry
from ..store.commitments import bounded, differing_fields, entry_digest, record_digests
from ..store.merge3 import Sides, remap_refs
from ._chain import iter_records
from ._markdown import HEADER, render_entry
from ._record import GENESIS_HASH, AuditRecord, seal
from ._state import replay

#: The action of the entry that closes a merge.
MERGE_ACTION = "merge"


def shared_prefix(base: bytes, first: bytes, second: bytes, labels: tuple[str, str]) -> int:
    """How many entries the ancestor's log has, once both logs are shown to extend it.

    Raises:
        Conflict: a log rewrote or lost entries the ancestor has.
    """
    old = [r.get("hash") for r in iter_records(base)]
    for label, data in zip(labels, (first, second), strict=True):
        have = [r.get("hash") for r in iter_records(data)][: len(old)]
        if have != old:
            raise Conflict(
                f"cannot merge the audit log: {label} does not extend the common ancestor's "
                f"{len(old)} entries (it was rewritten or truncated)."
            )
    return len(old)


def new_records(data: bytes, base_entries: int) -> list[dict[str, Any]]:
    """The records of ``data`` after the ancestor's ``base_entries``."""
    return list(iter_records(data))[base_entries:]


def rechain(
    first: bytes,
    replayed: list[dict[str, Any]],
    sides: Sides,
    changelog_map: Mapping[int, ChangeLogEntry],
    registry: Mapping[str, PromptEntry],
    *,
    actor: str,
    reason: str,
    details: dict[str, Any],
) -> bytes:
    """``first`` with ``replayed`` re-chained after it, then the closing ``merge`` entry.

    Deterministic: the merge entry is dated like the latest entry merged, so every
    invocation of the driver (one per file) computes the same log.
    """
    records = list(iter_records(first))
    head = (records[-1]["seq"], records[-1]["hash"]) if records else (0, GENESIS_HASH)
    out = bytearray(first if first else HEADER)
    latest = max((str(r.get("time", "")) for r in [*records[-1:], *replayed]), default="")
    for obj in replayed:
        record = _replayed_record(obj, sides, changelog_map)
        head = _append(out, record, head, str(obj.get("time") or latest))
    log = bytes(out)
    state = _commitments(log, registry)
    closing = AuditRecord.model_validate(
        {
            "action": MERGE_ACTION,
            "actor": actor,
            "reason": reason,
            "outcome": "success",
            "details": {**details, "state": state} if state else details,
        }
    )
    _append(out, closing, head, latest or None)
    return bytes(out)


def _append(out: bytearray, record: AuditRecord, head: tuple[int, str], time: str | None) -> Any:
    entry, line = seal(record, seq=head[0] + 1, prev_hash=head[1], time=time)
    out += render_entry(entry.model_dump(mode="json"), line)
    return entry.seq, entry.hash


def _replayed_record(
    obj: dict[str, Any], sides: Sides, changelog_map: Mapping[int, ChangeLogEntry]
) -> AuditRecord:
    """The stored record ``obj`` as it stands in the merged history."""
    fields = {k: obj[k] for k in AuditRecord.model_fields if k in obj}
    details = remap_refs(dict(obj.get("details") or {}), sides)
    state = details.get("state")
    if isinstance(state, dict) and isinstance(state.get("changelog"), dict):
        renumbered = {}
        for key, digests in state["changelog"].items():
            entry = changelog_map.get(int(key)) if str(key).isdigit() else None
            renumbered[str(entry.seq) if entry else key] = (
                record_digests(entry) if entry else digests
            )
        details["state"] = {**state, "changelog": renumbered}
    details["replayed"] = {"seq": obj.get("seq"), "hash": obj.get("hash")}
    return AuditRecord.model_validate({**fields, "details": details})


def _commitments(log: bytes, registry: Mapping[str, PromptEntry]) -> dict[str, Any]:
    """What the merge entry must commit to: each prompt the chain no longer describes."""
    chain = replay(log)
    prompts: dict[str, Any] = {}
    for name, entry in registry.items():
        committed = chain.prompts.get(name)
        if committed is not None and committed.entry == entry_digest(entry):
            continue
        kinds: list[tuple[str, dict[str, Any], dict[str, tuple[int, dict[str, str]]]]] = [
            ("versions", {r.version: r for r in entry.versions}, {}),
            ("environments", dict(entry.environments), {}),
            ("rollbacks", {r.id: r for r in entry.rollbacks}, {}),
        ]
        c: dict[str, Any] = {"entry": entry_digest(entry)}
        for kind, records, empty in kinds:
            known = getattr(committed, kind) if committed is not None else empty
            c[kind] = {
                key: record_digests(rec)
                for key, rec in records.items()
                if key not in known or differing_fields(rec, known[key][1]) is not None
            }
        prompts[name] = c
    return {"prompts": bounded(prompts)} if prompts else {}
