"""Three-way merges of the registry and the change log, for the git merge driver.

Two clones each append to one history. The merge keeps one side (``first``) as it is and
replays what the other side (``second``) added since the common ancestor on top of it:
its audit entries get new sequence numbers (``offset`` more), so every reference to one
(``audit_seq``) in its records is renumbered, and its change-log entries follow the first
side's. Records both sides changed are merged field by field; a real conflict (two moves
of one environment, one version changed two ways, a move to a version the other side
quarantined) is refused with :class:`~promptgov.errors.Conflict` naming both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Conflict
from ..model import ChangeLogEntry, PromptEntry, validate_model
from . import changelog

#: Keys whose integer values name an audit entry by sequence number.
#: (``proposal_seq``: a policy approval or change naming its proposal.)
AUDIT_REF_KEYS = frozenset({"audit_seq", "pending_seq", "proposal_seq"})

Json = dict[str, Any]


@dataclass(frozen=True)
class Sides:
    """How the two sides are named in messages, and how the second side is renumbered."""

    first: str
    second: str
    base_seq: int
    """The common ancestor's last audit entry: references up to it stay as they are."""
    offset: int
    """How many entries the first side added: the second side's new numbers move by it."""

    def remap(self, seq: int) -> int:
        """The merged sequence number of the second side's entry ``seq``."""
        return seq + self.offset if seq > self.base_seq else seq

    def original(self, seq: int) -> int:
        """The number a renumbered second-side entry had in its own history."""
        return seq - self.offset if seq > self.base_seq + self.offset else seq


