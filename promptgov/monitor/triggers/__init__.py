"""The rollback triggers: one class per trigger behind the :class:`Trigger` protocol.

:data:`TRIGGERS` is the table, in the specification's order; :func:`run_triggers` applies
it to a serving version. Triggers only read; :func:`promptgov.actions.monitor.check_triggers`
records their results, counts failing checks in :class:`TriggerState` and acts. See
``docs/triggers.md`` for adding one.
"""

from __future__ import annotations

from collections.abc import Sequence

from .audit_flags import AuditFlags
from .complaints import Complaints
from .drift import Drift
from .eval_regression import EvalRegression
from .failing_tests import FailingTests
from .interface import Trigger
from .state import FailureRun, TriggerState, load_state, next_run
from .vocabulary import (
    ActionTaken,
    CheckContext,
    Subject,
    TriggerName,
    TriggerReport,
    TriggerResult,
    TriggerStatus,
    result,
)

__all__ = [
    "TRIGGERS",
    "ActionTaken",
    "AuditFlags",
    "CheckContext",
    "Complaints",
    "Drift",
    "EvalRegression",
    "FailingTests",
    "FailureRun",
    "Subject",
    "Trigger",
    "TriggerName",
    "TriggerReport",
    "TriggerResult",
    "TriggerState",
    "TriggerStatus",
    "load_state",
    "next_run",
    "result",
    "run_triggers",
]

#: Every trigger, in the order they are checked and reported.
TRIGGERS: tuple[Trigger, ...] = (
    EvalRegression(),
    Drift(),
    FailingTests(),
    Complaints(),
    AuditFlags(),
)


def run_triggers(
    subject: Subject, context: CheckContext, triggers: Sequence[Trigger] = TRIGGERS
) -> list[TriggerResult]:
    """Each trigger's verdict on ``subject``; a trigger disabled by its policy says so.

    Read-only: nothing is written, whatever the verdicts.

    Raises:
        InputError: an override in ``context`` is invalid for a trigger's policy.
    """
    out = []
    for trigger in triggers:
        policy = trigger.policy(context)
        if policy.enabled:
            out.append(trigger.check(subject, context))
        else:
            out.append(
                result(trigger.name, policy, TriggerStatus.DISABLED, "disabled in promptgov.yml")
            )
    return out
