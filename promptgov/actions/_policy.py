"""Approval policy shared by the actions that count people: who may approve, whose counts."""

from __future__ import annotations

from ..model import ProjectConfig, VersionRecord, identity_key


def allowed_approver(config: ProjectConfig, env: str, who: str) -> bool:
    """Whether ``who`` may approve for ``env`` (names or ``@group`` members; empty = anyone)."""
    policy = config.environment(env)
    assert policy is not None
    allowed = policy.approvals.approvers
    if not allowed:
        return True
    key = identity_key(who)
    for a in allowed:
        members = config.groups.get(a[1:], []) if a.startswith("@") else [a]
        if any(identity_key(m) == key for m in members):
            return True
    return False


def same_person(a: str, b: str) -> bool:
    """Whether two recorded names are one person (see :func:`promptgov.model.identity_key`)."""
    return identity_key(a) == identity_key(b)


def valid_approvers(config: ProjectConfig, env: str, rec: VersionRecord) -> list[str]:
    """The distinct approvers of ``rec`` for ``env`` that the policy counts."""
    policy = config.environment(env)
    assert policy is not None
    counted: dict[str, str] = {}
    for a in rec.approvals:
        if (
            a.env == env
            and allowed_approver(config, env, a.by)
            and (policy.approvals.allow_self_approval or not same_person(a.by, rec.author))
        ):
            counted.setdefault(identity_key(a.by), a.by)
    return sorted(counted.values())
