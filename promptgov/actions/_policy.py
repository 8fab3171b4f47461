"""Approval policy shared by the actions that count people: who may approve, whose counts."""

from __future__ import annotations

from ..model import ProjectConfig, VersionRecord


def allowed_approver(config: ProjectConfig, env: str, who: str) -> bool:
    """Whether ``who`` may approve for ``env`` (names or ``@group`` members; empty = anyone)."""
    policy = config.environment(env)
    assert policy is not None
    allowed = policy.approvals.approvers
    if not allowed:
        return True
    for a in allowed:
        if a.startswith("@") and who in config.groups.get(a[1:], []):
            return True
        if a == who:
            return True
    return False


def valid_approvers(config: ProjectConfig, env: str, rec: VersionRecord) -> list[str]:
    """The distinct approvers of ``rec`` for ``env`` that the policy counts."""
    policy = config.environment(env)
    assert policy is not None
    return sorted(
        {
            a.by
            for a in rec.approvals
            if a.env == env
            and allowed_approver(config, env, a.by)
            and (policy.approvals.allow_self_approval or a.by != rec.author)
        }
    )
