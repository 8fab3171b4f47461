"""The rollback flow: last known good restored, re-verified, logged, announced, published.

:func:`rollback` reads as the specification's five steps — locate (in
:mod:`._last_known_good`), restore, re-run evals, log, notify — each one unit of work at
most, then the git publication of :mod:`._publish`. The ledger (a
:class:`~promptgov.model.RollbackRecord` in the registry) is written with the restore,
before any later effect, and advanced by each step under the lock (a step whose ledger
moved on meanwhile writes nothing); a step returns at once when the ledger is past it, so
``rollback --resume`` runs the same pipeline to finish an interrupted rollback and a
repeated one does nothing twice. :func:`undo` settles an unfinished rollback the other
way, for one whose eval re-run stalls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from .. import signed_decisions as _signatures
from ..errors import Conflict, GateFailed, InputError, NotFound, PermissionDenied, PromptGovError
from ..gate import GateReport
from ..lifecycle import quarantine
from ..model import (
    Environment,
    GateVerdict,
    LifecycleState,
    MoveKind,
    PointerMove,
    PromptCard,
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
from ..store.files import fault_point
from . import _publish
from ._last_known_good import locate_last_known_good
from ._policy import allowed_approver, same_person
from ._policy_files import require_policy_in_force
from ._rerun import DEFAULT_EVAL_TIMEOUT, run_suite_bounded
from ._rollback_ledger import (
    check_ledger,
    restore_working_copy,
    save_record,
    stage_publication,
    stage_undo,
    step,
)
from ._rollback_results import ResumeResult, RollbackPlan, RollbackResult
from ._text import FreeText
from .promote import POST_REVIEW_DAYS, move_pointer

if TYPE_CHECKING:
    from ..evals import RunOptions
    from ..notify import NotifyPolicy

DEFAULT_ENV = "prod"
MAX_DESCRIPTION = 200
FOLLOW_UP_DAYS = 1
#: How an automatic actor is named (``policy:drift``); it acts for the prompt's owner.
POLICY_ACTOR = "policy:"


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
    eval_timeout: float = DEFAULT_EVAL_TIMEOUT
    """Seconds the whole eval re-run may take; then it is stopped and the stall recorded."""
    sign_with: str | None = None
    """The SSH key that signs the authorization (required where the environment requires
    signatures); a key file, or a ``.pub`` whose key ssh-agent holds."""


@dataclass(frozen=True)
class UndoOptions(FreeText):
    """Which unfinished rollback to undo, and why."""

    _free_text = ("reason",)

    reason: str
    """Why (the audit log and the ledger say it)."""
    env: str = DEFAULT_ENV
    """The environment whose unfinished rollback is undone."""


def rollback(registry: Registry, name: str, options: RollbackOptions, *, by: str) -> RollbackResult:
    """Roll ``options.env`` of prompt ``name`` back to its last known good version, as ``by``.

    The specification's five steps, in order: locate the last known good version;
    restore it as a new ``<lkg>-rollback`` version, move the pointer by compare-and-swap
    and quarantine the bad version; re-run the eval suite and gate (undo on failure
    unless ``emergency``); log to the audit log and change log; notify. Each step is one
    unit of work at most and advances the ledger, so :func:`resume` runs the same steps
    from wherever a crash stopped them; the git publication is recorded pending with the
    last of them and done once. The eval re-run is stopped after ``options.eval_timeout``
    seconds, the stall recorded, and the restore kept for :func:`resume` or :func:`undo`.
    ``dry_run`` runs every check and returns the plan with the ledger record it would write.

    Raises:
        NotFound: no last known good version (nothing written).
        Conflict: the target is not eligible, the pointer moved, a rollback is unfinished.
        InputError: a missing reason or authorizer, a bad option combination, a write that
            failed (the message says which step and whether it was committed).
        GateFailed: the restored version failed its gate and the rollback was undone.
        CheckFailed: the eval re-run did not finish in time (the restore stands).
    """
    by = identity(by)
    _check_request(registry, options, by)
    require_policy_in_force(registry.repo)
    done = _already_done(registry, name, options.env, options.to)
    if done is not None:
        return done
    plan = locate_last_known_good(registry, name, options.env, to=options.to, force=options.force)
    if options.dry_run:
        return RollbackResult(plan, dry_run=True, would_record=_ledger_record(plan, options, by))
    with step(name, plan.env, "step 2 (restore)", serving=plan.current, first="the rollback"):
        record, kept = _restore(registry, plan, options, by)
    fault_point("rollback.after-restore")
    try:
        result = _settle(
            registry, name, record, options.run_options, options.notify_policy, options.eval_timeout
        )
    except PromptGovError as exc:
        if kept:
            exc.message += f" Your unsaved edits to the working copy were kept in {kept}."
        raise
    result.plan, result.kept_edits = replace(result.plan, reused=plan.reused), kept
    return result


def resume(
    registry: Registry,
    name: str | None = None,
    *,
    run_options: RunOptions | None = None,
    notify_policy: NotifyPolicy | None = None,
    eval_timeout: float = DEFAULT_EVAL_TIMEOUT,
) -> ResumeResult:
    """Finish every interrupted rollback (of ``name``, or of all prompts), and publish to
    git every pointer move whose git step was cut short.

    Runs under the repository lock from start to end, so concurrent resumes finish each
    rollback once. A stalled eval re-run is tried again within ``eval_timeout`` seconds.
    """
    with registry.repo.edit():  # the lock; it also rolls forward a journaled crash
        published = _publish.publish_all(registry.repo, name)
        rollbacks = [
            _settle(registry, prompt, rec, run_options, notify_policy, eval_timeout)
            for prompt, rec in pending_rollbacks(registry)
            if name is None or prompt == name
        ]
    return ResumeResult(rollbacks, published + [p for r in rollbacks for p in r.published])


def undo(registry: Registry, name: str, options: UndoOptions, *, by: str) -> RollbackResult:
    """Undo the unfinished rollback of ``name`` in ``options.env``, as ``by``.

    For a rollback that cannot finish (its eval re-run stalls): in one unit of work the
    pointer moves back to the version that was serving, its rollback quarantine is
    lifted, the working copy is restored, the ledger is settled ``undone`` and a
    ``rollback-undo`` audit entry names ``by`` and the reason; then it is published to
    git like any move. Only the rollback's authorizer or an approver of the environment
    may undo it.

    Raises:
        InputError: a missing reason or authorizer, an unknown environment, a failed write.
        NotFound: the prompt has no unfinished rollback in that environment.
        PermissionDenied: ``by`` neither authorized the rollback nor approves for the env.
    """
    by, env, repo = identity(by), options.env, registry.repo
    if not options.reason.strip():
        raise InputError(
            "undoing a rollback needs a reason: say why, for the audit log.",
            cli_hint="Pass --reason.",
        )
    if not by.strip():
        raise InputError(
            "undoing a rollback needs the person who decided it.",
            cli_hint="Pass --authorized-by.",
        )
    repo.check_env(env)
    serving = _unfinished(registry.entry(name), name, env).new_version
    with step(name, env, "undo", serving=serving, first="the undo"):
        with repo.edit(name) as e:
            rb = _unfinished(e.entry, name, env)
            if not (same_person(by, rb.authorized_by) or allowed_approver(repo.config, env, by)):
                raise PermissionDenied(
                    f"{by} may not undo the rollback of {name} in {env}: only {rb.authorized_by}, "
                    "who authorized it, or an approver of the environment may (see promptgov.yml)."
                )
            record, kept = stage_undo(registry, e, rb, by=by, reason=options.reason, report=None)
    fault_point("rollback.after-undo")
    result = RollbackResult(_plan_from_record(name, record), record=record, kept_edits=kept)
    _publish_step(registry, name, record, result)
    return result


def _unfinished(entry: PromptEntry, name: str, env: str) -> RollbackRecord:
    """The unfinished rollback of ``name`` in ``env``, or NotFound."""
    for rb in reversed(entry.rollbacks):
        if rb.env == env and not rb.status.is_terminal():
            return rb
    raise NotFound(
        f"{name} has no unfinished rollback in {env}; nothing was changed.",
        cli_hint=f"See 'promptgov history {name}'.",
        prompt=name,
        env=env,
    )


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
    eval_timeout: float,
) -> RollbackResult:
    """Steps 3–5 and the git publication; each returns at once when the ledger is past it."""
    result = RollbackResult(_plan_from_record(name, record), record=record)
    record, result.gate = _rerun_evals(registry, name, record, run_options, eval_timeout)
    if record.status is RollbackStatus.UNDONE:
        result.record = record
        _publish_step(registry, name, record, result)
        raise GateFailed(
            f"rollback of {name} in {record.env} undone: the restored {record.new_version} failed its "
            f"gate ({_gate_summary(result.gate)}); {record.env} serves {record.rollback_of} again. "
            "Roll back as an emergency to keep a restore that fails its gate.",
            cli_hint="Use --emergency to keep a restore that fails its gate.",
            prompt=name,
            env=record.env,
        )
    with step(name, record.env, "step 4 (audit and change log)", serving=record.new_version):
        record = _record(registry, name, record)
    fault_point("rollback.after-log")
    with step(name, record.env, "step 5 (notification record)", serving=record.new_version):
        result.record = record = _notify(registry, name, record, notify_policy)
    _publish_step(registry, name, record, result)
    return result


def _publish_step(
    registry: Registry, name: str, record: RollbackRecord, result: RollbackResult
) -> None:
    """Publish the settled rollback to git (commit, deploy branch, tag), once.

    It was recorded pending by the ledger's last unit of work. Publishing at restore time
    would leave the audit and change-log entries of steps 3–5 out of the commit, and
    would deploy a restore that its re-run gate may still undo.
    """
    fault_point("rollback.before-publish")
    result.published = _publish.publish_all(registry.repo)
    own = [p for p in result.published if p.publication.rollback_id == record.id]
    result.git_commit = own[0].commit if own else None
    result.warnings.extend(w for p in result.published for w in p.warnings)


def _gate_summary(report: GateReport | None) -> str:
    if report is None:
        return "no report"
    return (
        "; ".join(f"{c.name} {c.measured} vs {c.threshold}" for c in report.failed())
        or report.verdict.value
    )


def _check_request(registry: Registry, options: RollbackOptions, by: str) -> None:
    """The request is complete and the configuration usable — checked on dry runs too,
    which need no reason or authorizer (they decide nothing), though a given one is checked."""
    if not options.reason.strip() and not options.dry_run:
        raise InputError(
            "a rollback needs a reason: say why, for the audit log and the owners.",
            cli_hint="Pass --reason.",
        )
    if not by.strip() and not options.dry_run:
        raise InputError(
            "a rollback needs the person who authorized it.", cli_hint="Pass --authorized-by."
        )
    if options.skip_evals and not options.emergency:
        raise InputError(
            "skipping the eval re-run is only allowed in an emergency rollback.",
            cli_hint="Pass --skip-evals together with --emergency.",
        )
    if options.force and not options.to:
        raise InputError(
            "forcing applies to an explicit target; name the version to restore.",
            cli_hint="Pass --to VERSION with --force.",
        )
    repo = registry.repo
    repo.check_env(options.env)
    policy = repo.config.environment(options.env)
    assert policy is not None
    if options.emergency and not policy.allow_emergency:
        raise PermissionDenied(
            f"the emergency path is disabled for {options.env} in promptgov.yml; "
            "roll back without it (the restore is then gated).",
            cli_hint="Leave out --emergency.",
        )
    if (
        (options.emergency or options.force)
        and by.strip()
        and not allowed_approver(repo.config, options.env, by)
    ):
        what = "the emergency path" if options.emergency else "a forced restore"
        raise PermissionDenied(
            f"{by} may not use {what} in {options.env}: only its approvers may "
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
                f"a rollback of {name} in {env} to {rb.rollback_to} is unfinished "
                f"({rb.status.value}); resume or undo it first.",
                cli_hint=f"Finish it with 'promptgov rollback --resume' or undo it with "
                f"'promptgov rollback {name} --env {env} --undo'.",
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
) -> tuple[RollbackRecord, str | None]:
    """Step 2, one unit of work: rollback version (new, or the one already holding this
    content), pointer CAS, quarantine, ledger, working copy (unsaved edits kept beside it),
    audit entry. Returns the ledger record and where unsaved edits were kept."""
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
        reused = plan.reused
        versions = e.entry.versions
        kept = restore_working_copy(e, content, card, what="rollback", now=now)
        if not reused:
            versions = [*versions, _rollback_record(plan, lkg, by, reason, now)]
        seq = e.audit(
            action="rollback-start",
            actor=by,
            on_behalf_of=acting_for(by, repo.get_card(e.record(plan.current).card_sha256)),
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
                "reused_version": reused,
                **({"working_copy_kept_in": kept} if kept else {}),
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
        move = move.model_copy(
            update={
                "signed": _signatures.sign(
                    repo,
                    _signatures.move_decision(plan.prompt, lkg.sha256, plan.env, move),
                    options.sign_with,
                    what=f"{by}'s authorization of the rollback of {plan.env}",
                )
            }
        )
        entry = e.entry.model_copy(
            update={"versions": versions, "rollbacks": [*e.entry.rollbacks, record]}
        )
        entry = move_pointer(entry, plan.env, move)
        # A forced restore of a quarantined content keeps its quarantine.
        held = next(r for r in entry.versions if r.version == plan.new_version).quarantine
        if held is not None:
            entry = _quarantine(entry, plan.new_version, held, force=True)
        e.entry = _quarantine(
            entry, plan.current, Quarantine(reason=f"rolled back: {reason}", by=by, at=now)
        )
    return record, kept


def _rollback_record(
    plan: RollbackPlan, lkg: VersionRecord, by: str, reason: str, now: datetime
) -> VersionRecord:
    """The new rollback version: the restored version's content and card, its child."""
    return VersionRecord(
        version=plan.new_version,
        sha256=lkg.sha256,
        card_sha256=lkg.card_sha256,
        # Its content is the restored version's, so that is its parent, not the bad one.
        parent=plan.target,
        author=by,
        created_at=now,
        message=f"Rollback to {plan.target}: {reason}",
        status=LifecycleState.CANDIDATE,
        restored_from=plan.target,
        rolled_back_from=plan.current,
        quarantine=lkg.quarantine,
    )


