"""The complaints trigger: complaints about the serving content within the policy window."""

from __future__ import annotations

from ..feedback import complaints
from ..policy import ComplaintsPolicy, format_duration
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult, TriggerStatus, result

__all__ = ["Complaints"]


class Complaints:
    """Fires on ``count`` complaints in ``window``, or on one at ``severity`` or worse."""

    name = TriggerName.COMPLAINTS

    def policy(self, context: CheckContext) -> ComplaintsPolicy:
        """The ``complaints`` policy."""
        return context.policies.complaints

    def check(self, subject: Subject, context: CheckContext) -> TriggerResult:
        """Complaints about the serving content in its environment, up to the check time."""
        pol, now = self.policy(context), context.at
        since = now - pol.window if pol.window is not None else None
        found = [
            c
            for c in complaints(
                context.registry,
                subject.name,
                env=subject.env,
                sha256=subject.record.sha256,
                since=since,
            )
            if c.at <= now
        ]
        severities = [c.severity for c in found]
        worst = max(severities, key=lambda s: s.rank) if severities else None
        span = f" in the last {format_duration(pol.window)}" if pol.window is not None else ""
        summary = (
            f"{len(found)} complaint(s){span}"
            + (f", worst {worst.value}" if worst else "")
            + f" (fires at {pol.count}, or one ≥ {pol.severity.value})"
        )
        return result(
            self.name,
            pol,
            TriggerStatus.FIRED if pol.fires(severities) else TriggerStatus.NOT_FIRED,
            summary,
            measured={"count": len(found), "worst_severity": worst.value if worst else None},
            thresholds={
                "count": pol.count,
                "severity": pol.severity.value,
                "window": format_duration(pol.window) if pol.window else None,
            },
            samples={"complaints": len(found)},
            observation=found[-1].id if found else None,
            details={
                "complaints": [
                    {
                        "id": c.id,
                        "at": c.at.isoformat(),
                        "by": c.by,
                        "severity": c.severity.value,
                        "version": c.version,
                        "text": c.text[:200],
                    }
                    for c in found
                ]
            },
        )
