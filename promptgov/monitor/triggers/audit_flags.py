"""The audit-flags trigger: an auditor's flag on the serving content."""

from __future__ import annotations

from ..policy import AuditFlagsPolicy
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult, TriggerStatus, result

__all__ = ["AuditFlags"]


class AuditFlags:
    """Fires when any version with the serving content's hash is quarantined by an auditor."""

    name = TriggerName.AUDIT_FLAGS

    def policy(self, context: CheckContext) -> AuditFlagsPolicy:
        """The ``audit_flags`` policy."""
        return context.policies.audit_flags

    def check(self, subject: Subject, context: CheckContext) -> TriggerResult:
        """Flags on the serving content (any version with the same hash)."""
        pol = self.policy(context)
        flags = [
            (r.version, r.quarantine)
            for r in subject.entry.versions
            if r.sha256 == subject.record.sha256
            and r.quarantine is not None
            and r.quarantine.source == "audit-flag"
        ]
        if not flags:
            return result(
                self.name,
                pol,
                TriggerStatus.NOT_FIRED,
                "the serving version is not flagged",
                measured={"flags": 0},
                thresholds={"flags": 1},
            )
        summary = "; ".join(f"{v} flagged by {q.by}: {q.reason}" for v, q in flags)
        return result(
            self.name,
            pol,
            TriggerStatus.FIRED,
            summary,
            measured={"flags": len(flags)},
            thresholds={"flags": 1},
            observation=max(q.at for _, q in flags).isoformat(),
            details={
                "flags": [
                    {"version": v, "by": q.by, "reason": q.reason, "at": q.at.isoformat()}
                    for v, q in flags
                ]
            },
        )