def acting_for(by: str, card: PromptCard) -> str | None:
    """Whom ``by`` acts for: a policy (``policy:drift``) acts for the prompt's owner on the
    card of the version it rolls back; a person acts for themselves (None)."""
    return card.owner if by.startswith(POLICY_ACTOR) else None


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


# --------------------------------------------------------------------------- 3. re-run evals


def _rerun_evals(
    registry: Registry,
    name: str,
    record: RollbackRecord,
    run_options: RunOptions | None,
    timeout: float,
) -> tuple[RollbackRecord, GateReport | None]:
    """Step 3: run the suite on the restored version (calling the model) within
    ``timeout`` seconds, gate it, and in one unit of work record the run, the verdict and
    the outcome — kept, kept and flagged (emergency), or undone."""
    from .evaluate import stage_run
    from .gate import GateOptions, gate_report, stage_verdict

    if record.status is not RollbackStatus.RESTORED:
        return record, None
    if record.skip_evals:
        with step(name, record.env, "step 3 (skipped evals)", serving=record.new_version):
            return _advance(registry, name, record, status=RollbackStatus.EVALUATED), None
    try:
        run = run_suite_bounded(registry, f"{name}@{record.new_version}", run_options, timeout)
    except PromptGovError as exc:
        _stalled(registry, name, record, exc)
    fault_point("rollback.after-eval-run")
    rec = run.version.record
    report, base = gate_report(
        registry, name, rec, run.v3, run.suite, run.suite_sha256, GateOptions(env=record.env)
    )
    fault_point("rollback.after-gate")
    with (
        step(name, record.env, "step 3 (eval re-run and verdict)", serving=record.new_version),
        registry.repo.edit(name) as e,
    ):
        check_ledger(e, record)
        ref = stage_run(e, run, by=record.authorized_by)
        stage_verdict(registry, e, rec, report, ref.run_id, base)
        update = {"eval_run_id": ref.run_id, "gate_verdict": report.verdict, "error": None}
        record = save_record(e, record, **update)
        if report.verdict is GateVerdict.PASS:
            record = save_record(e, record, status=RollbackStatus.EVALUATED)
        elif record.emergency:
            _flag_emergency(e, record, report)
            record = save_record(e, record, status=RollbackStatus.EVALUATED)
        else:
            reason = f"restored version failed its gate: {_gate_summary(report)}"
            record, _ = stage_undo(
                registry, e, record, by=record.authorized_by, reason=reason, report=report
            )
    fault_point("rollback.after-verdict")
    return record, report


