"""The promote action: the only way a version enters an environment.

The checks are enforced here, by the promotion itself, not only by CI: a version moves
into an environment only along the configured order, with a passing gate verdict for its
exact content hash under the current gate file, with the approvals the environment
requires, and as a compare-and-swap on the pointer's current value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

from .. import signed_decisions as _signatures
from ..errors import Conflict, GateFailed, GateInconclusive, InputError, PermissionDenied
from ..gate import gate_file_sha256
from ..lifecycle import transition
from ..model import (
    Environment,
    GateVerdict,
    LifecycleState,
    MoveKind,
    PointerMove,
    PromptEntry,
    Publication,
    VersionRecord,
    identity,
    utcnow,
)
from ..registry import Registry, parse_ref
from . import _publish
from ._policy import allowed_approver, same_person, valid_approvers
from ._policy_files import require_policy_in_force
from ._text import FreeText
from .notify import announce_promotion

#: Days another approver has to review an emergency move (``promptgov review``).
POST_REVIEW_DAYS = 2


class _Current(Enum):
    CURRENT = "current"


#: ``expect`` default: the pointer's value when the call starts.
CURRENT = _Current.CURRENT


@dataclass(frozen=True)
class PromoteOptions(FreeText):
    """Where a version goes, why, and on what assumptions."""

    _free_text = ("reason", "evidence")

    to: str
    """The environment to move."""
    reason: str
    """Why (recorded on the move, the change log and the audit entry)."""
    expect: str | None | Literal[_Current.CURRENT] = CURRENT
    """The version ``to`` must point at now (``None``: empty), the compare-and-swap base."""
    accept_inconclusive: bool = False
    """The promoter, an approver, accepts an inconclusive gate verdict."""
    emergency: bool = False
    """Skip the gate, approvals and order (never a quarantine), where the policy allows it;
    another approver must then review the move (``promptgov review``)."""
    evidence: tuple[str, ...] = ()
    """Links or files the decision relied on."""
    sign_with: str | None = None
    """The SSH key that signs the move (required where the environment requires signatures)."""


@dataclass
class PromotionResult:
    """What a promotion did."""

    prompt: str
    env: str
    move: PointerMove
    audit_seq: int
    git_commit: str | None = None
    warnings: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "notifications": self.notifications,
            "prompt": self.prompt,
            "env": self.env,
            "move": self.move.model_dump(mode="json"),
            "audit_seq": self.audit_seq,
            "git_commit": self.git_commit,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Refusal:
    """One reason a promotion is refused; ``kind`` decides the error and what the emergency
    path may skip (everything but a quarantine)."""

    kind: Literal["order", "quarantined", "gate", "inconclusive", "approvals", "signatures"]
    text: str
    #: What to run at the command line (the error's ``cli_hint``).
    cli_hint: str | None = None

    def __str__(self) -> str:
        return self.text


def promote(registry: Registry, ref: str, options: PromoteOptions, *, by: str) -> PromotionResult:
    """Move environment ``options.to`` to ``ref``, if every rule allows it.

    The pointer history, change log and audit log are written in one unit of work;
    nothing is written when any check refuses. Then the move is published to git (recorded
    as pending in that unit of work, so ``promptgov rollback --resume`` finishes a git step
    that was cut short) and announced to the prompt's owners.

    Raises:
        CheckFailed subclasses / InputError subclasses with every reason at once.
    """
    repo = registry.repo
    by = identity(by)
    to = _check_request(registry, options, by)
    require_policy_in_force(repo)
    name, _ = parse_ref(ref)
    expect = options.expect
    if expect is CURRENT:
        expect = registry.entry(name).environments.get(to, Environment()).current
    with repo.edit(name) as e:
        _, rec = registry.resolve(ref, e.registry)
        previous = _compare_and_swap(e.entry, name, rec, to, expect)
        verdict, approvers = _checks(registry, e.entry, name, rec, options, by)
        kind = MoveKind.EMERGENCY if options.emergency else MoveKind.PROMOTE
        now = utcnow()
        review_due = now + timedelta(days=POST_REVIEW_DAYS) if options.emergency else None
        seq = e.audit(
            action="emergency-promote" if options.emergency else "promote",
            actor=by,
            prompt=name,
            env=to,
            from_version=previous,
            from_sha256=e.record(previous).sha256 if previous else None,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=options.reason,
            approvers=approvers,
            gate_verdict=verdict.value if verdict else None,
            evidence=list(options.evidence),
            details=_details(options, verdict, by, review_due),
        )
        move = PointerMove(
            seq=len(e.entry.environments.get(to, Environment()).history) + 1,
            version=rec.version,
            previous=previous,
            kind=kind,
            at=now,
            by=by,
            reason=options.reason,
            approvers=approvers,
            gate_verdict=verdict,
            evidence=list(options.evidence),
            audit_seq=seq,
            post_review_due=review_due,
        )
        move = move.model_copy(
            update={
                "signed": _signatures.sign(
                    repo,
                    _signatures.move_decision(name, rec.sha256, to, move),
                    options.sign_with,
                    what=f"the move of {to} to {name}@{rec.version}",
                )
            }
        )
        e.entry = move_pointer(e.entry, to, move)
        e.changelog(
            time=move.at,
            action=kind.value,
            prompt=name,
            version=rec.version,
            env=to,
            from_version=previous,
            summary=options.reason,
            author=by,
            approvers=approvers,
            gate_verdict=verdict,
            links=list(options.evidence),
            audit_seq=seq,
        )
        pub = Publication(
            action=kind.value,
            prompt=name,
            env=to,
            from_version=previous,
            to_version=rec.version,
            reason=options.reason,
            authorized_by=by,
            audit_seq=seq,
            recorded_at=move.at,
            signing_key=options.sign_with if repo.config.git.sign else None,
        )
        _publish.stage(e, repo, pub)  # the git step, recorded pending with the move
    result = PromotionResult(name, to, move, seq)
    result.git_commit, result.warnings = _publish.publish_own(repo, seq)
    card = repo.get_card(rec.card_sha256)
    result.notifications = [
        r.to_dict() for r in announce_promotion(repo, result, owners=card.all_owners)
    ]
    return result


def _check_request(registry: Registry, options: PromoteOptions, by: str) -> str:
    """The target environment, once the request itself is complete and allowed."""
    repo = registry.repo
    to = repo.check_env(options.to)
    if not options.reason.strip() or not by.strip():
        raise InputError(
            "a promotion needs the person promoting and a reason.",
            cli_hint="Pass --by and --reason.",
        )
    policy = repo.config.environment(to)
    assert policy is not None
    if options.emergency and not policy.allow_emergency:
        raise PermissionDenied(f"the emergency path is disabled for {to} in promptgov.yml.")
    if options.emergency and not allowed_approver(repo.config, to, by):
        raise PermissionDenied(
            f"{by} may not use the emergency path into {to}: only its approvers may "
            f"({', '.join(policy.approvals.approvers)}; see promptgov.yml)."
        )
    return to


def _compare_and_swap(
    entry: PromptEntry, name: str, rec: VersionRecord, to: str, expect: str | None
) -> str | None:
    """The pointer's current value, if it is still what the caller expected."""
    current = entry.environments.get(to, Environment()).current
    if current != expect:
        raise Conflict(
            f"{to} moved meanwhile: it points at {current or 'nothing'}, not "
            f"{expect or 'nothing'}; re-check the environment and retry.",
            cli_hint=f"See 'promptgov status {name}'.",
            prompt=name,
            env=to,
            current=current or "",
            expected=expect or "",
        )
    if current == rec.version:
        raise Conflict(f"{to} already serves {name}@{rec.version}.")
    return current


