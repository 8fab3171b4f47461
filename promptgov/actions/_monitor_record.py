"""Recording a trigger check and acting on it: the unit of work, notifications, auto rollback.

Private to :mod:`promptgov.actions.monitor`: :func:`record_check` writes everything a check
leaves behind in one unit of work and decides what follows; :func:`notify_fired` and
:func:`auto_rollback` do it after the commit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..errors import InputError, PromptGovError
from ..model import Environment
from ..monitor.policy import Action
from ..monitor.triggers import (
    ActionTaken,
    FailureRun,
    Subject,
    TriggerName,
    TriggerReport,
    TriggerStatus,
    load_state,
    next_run,
)
from ..registry import Registry
from . import _publish

if TYPE_CHECKING:
    from .monitor import CheckOptions

TRIGGERS_DIR = "logs/triggers"
#: The actor of trigger audit entries: the tool itself, on a schedule.
ACTOR = "promptgov"


# --------------------------------------------------------------------------- record


@dataclass
class Due:
    """What the recorded check decided to do after the commit."""

    notify: list[str] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    pending_seq: int | None = None


def _state_dir(name: str, env: str) -> str:
    return f"{TRIGGERS_DIR}/{name}/{env}"


def record_check(
    registry: Registry, report: TriggerReport, subj: Subject, options: CheckOptions
) -> Due:
    """One unit of work: evidence files, report, state, check history, audit entries."""
    base = _state_dir(subj.name, subj.env)
    stamp = f"{report.checked_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    report.report = f"{base}/{stamp}-{report.version}.json"
    at = report.checked_at
    due = Due()
    with registry.repo.edit() as e:
        rel = f"{base}/state.json"
        state = load_state(e.txn.read(rel), rel, report.version, report.sha256)
        runs: dict[TriggerName, FailureRun] = dict(state.triggers)
        results, resets, counted = [], [], []
        for r in report.results:
            evidence = list(r.evidence)
            for suffix, data in r.files.items():
                path = f"{base}/{stamp}-{report.version}{suffix}"
                e.txn.write(path, data)
                evidence.append(path)
            prev = state.triggers.get(r.trigger)
            nxt = next_run(prev, r, at)
            if nxt is None:
                runs.pop(r.trigger, None)
                if prev and prev.streak:
                    resets.append(r.trigger.value)
            else:
                runs[r.trigger] = nxt
                if nxt is not prev:
                    counted.append(r.trigger.value)
            results.append(replace(r, evidence=tuple(evidence), streak=nxt.streak if nxt else 0))
        report.results = results
        _plan_actions(report, runs, due, options)
        evidence = [
            report.report,
            *(p for r in results for p in r.evidence if p.startswith(TRIGGERS_DIR)),
        ]
        statuses = {r.trigger.value: r.status.value for r in results}
        streaks = {r.trigger.value: r.streak for r in results}
        # Every check is in checks.jsonl; the audit log gets the ones that moved a count.
        if counted or resets or due.rollback:
            report.audit_seq = e.audit(
                action="trigger",
                actor=ACTOR,
                prompt=subj.name,
                env=subj.env,
                to_version=report.version,
                to_sha256=report.sha256,
                reason=_reason(report, resets),
                evidence=evidence,
                details={"statuses": statuses, "streaks": streaks, "reset": resets},
            )
        if due.rollback:
            due.pending_seq = e.audit(
                action="auto-rollback",
                actor=f"policy:{due.rollback[0]}",
                on_behalf_of=subj.owners[0],
                prompt=subj.name,
                env=subj.env,
                from_version=report.version,
                from_sha256=report.sha256,
                reason=f"{', '.join(due.rollback)} fired in consecutive checks; rolling back",
                outcome="pending",
                evidence=evidence,
                details={"triggers": due.rollback},
            )
        new = state.model_copy(update={"triggers": runs, "updated_at": at})
        e.write_json(report.report, report.to_dict())
        e.write_json(rel, new.to_json())
        line = {
            "at": at.isoformat(),
            "version": report.version,
            "report": report.report,
            "statuses": statuses,
            "streaks": streaks,
        }
        e.txn.append(f"{base}/checks.jsonl", (json.dumps(line) + "\n").encode())
    return due


def _plan_actions(
    report: TriggerReport,
    runs: dict[TriggerName, FailureRun],
    due: Due,
    options: CheckOptions,
) -> None:
    """Decide notifications (once per run of failures) and rollbacks (at k, once per run)."""
    for r in report.results:
        if r.status is not TriggerStatus.FIRED:
            continue
        run = runs[r.trigger]
        if options.notify and not run.notified:
            run = runs[r.trigger] = run.model_copy(update={"notified": True})
            due.notify.append(r.trigger.value)
        if r.action is not Action.ROLLBACK:
            continue
        k = r.consecutive_failures
        if r.streak < k:
            report.actions.append(
                ActionTaken(
                    "waiting",
                    (r.trigger.value,),
                    True,
                    f"{r.streak} of {k} consecutive failing checks before an automatic rollback",
                )
            )
        elif not options.auto_rollback:
            report.actions.append(
                ActionTaken(
                    "due",
                    (r.trigger.value,),
                    True,
                    f"{r.streak} of {k} consecutive failing checks: the policy says roll back; run "
                    f"'promptgov monitor --auto-rollback' or 'promptgov rollback {report.prompt} --env {report.env}'",
                )
            )
        elif not run.rollback_attempted:
            runs[r.trigger] = run.model_copy(update={"rollback_attempted": True})
            due.rollback.append(r.trigger.value)


def _reason(report: TriggerReport, resets: list[str]) -> str:
    parts = [
        f"{r.trigger.value} fired ({r.streak} of {r.consecutive_failures})"
        for r in report.results
        if r.status is TriggerStatus.FIRED
    ]
    parts += [f"{t} no longer fires (count reset)" for t in resets]
    return "; ".join(parts)


# --------------------------------------------------------------------------- act


def notify_fired(
    registry: Registry,
    report: TriggerReport,
    subj: Subject,
    fired: list[str],
    options: CheckOptions,
) -> None:
    """Announce newly fired triggers to the owners; failures wait in the outbox."""
    from ..notify import render_notification
    from .notify import announce

    results = [report.result(t) for t in fired]
    changes = [r.details["model_change"] for r in results if r.details.get("model_change")]
    note = render_notification(
        "trigger",
        prompt=subj.name,
        env=subj.env,
        from_version=report.version,
        to_version=report.last_known_good,
        reason="; ".join(f"{r.trigger.value}: {r.summary}" for r in results),
        evidence=[report.report or "", *(e for r in results for e in r.evidence)],
        owners=subj.owners,
        key=f"trigger-{report.report}",
        model_change="; ".join(changes) or None,
        extra={
            "triggers": ", ".join(fired),
            "actions": ", ".join(f"{r.trigger.value} → {r.action.value}" for r in results),
            "last_known_good": None
            if report.last_known_good
            else f"none ({report.no_last_known_good})",
        },
    )
    deliveries = announce(
        registry.repo,
        note,
        prompt=subj.name,
        env=subj.env,
        version=report.version,
        policy=options.notify_policy,
        details={"report": report.report},
    )
    report.actions.append(
        ActionTaken(
            "notify",
            tuple(fired),
            all(d.ok for d in deliveries),
            f"{len(deliveries)} target(s) notified"
            if deliveries
            else "no notification target subscribes to triggers",
            {"deliveries": [d.to_dict() for d in deliveries]},
        )
    )


def auto_rollback(
    registry: Registry,
    report: TriggerReport,
    subj: Subject,
    due: Due,
    options: CheckOptions,
) -> None:
    """Run the full rollback flow with the policy as authorizer; settle the pending entry."""
    from .rollback import POLICY_ACTOR, RollbackOptions, rollback

    lead = due.rollback[0]
    evidence = [report.report or "", *(e for t in due.rollback for e in report.result(t).evidence)]
    current = registry.entry(subj.name).environments.get(subj.env, Environment()).current
    try:
        if current != report.version:
            raise InputError(f"{subj.env} moved to {current} since the check; nothing rolled back")
        why = "; ".join(f"{t}: {report.result(t).summary}" for t in due.rollback)
        rb_options = RollbackOptions(
            reason=f"automatic rollback: {why}"[:500],
            env=subj.env,
            evidence=tuple(evidence),
            run_options=options.run_options,
            notify_policy=options.notify_policy,
        )
        res = rollback(registry, subj.name, rb_options, by=f"{POLICY_ACTOR}{lead}")
        record = res.record
        action = ActionTaken(
            "rollback",
            tuple(due.rollback),
            True,
            f"rolled back {report.version} → {res.plan.new_version} (restored {res.plan.target})",
            {
                "rollback_id": record.id if record else None,
                "new_version": res.plan.new_version,
                "restored": res.plan.target,
                "authorized_by": f"policy:{lead}",
            },
        )
    except PromptGovError as exc:
        action = ActionTaken(
            "rollback", tuple(due.rollback), False, exc.message, {"error": type(exc).__name__}
        )
    report.actions.append(action)
    repo = registry.repo
    with repo.edit() as e:
        seq = e.audit(
            action="auto-rollback",
            actor=f"policy:{lead}",
            on_behalf_of=subj.owners[0],
            prompt=subj.name,
            env=subj.env,
            from_version=report.version,
            from_sha256=report.sha256,
            reason=action.detail,
            outcome="success" if action.ok else "failure",
            error=None if action.ok else action.detail,
            evidence=evidence,
            details={"pending_seq": due.pending_seq, **action.data},
        )
    # The rollback's commit was made before this settlement: commit it too, so git holds
    # the whole automatic rollback.
    try:
        _publish.commit_entry(repo, seq, "auto-rollback", subj.name, subj.env, action.detail)
    except PromptGovError as exc:
        report.actions.append(
            ActionTaken("commit", tuple(due.rollback), False, f"git: {exc.message}", {})
        )