def _stalled(
    registry: Registry, name: str, record: RollbackRecord, exc: PromptGovError
) -> NoReturn:
    """Record on the ledger why the eval re-run did not finish, and say what can be done."""
    with step(name, record.env, "step 3 (record of the stall)", serving=record.new_version):
        _advance(registry, name, record, error=exc.message)
    raise type(exc)(
        f"{exc.message} The restore stands ({record.env} serves {record.new_version}): resume "
        f"the rollback to retry, or undo it to put {record.rollback_of} back.",
        cli_hint=f"Retry with 'promptgov rollback --resume', or undo with "
        f"'promptgov rollback {name} --env {record.env} --undo'.",
        prompt=name,
        env=record.env,
    ) from exc


def _advance(
    registry: Registry, name: str, record: RollbackRecord, **update: Any
) -> RollbackRecord:
    """Write the ledger's next state, with the audit entry that commits to it."""
    with registry.repo.edit(name) as e:
        check_ledger(e, record)
        new = save_record(e, record, **update)
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


# --------------------------------------------------------------------------- 4. log


def _record(registry: Registry, name: str, record: RollbackRecord) -> RollbackRecord:
    """Step 4: the audit entry and change-log entry of the restore, with the re-run's verdict."""
    if record.status is not RollbackStatus.EVALUATED:
        return record
    fault_point("rollback.after-evals")
    repo = registry.repo
    with repo.edit(name) as e:
        check_ledger(e, record)
        bad = e.record(record.rollback_of)
        new = e.record(record.new_version)
        links = [*record.evidence]
        run = next((run for run in new.eval_runs if run.run_id == record.eval_run_id), None)
        if run is not None:
            links.append(run.output)
        seq = e.audit(
            action="rollback",
            actor=record.authorized_by,
            on_behalf_of=acting_for(record.authorized_by, repo.get_card(bad.card_sha256)),
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
        return save_record(e, record, status=RollbackStatus.LOGGED, audit_seq=seq)


# --------------------------------------------------------------------------- 5. notify


def _notify(
    registry: Registry, name: str, record: RollbackRecord, policy: NotifyPolicy | None
) -> RollbackRecord:
    """Step 5: announce the rollback; failures are queued for retry and recorded, never undo it.

    The delivery outcomes' audit entries, the settled ledger and the pending git
    publication are one unit of work.
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
        check_ledger(e, record)
        stage_results(
            e,
            results,
            what=f"{note.event.value} notification",
            prompt=name,
            env=record.env,
            version=record.new_version,
            details={"rollback_id": record.id},
        )
        done = save_record(e, record, status=RollbackStatus.COMPLETED, notifications=deliveries)
        assert record.audit_seq is not None  # the log step wrote it
        stage_publication(e, registry, done, None, record.audit_seq)
        _audit_step(e, done)
        return done


__all__ = [
    "DEFAULT_EVAL_TIMEOUT",
    "ResumeResult",
    "RollbackOptions",
    "RollbackPlan",
    "RollbackResult",
    "UndoOptions",
    "pending_rollbacks",
    "resume",
    "rollback",
    "undo",
]
