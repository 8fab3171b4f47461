"""Each trigger class through the Trigger protocol, on a real repository; the table itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptgov import ComplaintOptions, FlagOptions, Registry
from promptgov.actions.feedback import flag_version, report_complaint
from promptgov.actions.monitor import load_policy
from promptgov.model import utcnow
from promptgov.monitor.triggers import (
    TRIGGERS,
    AuditFlags,
    CheckContext,
    Complaints,
    Drift,
    EvalRegression,
    FailingTests,
    Subject,
    Trigger,
    TriggerName,
    TriggerStatus,
    run_triggers,
)
from tests import flows
from tests.conftest import snapshot
from tests.test_triggers import cases, release_imported, set_policy

PROMPT = flows.PROMPT


@pytest.fixture
def serving(example_repo: Path) -> Path:
    """prod serves support-reply@1.0.0 with one eval run, flagged and complained about."""
    release_imported(example_repo, "1.0.0", cases(40))
    reg = Registry(example_repo)
    report_complaint(
        reg, PROMPT, ComplaintOptions(complaint="harmful", severity="critical"), by="u"
    )
    flag_version(reg, f"{PROMPT}@1.0.0", FlagOptions(reason="PII"), by="auditor")
    return example_repo


def context(root: Path) -> tuple[Subject, CheckContext]:
    reg = Registry(root)
    return Subject.serving(reg, PROMPT, "prod"), CheckContext(reg, load_policy(reg.repo), utcnow())


def test_the_table_holds_every_trigger_once_in_the_specified_order() -> None:
    assert [t.name for t in TRIGGERS] == list(TriggerName)
    assert all(isinstance(t, Trigger) for t in TRIGGERS)


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (EvalRegression(), TriggerStatus.INSUFFICIENT_DATA),  # one run: nothing to compare
        (Drift(), TriggerStatus.INSUFFICIENT_DATA),  # no production logs
        (FailingTests(), TriggerStatus.INSUFFICIENT_DATA),  # no scheduled re-run
        (Complaints(), TriggerStatus.FIRED),  # one critical complaint
        (AuditFlags(), TriggerStatus.FIRED),  # flagged by the auditor
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, TriggerStatus) else v.value,
)
def test_each_trigger_answers_through_the_protocol_and_writes_nothing(
    serving: Path, trigger: Trigger, expected: TriggerStatus
) -> None:
    subject, ctx = context(serving)
    before = snapshot(serving)

    policy = trigger.policy(ctx)
    got = trigger.check(subject, ctx)

    assert policy.enabled
    assert got.trigger is trigger.name and got.status is expected
    assert got.action is policy.action
    assert got.consecutive_failures == policy.consecutive_failures
    assert snapshot(serving) == before


def test_a_disabled_trigger_is_not_asked(serving: Path) -> None:
    set_policy(serving, {"audit_flags": {"enabled": False}})
    subject, ctx = context(serving)

    results = {r.trigger: r for r in run_triggers(subject, ctx)}

    assert results[TriggerName.AUDIT_FLAGS].status is TriggerStatus.DISABLED
    assert results[TriggerName.COMPLAINTS].status is TriggerStatus.FIRED


def test_run_triggers_takes_any_table(serving: Path) -> None:
    subject, ctx = context(serving)
    (only,) = run_triggers(subject, ctx, triggers=(AuditFlags(),))
    assert only.trigger is TriggerName.AUDIT_FLAGS and only.status is TriggerStatus.FIRED
