"""The version lifecycle: one state machine, in one table.

Every status change of a :class:`~promptgov.model.VersionRecord` goes through
:func:`transition`, and ``docs/prompt-lifecycle-diagram.md`` is generated from
:data:`TRANSITIONS`, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import re

from . import _mermaid
from .errors import Conflict
from .model import GateVerdict
from .model import LifecycleState as S

#: (from, to) → the event that causes it.
TRANSITIONS: dict[tuple[S, S], str] = {
    (S.CANDIDATE, S.EVALUATED_PASSED): "gate passes",
    (S.CANDIDATE, S.EVALUATED_FAILED): "gate fails / inconclusive",
    (S.EVALUATED_FAILED, S.EVALUATED_PASSED): "re-evaluated, gate passes",
    (S.EVALUATED_PASSED, S.EVALUATED_FAILED): "re-evaluated, gate fails",
    (S.EVALUATED_PASSED, S.APPROVED): "approval recorded",
    (S.EVALUATED_FAILED, S.APPROVED): "approval recorded (inconclusive accepted)",
    (S.APPROVED, S.APPROVED): "further approval",
    (S.EVALUATED_PASSED, S.DEPLOYED): "promoted",
    (S.APPROVED, S.DEPLOYED): "promoted",
    (S.CANDIDATE, S.DEPLOYED): "emergency promotion / rollback restore",
    (S.EVALUATED_FAILED, S.DEPLOYED): "emergency promotion",
    (S.DEPLOYED, S.DEPLOYED): "promoted to a further environment",
    (S.DEPLOYED, S.SUPERSEDED): "replaced in every environment",
    (S.SUPERSEDED, S.DEPLOYED): "promoted again / restored by rollback",
    (S.DEPLOYED, S.QUARANTINED): "rolled back from / flagged",
    (S.SUPERSEDED, S.QUARANTINED): "flagged by audit / complaint",
    (S.APPROVED, S.QUARANTINED): "flagged by audit / complaint",
    (S.EVALUATED_PASSED, S.QUARANTINED): "flagged by audit / complaint",
    (S.EVALUATED_FAILED, S.QUARANTINED): "flagged by audit / complaint",
    (S.CANDIDATE, S.QUARANTINED): "flagged by audit / complaint",
    (S.QUARANTINED, S.SUPERSEDED): "quarantine cleared by an approver",
    (S.QUARANTINED, S.DEPLOYED): "emergency re-deploy of a quarantined version",
    (S.DEPLOYED, S.EVALUATED_PASSED): "scheduled re-run passes (pointer unchanged)",
    (S.DEPLOYED, S.EVALUATED_FAILED): "scheduled re-run fails (pointer unchanged)",
    **{(s, S.RETIRED): "retired" for s in S if s is not S.RETIRED and s is not S.DEPLOYED},
}


def can_transition(current: S, target: S) -> bool:
    """True when the table allows ``current → target`` (staying put is always allowed)."""
    return current == target or (current, target) in TRANSITIONS


def transition(current: S, target: S, *, version: str = "") -> S:
    """Return ``target`` if allowed, else raise :class:`~promptgov.errors.Conflict`."""
    if not can_transition(current, target):
        raise Conflict(
            f"version {version} is {current.value}; it cannot become {target.value} "
            "(see docs/prompt-lifecycle-diagram.md for the allowed transitions)."
        )
    return target


#: States a gate verdict moves (a deployed or quarantined version keeps its state).
_GATED = (S.CANDIDATE, S.EVALUATED_PASSED, S.EVALUATED_FAILED)
#: States an approval moves to ``approved``.
_APPROVABLE = (S.EVALUATED_PASSED, S.EVALUATED_FAILED, S.APPROVED)


def after_gate(current: S, verdict: GateVerdict, *, version: str = "") -> S:
    """The state after a gate verdict: evaluated (passed or failed) until it is deployed."""
    if current not in _GATED:
        return current
    target = S.EVALUATED_PASSED if verdict is GateVerdict.PASS else S.EVALUATED_FAILED
    return transition(current, target, version=version)


def after_approval(current: S, *, version: str = "") -> S:
    """The state after an approval: approved, once the version has been evaluated."""
    if current not in _APPROVABLE:
        return current
    return transition(current, S.APPROVED, version=version)


def quarantine(current: S, *, version: str = "") -> S:
    """The state of a version flagged or rolled back from (a retired one stays retired)."""
    if not can_transition(current, S.QUARANTINED):
        return current
    return transition(current, S.QUARANTINED, version=version)


def release(current: S, *, serving: bool, version: str = "") -> S:
    """The state once a quarantine is lifted: deployed where it still serves, else superseded."""
    if current is not S.QUARANTINED:
        return current
    return transition(current, S.DEPLOYED if serving else S.SUPERSEDED, version=version)


def mermaid() -> str:
    """The state machine as a Mermaid state diagram (labels escaped: see ``_mermaid``)."""
    lines = ["stateDiagram-v2"]
    lines += [f"    state {_mermaid.label(state.value)} as {_node(state)}" for state in S]
    lines.append(f"    [*] --> {_node(S.CANDIDATE)}: {_mermaid.escape('promptgov add')}")
    for (src, dst), why in TRANSITIONS.items():
        if src == dst:
            continue
        lines.append(f"    {_node(src)} --> {_node(dst)}: {_mermaid.escape(why)}")
    lines.append(f"    {_node(S.RETIRED)} --> [*]")
    return "\n".join(lines)


def _node(state: S) -> str:
    """The state's diagram id: generated, so no state name can be read as a keyword."""
    return "s_" + re.sub(r"\W", "_", state.value)