def remap_refs(value: Any, sides: Sides) -> Any:
    """``value`` (JSON) with every audit reference of the second side renumbered."""
    if isinstance(value, dict):
        return {
            k: sides.remap(v) if k in AUDIT_REF_KEYS and type(v) is int else remap_refs(v, sides)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [remap_refs(v, sides) for v in value]
    return value


# ---------------------------------------------------------------------------- the registry


def merge_registry(
    base: Mapping[str, PromptEntry],
    first: Mapping[str, PromptEntry],
    second: Mapping[str, PromptEntry],
    sides: Sides,
) -> dict[str, PromptEntry]:
    """Every prompt of the merged registry, by name (sorted).

    Raises:
        Conflict: both sides changed the same thing in ways that cannot both hold.
    """
    out: dict[str, PromptEntry] = {}
    for name in sorted(set(base) | set(first) | set(second)):
        b = _dump(base.get(name))
        f = _dump(first.get(name))
        s = remap_refs(_dump(second.get(name)), sides)
        if f is None or s is None:
            if b is not None:
                gone = sides.first if f is None else sides.second
                raise Conflict(f"cannot merge: {name} is missing from the registry of {gone}.")
            merged = f if s is None else s
        elif s == b or f == s:
            merged = f
        elif f == b:
            merged = s
        else:
            merged = _merge_prompt(name, b or {}, f, s, sides)
        out[name] = validate_model(PromptEntry, merged, f"merged registry entry of {name}")
    return out


def _dump(entry: PromptEntry | None) -> Json | None:
    return None if entry is None else entry.model_dump(mode="json")


def _merge_prompt(name: str, b: Json, f: Json, s: Json, sides: Sides) -> Json:
    """One prompt both sides changed: versions, environments, rollbacks, reviews."""
    out = dict(f)
    out["versions"] = _merge_keyed(
        b.get("versions", []), f["versions"], s["versions"], "version", lambda k: f"{name}@{k}"
    )
    out["rollbacks"] = _merge_keyed(
        b.get("rollbacks", []),
        f.get("rollbacks", []),
        s.get("rollbacks", []),
        "id",
        lambda k: f"rollback {k} of {name}",
    )
    out["environments"] = _merge_envs(name, b, f, s, out["versions"], sides)
    if "post_reviews" in f or "post_reviews" in s:
        out["post_reviews"] = _union(
            b.get("post_reviews", []), f.get("post_reviews", []), s.get("post_reviews", [])
        )
    for key in set(f) | set(s):
        if key not in ("versions", "rollbacks", "environments", "post_reviews"):
            out[key] = _merge_value(b.get(key), f.get(key), s.get(key), f"{name} {key}")
    return out


def _merge_keyed(
    b: list[Json], f: list[Json], s: list[Json], key: str, label: Callable[[str], str]
) -> list[Json]:
    """Lists of records identified by ``key``: the first side's order, then the second's new."""
    base = {r[key]: r for r in b}
    mine = {r[key]: r for r in f}
    theirs = {r[key]: r for r in s}
    out = []
    for k in [*mine, *(k for k in theirs if k not in mine)]:
        out.append(_merge_record(base.get(k), mine.get(k), theirs.get(k), label(k)))
    return out


def _merge_record(b: Json | None, f: Json | None, s: Json | None, label: str) -> Json:
    if f is None or s is None:
        rec = f if s is None else s
        assert rec is not None
        return rec
    if s == b or f == s:
        return f
    if f == b:
        return s
    if b is None:
        raise Conflict(f"cannot merge {label}: both sides recorded it, with different contents.")
    return {k: _merge_value(b.get(k), f.get(k), s.get(k), f"{label} {k}") for k in {**f, **s}}


def _merge_value(b: Any, f: Any, s: Any, label: str) -> Any:
    """One field: the side that changed it wins; lists that both only grew are joined."""
    if s == b or f == s:
        return f
    if f == b:
        return s
    if isinstance(b, list) and isinstance(f, list) and isinstance(s, list):
        if f[: len(b)] == b and s[: len(b)] == b:
            return _union(b, f, s)
    raise Conflict(f"cannot merge {label}: both sides changed it ({_short(f)} and {_short(s)}).")


def _union(b: list[Any], f: list[Any], s: list[Any]) -> list[Any]:
    return [*f, *(x for x in s if x not in f and x not in b)]


def _merge_envs(
    name: str, b: Json, f: Json, s: Json, versions: list[Json], sides: Sides
) -> dict[str, Json]:
    """Environment pointers: one side may move each; both moving one is the real conflict."""
    base, mine, theirs = b.get("environments", {}), f["environments"], s["environments"]
    by_version = {v["version"]: v for v in versions}
    out: dict[str, Json] = {}
    for env in [*mine, *(e for e in theirs if e not in mine)]:
        be, fe, se = base.get(env), mine.get(env), theirs.get(env)
        if se is None or se == be or fe == se:
            out[env] = fe if fe is not None else se
            moved, mover, other = fe, sides.first, (b, s)
        elif fe is None or fe == be:
            out[env] = se
            moved, mover, other = se, sides.second, (b, f)
        else:
            raise Conflict(_two_moves(name, env, be, fe, se, sides))
        if moved is not None and moved != be:
            _refuse_quarantined(name, env, moved, mover, other, by_version, sides)
    return out


def _new_moves(before: Json | None, after: Json) -> list[Json]:
    return list(after.get("history", []))[len((before or {}).get("history", [])) :]


def _two_moves(name: str, env: str, be: Json | None, fe: Json, se: Json, sides: Sides) -> str:
    def describe(state: Json, side: str, renumbered: bool) -> str:
        moves = _new_moves(be, state)
        last = moves[-1] if moves else {}
        seq = last.get("audit_seq")
        if renumbered and type(seq) is int:
            seq = sides.original(seq)
        what = f"{last.get('kind', 'move')} {last.get('previous') or '∅'} → {last.get('version')}"
        entry = f"audit entry #{seq}" if seq is not None else "an unaudited move"
        return f"{side} {entry} ({what})"

    return (
        f"cannot merge: both sides moved {name} in {env} — {describe(fe, sides.first, False)} "
        f"and {describe(se, sides.second, True)}; a pointer move compares-and-swaps on the "
        "version it replaces, so only one of them can stand."
    )


def _refuse_quarantined(
    name: str,
    env: str,
    state: Json,
    mover: str,
    other: tuple[Json, Json],
    versions: Mapping[str, Json],
    sides: Sides,
) -> None:
    """A move onto a version the other side quarantined meanwhile is a real conflict."""
    target = state.get("current")
    base, other_side = other
    before = {v["version"]: v for v in base.get("versions", [])}.get(target)
    after = {v["version"]: v for v in other_side.get("versions", [])}.get(target)
    if after is None or after.get("quarantine") is None:
        return
    if before is not None and before.get("quarantine") is not None:
        return
    quarantiner = sides.second if mover == sides.first else sides.first
    raise Conflict(
        f"cannot merge: {mover} moved {name} in {env} to {target}, which {quarantiner} "
        "quarantined; a quarantined version may not be served."
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


# ---------------------------------------------------------------------------- the change log


def merge_changelog(
    base: bytes, first: bytes, second: bytes, sides: Sides
) -> tuple[bytes, dict[int, ChangeLogEntry]]:
    """The merged change log and, by their old numbers, the second side's renumbered entries.

    Raises:
        Conflict: the two sides do not share the ancestor's entries.
    """
    old = changelog.parse(base, "the common ancestor's change log")
    mine = changelog.parse(first, f"the change log of {sides.first}")
    theirs = changelog.parse(second, f"the change log of {sides.second}")
    for side, entries in ((sides.first, mine), (sides.second, theirs)):
        if entries[: len(old)] != old:
            raise Conflict(
                f"cannot merge the change log: {side} rewrote entries the common ancestor has."
            )
    renumbered: dict[int, ChangeLogEntry] = {}
    for i, entry in enumerate(theirs[len(old) :], start=len(mine) + 1):
        data = remap_refs(entry.model_dump(mode="json"), sides)
        renumbered[entry.seq] = ChangeLogEntry.model_validate({**data, "seq": i})
    if not renumbered:
        return first, {}
    return changelog.extend(first or changelog.HEADER.encode(), list(renumbered.values())), (
        renumbered
    )
