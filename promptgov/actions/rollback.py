"""The rollback flow: last known good restored, re-verified, logged and announced.

:func:`rollback` reads as the specification's five steps — locate (in
:mod:`._last_known_good`), restore, re-run evals, log, notify — each one unit of work at
most. The ledger (a :class:`~promptgov.model.RollbackRecord` in the registry) is written
with the restore, before any later effect, and advanced by each step; a step returns at
once when the ledger is past it, so ``rollback --resume`` runs the same pipeline to
finish an interrupted rollback and a repeated one does nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import _yaml
from ..errors import Conflict, GateFailed, InputError, PermissionDenied, PromptGovError
from ..gate import GateReport
from ..lifecycle import quarantine, release
from ..model import (
    Environment,
    GateVerdict,
    LifecycleState,
    MoveKind,
    PointerMove,
    PromptCard,
    PromptContent,
    PromptEntry,
    Quarantine,
    RollbackRecord,
    RollbackStatus,
    VersionRecord,
    identity,
    utcnow,
)
from ..registry import Registry
from ..store import Edit
from ..store.files import Transaction, fault_point
from ..store.paths import PROMPTS_DIR
from . import _publish
from ._last_known_good import locate_last_known_good
from ._policy import allowed_approver
from ._rollback_results import RollbackPlan, RollbackResult
from ._text import FreeText
from .promote import POST_REVIEW_DAYS, move_pointer

if TYPE_CHECKING:
    from ..evals import RunOptions
    from ..notify import NotifyPolicy

DEFAULT_ENV = "prod"
MAX_DESCRIPTION = 200
FOLLOW_UP_DAYS = 1


# --------------------------------------------------------------------------- the flow


@dataclass(frozen=True)
class RollbackOptions(FreeText):
    """Why, where and how to roll back."""

    _free_text = ("reason", "evidence", "description")

    reason: str
    """Why (the audit log, the change log and the owners' notification say it)."""
    env: str = DEFAULT_ENV
    """The environment to roll back."""
    evidence: tuple[str, ...] = ()
    """Links or files: failing eval runs, trigger reports, tickets."""
    to: str | None = None
    """An explicit target instead of the last known good."""
    force: bool = False
    """Restore ``to`` although it is not eligible (recorded)."""
    dry_run: bool = False
    """Run every check and build the record, write nothing."""
    emergency: bool = False
    """Keep the restore even if its re-run gate fails (flagged for follow-up)."""
    skip_evals: bool = False
    """With ``emergency``: do not re-run the evals."""
    description: str | None = None
    """The ledger's short title (default ``Rollback to <target>``)."""
    run_options: RunOptions | None = None
    """How the eval re-run calls providers."""
    notify_policy: NotifyPolicy | None = None
    """Retries and timeouts of the notification step."""


def rollback(registry: Registry, name: str, options: RollbackOptions, *, by: str) -> RollbackResult:
    """Roll ``options.env`` of prompt ``name`` back to its last known good version, as ``by``.

    The specification's five steps, in order: locate the last known good version;
    restore it as a new ``<lkg>-rollback`` version, move the pointer by compare-and-swap
    and quarantine the bad version; re-run the eval suite and gate (undo on failure
    unless ``emergency``); log to the audit log and change log; notify. Each step is one
    unit of work at most and advances the ledger, so :func:`resume` runs the same steps
    from wherever a crash stopped them. ``dry_run`` runs every check and returns the
    plan with the ledger record it would write.

    Raises:
        NotFound: no last known good version (nothing written).
        Conflict: the target is not eligible, the pointer moved, a rollback is unfinished.
        InputError: a missing reason or authorizer, a bad option combination.
        GateFailed: the restored version failed its gate and the rollback was undone.
    """
    by = identity(by)
    _check_request(registry, options, by)
    done = _already_done(registry, name, options.env, options.to)
    if done is not None:
        return done
    plan = locate_last_known_good(registry, name, options.env, to=options.to, force=options.force)
    if options.dry_run:
        return RollbackResult(plan, dry_run=True, would_record=_ledger_record(plan, options, by))
    record = _restore(registry, plan, options, by)
    fault_point("rollback.after-restore")
    return _settle(registry, name, record, options.run_options, options.notify_policy)


def resume(
    registry: Registry,
    name: str | None = None,
    *,
    run_options: RunOptions | None = None,
    notify_policy: NotifyPolicy | None = None,
) -> list[RollbackResult]:
    """Finish every interrupted rollback (of ``name``, or of all prompts).

    Runs under the repository lock from start to end, so concurrent resumes finish each
    rollback once.
    """
    with registry.repo.edit():  # the lock; it also rolls forward a journaled crash
        return [
            _settle(registry, prompt, rec, run_options, notify_policy)
            for prompt, rec in pending_rollbacks(registry)
            if name is None or prompt == name
        ]


def pending_rollbacks(registry: Registry) -> list[tuple[str, RollbackRecord]]:
    """Rollbacks that started and have not reached a terminal state."""
    prompts = registry.repo.registry()
    names = [n for n, _ in prompts.unfinished()]
    return [
        (name, rb)
        for name in sorted(names)
        for rb in prompts[name].rollbacks
        if not rb.status.is_terminal()
    ]


def _settle(
    registry: Registry,
    name: str,
    record: RollbackRecord,
    run_options: RunOptions | None,
    notify_policy: NotifyPolicy | None,
) -> RollbackResult:
    """Steps 3–5; each returns at once when the ledger is already past it."""
    result = RollbackResult(_plan_from_record(name, record), record=record)
    record, result.gate = _rerun_evals(registry, name, record, run_options)
    if record.status is RollbackStatus.UNDONE:
        result.record = record
        _commit(registry, name, record, result)
        raise GateFailed(
            f"rollback of {name} in {record.env} undone: the restored {record.new_version} failed its "
            f"gate ({_gate_summary(result.gate)}); {record.env} serves {record.rollback_of} again. "
            "Use --emergency to keep a restore that fails its gate.",
            prompt=name,
            env=record.env,
        )
    record = _record(registry, name, record)
    fault_point("rollback.after-log")
    result.record = record = _notify(registry, name, record, notify_policy)
    _commit(registry, name, record, result)
    return result


def _commit(registry: Registry, name: str, record: RollbackRecord, result: RollbackResult) -> None:
    """Commit the settled rollback (and move the deploy branch) once its log entries exist.

    Committing at restore time would leave the audit and change-log entries of steps 3–5
    uncommitted, and would deploy a restore that its re-run gate may still undo.
    """
    history = registry.entry(name).environments.get(record.env, Environment()).history
    move = history[-1]
    undone = record.status is RollbackStatus.UNDONE
    view = _MoveView(name, record.env, move, record.audit_seq or move.audit_seq or 0)
    _publish.after_move(registry.repo, view, action="rollback-undo" if undone else "rollback")
    result.warnings.extend(view.warnings)


def _gate_summary(report: GateReport | None) -> str:
    if report is None:
        return "no report"
    return (
        "; ".join(f"{c.name} {c.measured} vs {c.threshold}" for c in report.failed())
        or report.verdict.value
    )


def _check_request(registry: Registry, options: RollbackOptions, by: str) -> None:
    """The request is complete and the configuration usable — checked on dry runs too."""
    if not options.reason.strip():
        raise InputError("a rollback needs --reason: say why, for the audit log and the owners.")
    if not by.strip():
        raise InputError("a rollback needs --authorized-by: who authorized it.")
    if options.skip_evals and not options.emergency:
        raise InputError("--skip-evals is only allowed together with --emergency.")
    if options.force and not options.to:
        raise InputError("--force applies to an explicit --to target; name the version.")
    repo = registry.repo
    repo.check_env(options.env)
    policy = repo.config.environment(options.env)
    assert policy is not None
    if options.emergency and not policy.allow_emergency:
        raise PermissionDenied(
            f"the emergency path is disabled for {options.env} in promptgov.yml; "
            "roll back without --emergency (the restore is then gated)."
        )
    if (options.emergency or options.force) and not allowed_approver(repo.config, options.env, by):
        flag = "--emergency" if options.emergency else "--force"
        raise PermissionDenied(
            f"{by} may not use {flag} in {options.env}: only its approvers may "
            f"({', '.join(policy.approvals.approvers)}; see promptgov.yml)."
        )
    from .verify import check_config_sections

    check_config_sections(registry.repo)  # a bad notifications entry must stop us before any write


def _already_done(registry: Registry, name: str, env: str, to: str | None) -> RollbackResult | None:
    """A repeated rollback: the environment still serves the last completed rollback."""
    entry = registry.entry(name)
    current = entry.environments.get(env, Environment()).current
    for rb in reversed(entry.rollbacks):
        if rb.env != env:
            continue
        if not rb.status.is_terminal():
            raise Conflict(
                f"a rollback of {name} in {env} to {rb.rollback_to} is unfinished ({rb.status.value}); "
                f"finish it with 'promptgov rollback --resume'.",
            )
        if (
            rb.status is RollbackStatus.COMPLETED
            and rb.new_version == current
            and to in (None, rb.rollback_to)
        ):
            return RollbackResult(_plan_from_record(name, rb), record=rb, already_done=True)
        break
    return None


def _plan_from_record(name: str, rb: RollbackRecord) -> RollbackPlan:
    return RollbackPlan(name, rb.env, rb.rollback_of, rb.rollback_to, rb.new_version, [], rb.forced)


# --------------------------------------------------------------------------- 2. restore


def _ledger_record(plan: RollbackPlan, options: RollbackOptions, by: str) -> RollbackRecord:
    """The ledger record the restore writes first (also what a dry run reports)."""
    now = utcnow()
    return RollbackRecord(
        id=f"rb-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        env=plan.env,
        rollback_of=plan.current,
        rollback_to=plan.target,
        new_version=plan.new_version,
        description=(options.description or f"Rollback to {plan.target}")[:MAX_DESCRIPTION],
        reason=options.reason,
        authorized_by=by,
        evidence=list(options.evidence),
        started_at=now,
        status=RollbackStatus.RESTORED,
        emergency=options.emergency,
        skip_evals=options.skip_evals,
        forced=plan.forced,
    )


def _restore(
    registry: Registry, plan: RollbackPlan, options: RollbackOptions, by: str
) -> RollbackRecord:
    """Step 2, one unit of work: rollback version, pointer CAS, quarantine, ledger, working
    copy, audit entry."""
    repo = registry.repo
    # Reading the content re-verifies its hash before anything is written.
    content = repo.get_content(registry.record(plan.prompt, plan.target).sha256)
    record = _ledger_record(plan, options, by)
    reason, evidence, now = options.reason, list(options.evidence), record.started_at
    # An emergency rollback is reviewed afterwards, like an emergency promotion.
    review_due = now + timedelta(days=POST_REVIEW_DAYS) if options.emergency else None
    with repo.edit(plan.prompt) as e:
        state = e.entry.environments.get(plan.env, Environment())
        if state.current != plan.current:
            raise Conflict(
                f"{plan.env} moved meanwhile: it now serves {state.current}, not {plan.current}; "
                "nothing was changed. Re-run the rollback to plan again.",
                env=plan.env,
            )
        lkg = e.record(plan.target)
        card = repo.get_card(lkg.card_sha256)
        new = VersionRecord(
            version=plan.new_version,
            sha256=lkg.sha256,
            card_sha256=lkg.card_sha256,
            parent=plan.current,
            author=by,
            created_at=now,
            message=f"Rollback to {plan.target}: {reason}",
            status=LifecycleState.CANDIDATE,
            restored_from=plan.target,
            rolled_back_from=plan.current,
            # A forced restore of a quarantined version keeps its quarantine.
            quarantine=lkg.quarantine,
        )
        seq = e.audit(
            action="rollback-start",
            actor=by,
            prompt=plan.prompt,
            env=plan.env,
            from_version=plan.current,
            from_sha256=e.record(plan.current).sha256,
            to_version=plan.new_version,
            to_sha256=lkg.sha256,
            reason=reason,
            evidence=evidence,
            approvers=[by],
            details={
                "rollback_id": record.id,
                "restored_from": plan.target,
                "forced": plan.forced,
                "emergency": options.emergency,
                "skip_evals": options.skip_evals,
                "skipped_candidates": [c.to_dict() for c in plan.candidates if not c.eligible],
                **({"post_review_due": review_due.isoformat()} if review_due else {}),
            },
        )
        move = PointerMove(
            seq=len(state.history) + 1,
            version=plan.new_version,
            previous=plan.current,
            kind=MoveKind.ROLLBACK,
            at=now,
            by=by,
            reason=reason,
            approvers=[by],
            evidence=evidence,
            audit_seq=seq,
            post_review_due=review_due,
        )
        entry = e.entry.model_copy(
            update={"versions": [*e.entry.versions, new], "rollbacks": [*e.entry.rollbacks, record]}
        )
        entry = move_pointer(entry, plan.env, move)
        if new.quarantine is not None:
            entry = _quarantine(entry, new.version, new.quarantine, force=True)
        e.entry = _quarantine(
            entry, plan.current, Quarantine(reason=f"rolled back: {reason}", by=by, at=now)
        )
        _restore_working_copy(registry, e.txn, plan.prompt, content, card)
    return record


@dataclass
class _MoveView:
    prompt: str
    env: str
    move: PointerMove
    audit_seq: int
    git_commit: str | None = None
    warnings: list[str] = field(default_factory=list)


def _quarantine(
    entry: PromptEntry, version: str, q: Quarantine, *, force: bool = False
) -> PromptEntry:
    """``entry`` with ``version`` quarantined (an existing quarantine is kept unless ``force``)."""
    versions = []
    for r in entry.versions:
        if r.version == version and (r.quarantine is None or force):
            status = quarantine(r.status, version=r.version)
            r = r.model_copy(update={"quarantine": q, "status": status})
        versions.append(r)
    return entry.model_copy(update={"versions": versions})


def _restore_working_copy(
    registry: Registry, txn: Transaction, name: str, content: PromptContent, card: PromptCard
) -> None:
    """Put the restored content into ``prompts/<name>/prompt.yml``, keeping the file's comments."""
    rel = f"{PROMPTS_DIR}/{name}/prompt.yml"
    fields = content.model_dump(mode="json", exclude_none=True)
    fields["card"] = card.model_dump(mode="json")
    raw = txn.read(rel)

    def edit(doc: Any) -> None:
        for key in ("template", "messages"):
            if key in doc and key not in fields:
                del doc[key]
        for key, value in fields.items():
            if key == "template":
                from ruamel.yaml.scalarstring import LiteralScalarString

                value = LiteralScalarString(value)
            doc[key] = value

    try:
        new = _yaml.edit_roundtrip(raw, rel, edit) if raw else None
    except PromptGovError:
        new = None
    if new is None or not isinstance(_yaml.loads(new, rel), dict):
        new = _yaml.dump_block(fields).encode()
    txn.write(rel, new)


# --------------------------------------------------------------------------- 3. re-run evals


def _rerun_evals(
    registry: Registry, name: str, record: RollbackRecord, run_options: RunOptions | None
) -> tuple[RollbackRecord, GateReport | None]:
    """Step 3: run the suite on the restored version (calling the model), gate it, and in
    one unit of work record the run, the verdict and the outcome — kept, kept and flagged
    (emergency), or undone."""
    from .evaluate import run_suite, stage_run
    from .gate import GateOptions, gate_report, stage_verdict

    if record.status is not RollbackStatus.RESTORED:
        return record, None
    if record.skip_evals:
        return _advance(registry, name, record, status=RollbackStatus.EVALUATED), None
    run = run_suite(registry, f"{name}@{record.new_version}", options=run_options, fresh=True)
    fault_point("rollback.after-eval-run")
    rec = run.version.record
    report, base = gate_report(
        registry, name, rec, run.v3, run.suite, run.suite_sha256, GateOptions(env=record.env)
    )
    fault_point("rollback.after-gate")
    with registry.repo.edit(name) as e:
        ref = stage_run(e, run, by=record.authorized_by)
        stage_verdict(registry, e, rec, report, ref.run_id, base)
        record = _save_record(e, record, eval_run_id=ref.run_id, gate_verdict=report.verdict)
        if report.verdict is GateVerdict.PASS:
            record = _save_record(e, record, status=RollbackStatus.EVALUATED)
        elif record.emergency:
            _flag_emergency(e, record, report)
            record = _save_record(e, record, status=RollbackStatus.EVALUATED)
        else:
            record = _undo(registry, e, record, report)
    fault_point("rollback.after-verdict")
    return record, report


def _advance(
    registry: Registry, name: str, record: RollbackRecord, **update: Any
) -> RollbackRecord:
    """Write the ledger's next state, with the audit entry that commits to it."""
    with registry.repo.edit(name) as e:
        new = _save_record(e, record, **update)
        _audit_step(e, new)
    return new


def _audit_step(e: Edit, record: RollbackRecord) -> None:
    """The audit entry of a ledger step: it commits to the ledger's new state."""
    e.audit(
        action="rollback-step",
        actor=record.authorized_by,
        prompt=e.name,
        env=record.env,
        to_version=record.new_version,
        reason=f"rollback {record.id} is {record.status.value}",
        outcome="success" if record.status.is_terminal() else "pending",
        details={"rollback_id": record.id, "status": record.status.value},
    )


def _save_record(e: Edit, record: RollbackRecord, **update: Any) -> RollbackRecord:
    """Stage the ledger record ``record`` with ``update`` applied."""
    new = record.model_copy(update=update)
    rollbacks = [new if r.id == record.id else r for r in e.entry.rollbacks]
    e.entry = e.entry.model_copy(update={"rollbacks": rollbacks})
    return new


def _flag_emergency(e: Edit, record: RollbackRecord, report: GateReport) -> None:
    """An emergency restore that failed its gate stays, with an audited follow-up date."""
    e.audit(
        action="rollback-flagged",
        actor=record.authorized_by,
        prompt=e.name,
        env=record.env,
        to_version=record.new_version,
        reason=f"emergency rollback kept although its gate is {report.verdict.value}",
        gate_verdict=report.verdict.value,
        eval_run_id=record.eval_run_id,
        details={
            "follow_up_due": (utcnow() + timedelta(days=FOLLOW_UP_DAYS)).isoformat(),
            "rollback_id": record.id,
        },
    )


def _undo(
    registry: Registry, e: Edit, record: RollbackRecord, report: GateReport
) -> RollbackRecord:
    """Stage the undo: pointer back, quarantine lifted, working copy restored, ledger settled."""
    repo, name = registry.repo, e.name
    assert name is not None
    entry = e.entry
    state = entry.environments.get(record.env, Environment())
    now = utcnow()
    seq = e.audit(
        action="rollback-undo",
        actor=record.authorized_by,
        prompt=name,
        env=record.env,
        from_version=record.new_version,
        to_version=record.rollback_of,
        reason=f"restored version failed its gate: {_gate_summary(report)}",
        gate_verdict=report.verdict.value,
        eval_run_id=record.eval_run_id,
        outcome="failure",
        error="re-run gate failed",
        details={"rollback_id": record.id},
    )
    if state.current == record.new_version:
        move = PointerMove(
            seq=len(state.history) + 1,
            version=record.rollback_of,
            previous=record.new_version,
            kind=MoveKind.UNDO,
            at=now,
            by=record.authorized_by,
            reason="rollback undone: restored version failed its gate",
            audit_seq=seq,
        )
        entry = move_pointer(entry, record.env, move)
    versions = []
    for r in entry.versions:
        if (
            r.version == record.rollback_of
            and r.quarantine is not None
            and r.quarantine.source == "rollback"
        ):
            status = release(r.status, serving=True, version=r.version)
            r = r.model_copy(update={"quarantine": None, "status": status})
        versions.append(r)
    e.entry = entry.model_copy(update={"versions": versions})
    new = _save_record(
        e, record, status=RollbackStatus.UNDONE, error="re-run gate failed", audit_seq=seq
    )
    bad = e.record(record.rollback_of)
    _restore_working_copy(
        registry, e.txn, name, repo.get_content(bad.sha256), repo.get_card(bad.card_sha256)
    )
    return new


# --------------------------------------------------------------------------- 4. log


def _record(registry: Registry, name: str, record: RollbackRecord) -> RollbackRecord:
    """Step 4: the audit entry and change-log entry of the restore, with the re-run's verdict."""
    if record.status is not RollbackStatus.EVALUATED:
        return record
    fault_point("rollback.after-evals")
    repo = registry.repo
    with repo.edit(name) as e:
        bad = e.record(record.rollback_of)
        new = e.record(record.new_version)
        links = [*record.evidence]
        run = next((run for run in new.eval_runs if run.run_id == record.eval_run_id), None)
        if run is not None:
            links.append(run.output)
        seq = e.audit(
            action="rollback",
            actor=record.authorized_by,
            prompt=name,
            env=record.env,
            from_version=bad.version,
            from_sha256=bad.sha256,
            to_version=new.version,
            to_sha256=new.sha256,
            reason=record.reason,
            evidence=links,
            approvers=[record.authorized_by],
            eval_run_id=record.eval_run_id,
            gate_verdict=record.gate_verdict.value if record.gate_verdict else None,
            details={
                "rollback_id": record.id,
                "restored_from": record.rollback_to,
                "description": record.description,
                "emergency": record.emergency,
                "skip_evals": record.skip_evals,
                "forced": record.forced,
            },
        )
        e.changelog(
            time=utcnow(),
            action="rollback",
            prompt=name,
            version=new.version,
            env=record.env,
            from_version=bad.version,
            summary=f"{record.description}: {record.reason}",
            author=record.authorized_by,
            approvers=[record.authorized_by],
            gate_verdict=record.gate_verdict,
            links=links,
            audit_seq=seq,
        )
        return _save_record(e, record, status=RollbackStatus.LOGGED, audit_seq=seq)


# --------------------------------------------------------------------------- 5. notify


def _notify(
    registry: Registry, name: str, record: RollbackRecord, policy: NotifyPolicy | None
) -> RollbackRecord:
    """Step 5: announce the rollback; failures are queued for retry and recorded, never undo it.

    The delivery outcomes' audit entries and the settled ledger are one unit of work.
    """
    from ..notify import audit_link, render_notification
    from .notify import announce, stage_results

    if record.status is not RollbackStatus.LOGGED:
        return record
    repo = registry.repo
    card = repo.get_card(registry.record(name, record.new_version).card_sha256)
    note = render_notification(
        "rollback",
        prompt=name,
        env=record.env,
        from_version=record.rollback_of,
        to_version=record.new_version,
        reason=record.reason,
        authorized_by=record.authorized_by,
        audit_link=audit_link(record.audit_seq) if record.audit_seq else None,
        evidence=record.evidence,
        owners=card.all_owners,
        key=f"rollback-{record.id}",
        extra={
            "restored_from": record.rollback_to,
            "gate_verdict": record.gate_verdict.value if record.gate_verdict else None,
        },
    )
    results = announce(
        repo,
        note,
        prompt=name,
        env=record.env,
        version=record.new_version,
        policy=policy,
        details={"rollback_id": record.id},
        record=False,
    )
    deliveries = [r.to_dict() for r in results]
    fault_point("rollback.after-notify-send")
    with repo.edit(name) as e:
        stage_results(
            e,
            results,
            what=f"{note.event.value} notification",
            prompt=name,
            env=record.env,
            version=record.new_version,
            details={"rollback_id": record.id},
        )
        new = _save_record(e, record, status=RollbackStatus.COMPLETED, notifications=deliveries)
        _audit_step(e, new)
        return new


__all__ = [
    "RollbackOptions",
    "RollbackPlan",
    "RollbackResult",
    "pending_rollbacks",
    "resume",
    "rollback",
]