def _checks(
    registry: Registry,
    entry: PromptEntry,
    name: str,
    rec: VersionRecord,
    options: PromoteOptions,
    by: str,
) -> tuple[GateVerdict | None, list[str]]:
    """The gate verdict and counted approvers, or every refusal at once."""
    refusals, verdict, approvers = promotion_refusals(
        registry,
        entry,
        name,
        rec,
        options.to,
        accept_inconclusive_by=by if options.accept_inconclusive else None,
    )
    if options.emergency:
        refusals = [r for r in refusals if r.kind == "quarantined"]
        policy = registry.repo.config.environment(options.to)
        if same_person(by, rec.author) and not (policy and policy.approvals.allow_self_approval):
            # The emergency path skips approvals, so it must not be one's own approval.
            raise PermissionDenied(
                f"{by} wrote {name}@{rec.version} and may not push it into {options.to} on the "
                "emergency path (separation of duties); ask another approver."
            )
    if refusals:
        only_inconclusive = all(r.kind == "inconclusive" for r in refusals)
        exc_type = GateInconclusive if only_inconclusive else GateFailed
        raise exc_type(
            f"cannot promote {name}@{rec.version} to {options.to}: "
            + "; ".join(r.text for r in refusals)
            + ".",
            cli_hint=" ".join(r.cli_hint for r in refusals if r.cli_hint) or None,
            prompt=name,
            version=rec.version,
            env=options.to,
        )
    return verdict, approvers


def _details(
    options: PromoteOptions, verdict: GateVerdict | None, by: str, review_due: datetime | None
) -> dict[str, Any]:
    """What the audit entry records beyond its standard fields."""
    details: dict[str, Any] = {}
    if review_due is not None:
        details["post_review_due"] = review_due.isoformat()
    if options.accept_inconclusive and verdict is GateVerdict.INCONCLUSIVE:
        details["accepted_inconclusive_by"] = by
    return details


def promotion_refusals(
    registry: Registry,
    entry: PromptEntry,
    name: str,
    rec: VersionRecord,
    env: str,
    *,
    accept_inconclusive_by: str | None,
) -> tuple[list[Refusal], GateVerdict | None, list[str]]:
    """Every reason ``rec`` may not enter ``env`` now (empty = allowed), the gate verdict
    and the approvers that count."""
    config = registry.repo.config
    policy = config.environment(env)
    assert policy is not None
    reasons = _order_refusals(registry, entry, rec, env)
    if rec.quarantine is not None:
        reasons.append(Refusal("quarantined", f"it is quarantined ({rec.quarantine.reason})"))
    verdict, gate_reasons = _gate_refusals(registry, entry, name, rec, env, accept_inconclusive_by)
    reasons += gate_reasons
    approvers = valid_approvers(config, env, rec)
    if policy.require_signatures:
        judged = _signatures.signed_approvers(
            registry.repo,
            name,
            rec,
            env,
            [a for a in rec.approvals if allowed_approver(config, env, a.by)],
            allow_self=policy.approvals.allow_self_approval,
        )
        approvers = judged.counted
        if judged.refused and len(approvers) < policy.approvals.required:
            reasons.append(Refusal("signatures", "; ".join(judged.refused)))
    if len(approvers) < policy.approvals.required:
        have = f" (has: {', '.join(approvers)})" if approvers else ""
        reasons.append(
            Refusal(
                "approvals",
                f"it needs {policy.approvals.required} approval(s) for {env}, has {len(approvers)}{have}",
            )
        )
    return reasons, verdict, approvers


def _order_refusals(
    registry: Registry, entry: PromptEntry, rec: VersionRecord, env: str
) -> list[Refusal]:
    """A version enters an environment only after serving in the one before it."""
    order = registry.repo.config.env_names
    idx = order.index(env)
    if idx == 0:
        return []
    prev = order[idx - 1]
    served = entry.environments.get(prev, Environment())
    if any(m.version == rec.version for m in served.history):
        return []
    return [Refusal("order", f"it has never been in {prev} (promote it there first)")]


def _gate_refusals(
    registry: Registry,
    entry: PromptEntry,
    name: str,
    rec: VersionRecord,
    env: str,
    accept_inconclusive_by: str | None,
) -> tuple[GateVerdict | None, list[Refusal]]:
    """The verdict under the current gate file for this exact content, and what it refuses."""
    config = registry.repo.config
    policy = config.environment(env)
    assert policy is not None
    gate_sha = gate_file_sha256(registry.repo)
    results = [
        g for r in entry.versions if r.sha256 == rec.sha256 for g in r.gate_results if g.env == env
    ]
    current = [g for g in results if g.gate_sha256 == gate_sha]
    verdict = max(current, key=lambda g: g.at).verdict if current else None
    if not results:
        return verdict, [
            Refusal(
                "gate",
                f"it has no gate verdict for {env} (evaluate it, then run its gate for {env})",
                f"Run 'promptgov eval' then 'promptgov gate --env {env}'.",
            )
        ]
    if verdict is None:
        return verdict, [
            Refusal(
                "gate",
                f"{config.gate_file} changed since its gate verdict; run its gate for {env} again",
                f"Re-run 'promptgov gate --env {env}'.",
            )
        ]
    if verdict is GateVerdict.FAIL:
        return verdict, [Refusal("gate", f"its gate verdict for {env} is fail")]
    if verdict is not GateVerdict.INCONCLUSIVE:
        return verdict, []
    who = accept_inconclusive_by
    hint = None
    if who is None:
        text = f"its gate verdict for {env} is inconclusive (an approver may accept it)"
        hint = "An approver may pass --accept-inconclusive."
    elif not allowed_approver(config, env, who):
        text = f"{who} is not an approver for {env} and cannot accept an inconclusive gate"
    elif same_person(who, rec.author) and not policy.approvals.allow_self_approval:
        # Accepting an inconclusive gate is an approval: separation of duties applies.
        text = (
            f"{who} wrote {name}@{rec.version} and cannot accept its "
            f"inconclusive gate for {env} (separation of duties)"
        )
    else:
        return verdict, []
    return verdict, [Refusal("inconclusive", text, hint)]


def move_pointer(entry: PromptEntry, env: str, move: PointerMove) -> PromptEntry:
    """``entry`` with ``env`` moved by ``move`` and lifecycle states updated."""
    state = entry.environments.get(env, Environment())
    envs = {
        **entry.environments,
        env: Environment(current=move.version, history=[*state.history, move]),
    }
    serving = {e.current for e in envs.values() if e.current}
    versions = []
    for r in entry.versions:
        if r.version == move.version:
            r = r.model_copy(
                update={"status": transition(r.status, LifecycleState.DEPLOYED, version=r.version)}
            )
        elif (
            r.version == move.previous
            and r.version not in serving
            and r.status is LifecycleState.DEPLOYED
        ):
            r = r.model_copy(
                update={
                    "status": transition(r.status, LifecycleState.SUPERSEDED, version=r.version)
                }
            )
        versions.append(r)
    return entry.model_copy(update={"environments": envs, "versions": versions})
