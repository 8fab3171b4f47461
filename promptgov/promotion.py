"""Gate verdicts, approvals and promotions: the only ways a version enters an environment.

The checks are enforced here, by the promotion itself, not only by CI: a version moves
into an environment only along the configured order, with a passing gate verdict for its
exact content hash under the current gate file, with the approvals the environment
requires, and as a compare-and-swap on the pointer's current value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from . import gitops_hooks
from .announce import announce_promotion
from .errors import Conflict, GateFailed, GateInconclusive, InputError, NotFound, PermissionDenied
from .eval_runs import latest_run, load_run_output, suite_path, suite_sha256
from .gate import GateReport, evaluate_gate, gate_file_sha256, load_gate_config, rows_from_v3
from .lifecycle import transition
from .model import (
    Approval,
    Environment,
    GateResult,
    GateVerdict,
    LifecycleState,
    MoveKind,
    PointerMove,
    ProjectConfig,
    PromptEntry,
    VersionRecord,
    utcnow,
)
from .registry import Registry

#: Unset sentinel for ``expected_current``: read the pointer when the call starts.
CURRENT = object()
POST_REVIEW_DAYS = 2


# --------------------------------------------------------------------------- gate


def check_gate(
    registry: Registry,
    ref: str,
    *,
    env: str,
    baseline: str | None = None,
    record: bool = True,
) -> GateReport:
    """Apply the gate for ``env`` to the latest eval run of ``ref``'s content hash.

    The baseline is ``baseline`` (a version or an environment), else the version now in
    ``env``, compared on the same suite. With ``record`` the verdict is stored against
    the content hash and the gate file hash, and the version's state follows it.
    """
    repo = registry.repo
    repo.check_env(env)
    name, rec = registry.resolve(ref)
    v = registry.get(f"{name}@{rec.version}")
    suite = suite_path(registry, v, None)
    sha = suite_sha256(registry, suite)
    run = latest_run(registry, rec, name, sha)
    if run is None:
        raise NotFound(
            f"{name}@{rec.version} has no eval run on the current {suite}; run "
            f"'promptgov eval {name}@{rec.version}' first.",
            prompt=name,
            version=rec.version,
        )
    rows = rows_from_v3(load_run_output(registry, run), run.output)
    rules = load_gate_config(repo).rules(name, env)
    base_rows, base_label = _baseline(registry, name, rec, env, baseline, sha)
    report = evaluate_gate(
        rows, rules, env=env, prompt=name, baseline=base_rows, baseline_label=base_label
    )
    if record:
        _record_gate(registry, name, rec, env, report, run.run_id, base_label)
    return report


def _baseline(
    registry: Registry,
    name: str,
    rec: VersionRecord,
    env: str,
    baseline: str | None,
    suite_sha: str,
) -> tuple[list[Any] | None, str | None]:
    entry = registry.entry(name)
    if baseline is None:
        current = entry.environments.get(env, Environment()).current
        if current is None or current == rec.version:
            return None, None
        base_rec = registry.record(name, current)
    else:
        _, base_rec = registry.resolve(f"{name}@{baseline}")
    if base_rec.sha256 == rec.sha256:
        return None, None
    run = latest_run(registry, base_rec, name, suite_sha)
    if run is None:
        return None, f"{base_rec.version} (no run on this suite)"
    return rows_from_v3(
        load_run_output(registry, run), run.output
    ), f"{base_rec.version} (run {run.run_id})"


def _record_gate(
    registry: Registry,
    name: str,
    rec: VersionRecord,
    env: str,
    report: GateReport,
    run_id: str,
    base: str | None,
) -> None:
    repo = registry.repo
    gate_sha = gate_file_sha256(repo)
    with repo.transaction() as txn:
        reg = repo.registry(txn)
        entry = registry.entry(name, reg)
        result = GateResult(
            env=env,
            verdict=report.verdict,
            sha256=rec.sha256,
            gate_sha256=gate_sha,
            run_id=run_id,
            baseline_version=base,
            at=utcnow(),
        )
        target = (
            LifecycleState.EVALUATED_PASSED
            if report.verdict is GateVerdict.PASS
            else LifecycleState.EVALUATED_FAILED
        )
        versions = []
        for r in entry.versions:
            if r.sha256 == rec.sha256:
                new_status = r.status
                if r.status in (
                    LifecycleState.CANDIDATE,
                    LifecycleState.EVALUATED_PASSED,
                    LifecycleState.EVALUATED_FAILED,
                ):
                    new_status = transition(r.status, target, version=r.version)
                r = r.model_copy(
                    update={"gate_results": [*r.gate_results, result], "status": new_status}
                )
            versions.append(r)
        registry.save_entry(txn, reg, name, entry.model_copy(update={"versions": versions}))
        repo.audit(
            txn,
            action="gate",
            actor="gate",
            prompt=name,
            env=env,
            to_version=rec.version,
            to_sha256=rec.sha256,
            eval_run_id=run_id,
            gate_verdict=report.verdict.value,
            reason="; ".join(f"{c.name}: {c.status}" for c in report.failed())
            or "all checks passed",
            details={"gate_sha256": gate_sha, "baseline": base},
        )


# --------------------------------------------------------------------------- approvals


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


def approve(
    registry: Registry,
    ref: str,
    *,
    env: str,
    by: str,
    comment: str = "",
    accept_inconclusive: bool = False,
) -> Approval:
    """Record ``by``'s approval of ``ref`` for ``env``.

    Raises:
        PermissionDenied: ``by`` is not an allowed approver, or is the author (separation
            of duties) where the environment forbids self-approval.
        Conflict: ``by`` already approved this version for ``env``, or it is quarantined.
    """
    repo = registry.repo
    repo.check_env(env)
    if not by.strip():
        raise InputError("an approval needs --by.")
    policy = repo.config.environment(env)
    assert policy is not None
    if not allowed_approver(repo.config, env, by):
        raise PermissionDenied(
            f"{by} may not approve for {env}; allowed: {', '.join(policy.approvals.approvers)} "
            "(see promptgov.yml).",
        )
    with repo.transaction() as txn:
        reg = repo.registry(txn)
        name, rec = registry.resolve(ref, reg)
        if rec.author == by and not policy.approvals.allow_self_approval:
            raise PermissionDenied(
                f"{by} wrote {name}@{rec.version} and may not approve it for {env} "
                "(separation of duties); ask another approver.",
            )
        if rec.quarantine is not None:
            raise Conflict(
                f"{name}@{rec.version} is quarantined ({rec.quarantine.reason}); it cannot be approved."
            )
        if any(a.env == env and a.by == by for a in rec.approvals):
            raise Conflict(f"{by} already approved {name}@{rec.version} for {env}.")
        approval = Approval(
            env=env, by=by, at=utcnow(), comment=comment, accept_inconclusive=accept_inconclusive
        )
        status = rec.status
        if status in (
            LifecycleState.EVALUATED_PASSED,
            LifecycleState.EVALUATED_FAILED,
            LifecycleState.APPROVED,
        ):
            status = transition(status, LifecycleState.APPROVED, version=rec.version)
        _replace(
            registry,
            txn,
            reg,
            name,
            rec.model_copy(update={"approvals": [*rec.approvals, approval], "status": status}),
        )
        repo.audit(
            txn,
            action="approve",
            actor=by,
            prompt=name,
            env=env,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=comment or "approved",
            approvers=[by],
            details={"accept_inconclusive": accept_inconclusive},
        )
    return approval


def _replace(registry: Registry, txn: Any, reg: Any, name: str, new: VersionRecord) -> None:
    entry = registry.entry(name, reg)
    versions = [new if r.version == new.version else r for r in entry.versions]
    registry.save_entry(txn, reg, name, entry.model_copy(update={"versions": versions}))


# --------------------------------------------------------------------------- promotion


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


def _valid_approvers(config: ProjectConfig, env: str, rec: VersionRecord) -> list[str]:
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


@dataclass(frozen=True)
class Refusal:
    """One reason a promotion is refused; ``kind`` decides the error and what the emergency
    path may skip (everything but a quarantine)."""

    kind: Literal["order", "quarantined", "gate", "inconclusive", "approvals"]
    text: str

    def __str__(self) -> str:
        return self.text


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
    repo = registry.repo
    config = repo.config
    reasons: list[Refusal] = []
    policy = config.environment(env)
    assert policy is not None
    order = config.env_names
    idx = order.index(env)
    if idx > 0:
        prev = order[idx - 1]
        served = entry.environments.get(prev, Environment())
        if not any(m.version == rec.version for m in served.history):
            reasons.append(
                Refusal("order", f"it has never been in {prev} (promote it there first)")
            )
    if rec.quarantine is not None:
        reasons.append(Refusal("quarantined", f"it is quarantined ({rec.quarantine.reason})"))
    gate_sha = gate_file_sha256(repo)
    results = [
        g for r in entry.versions if r.sha256 == rec.sha256 for g in r.gate_results if g.env == env
    ]
    current = [g for g in results if g.gate_sha256 == gate_sha]
    verdict = max(current, key=lambda g: g.at).verdict if current else None
    if not results:
        reasons.append(
            Refusal(
                "gate",
                f"it has no gate verdict for {env} (run 'promptgov eval' then 'promptgov gate --env {env}')",
            )
        )
    elif verdict is None:
        reasons.append(
            Refusal(
                "gate",
                f"{config.gate_file} changed since its gate verdict; re-run 'promptgov gate --env {env}'",
            )
        )
    elif verdict is GateVerdict.FAIL:
        reasons.append(Refusal("gate", f"its gate verdict for {env} is fail"))
    elif verdict is GateVerdict.INCONCLUSIVE:
        if accept_inconclusive_by is None:
            reasons.append(
                Refusal(
                    "inconclusive",
                    f"its gate verdict for {env} is inconclusive (an approver may pass --accept-inconclusive)",
                )
            )
        elif not allowed_approver(config, env, accept_inconclusive_by):
            reasons.append(
                Refusal(
                    "inconclusive",
                    f"{accept_inconclusive_by} is not an approver for {env} and cannot accept an inconclusive gate",
                )
            )
        elif accept_inconclusive_by == rec.author and not policy.approvals.allow_self_approval:
            # Accepting an inconclusive gate is an approval: separation of duties applies.
            reasons.append(
                Refusal(
                    "inconclusive",
                    f"{accept_inconclusive_by} wrote {name}@{rec.version} and cannot accept its "
                    f"inconclusive gate for {env} (separation of duties)",
                )
            )
    approvers = _valid_approvers(config, env, rec)
    if len(approvers) < policy.approvals.required:
        have = f" (has: {', '.join(approvers)})" if approvers else ""
        reasons.append(
            Refusal(
                "approvals",
                f"it needs {policy.approvals.required} approval(s) for {env}, has {len(approvers)}{have}",
            )
        )
    return reasons, verdict, approvers


def promote(
    registry: Registry,
    ref: str,
    *,
    to: str,
    by: str,
    reason: str,
    expected_current: Any = CURRENT,
    accept_inconclusive: bool = False,
    emergency: bool = False,
    evidence: list[str] | None = None,
) -> PromotionResult:
    """Move environment ``to`` to ``ref``, if every rule allows it.

    ``expected_current`` is the version the caller believes ``to`` points at (``None`` for
    empty); by default it is read when the call starts, so two racing promotions cannot
    both win. The pointer history, change log and audit log are written in one
    transaction; nothing is written when any check refuses.

    Raises:
        CheckFailed subclasses / InputError subclasses with every reason at once.
    """
    repo = registry.repo
    repo.check_env(to)
    if not reason.strip() or not by.strip():
        raise InputError("a promotion needs --by and --reason.")
    name, _ = registry.resolve(ref)
    if expected_current is CURRENT:
        expected_current = registry.entry(name).environments.get(to, Environment()).current
    policy = repo.config.environment(to)
    assert policy is not None
    if emergency and not policy.allow_emergency:
        raise PermissionDenied(f"the emergency path is disabled for {to} in promptgov.yml.")
    with repo.transaction() as txn:
        reg = repo.registry(txn)
        name, rec = registry.resolve(ref, reg)
        entry = registry.entry(name, reg)
        state = entry.environments.get(to, Environment())
        if state.current != expected_current:
            raise Conflict(
                f"{to} moved meanwhile: it points at {state.current or 'nothing'}, not "
                f"{expected_current or 'nothing'}; re-check with 'promptgov status {name}' and retry.",
                env=to,
            )
        if state.current == rec.version:
            raise Conflict(f"{to} already serves {name}@{rec.version}.")
        refusals, verdict, approvers = promotion_refusals(
            registry,
            entry,
            name,
            rec,
            to,
            accept_inconclusive_by=by if accept_inconclusive else None,
        )
        if emergency:
            refusals = [r for r in refusals if r.kind == "quarantined"]
        if refusals:
            only_inconclusive = all(r.kind == "inconclusive" for r in refusals)
            exc_type = GateInconclusive if only_inconclusive else GateFailed
            raise exc_type(
                f"cannot promote {name}@{rec.version} to {to}: "
                + "; ".join(r.text for r in refusals)
                + ".",
                prompt=name,
                version=rec.version,
                env=to,
            )
        kind = MoveKind.EMERGENCY if emergency else MoveKind.PROMOTE
        details: dict[str, Any] = {}
        if emergency:
            details["post_review_due"] = (utcnow() + timedelta(days=POST_REVIEW_DAYS)).isoformat()
        if accept_inconclusive and verdict is GateVerdict.INCONCLUSIVE:
            details["accepted_inconclusive_by"] = by
        seq = repo.audit(
            txn,
            action="emergency-promote" if emergency else "promote",
            actor=by,
            prompt=name,
            env=to,
            from_version=state.current,
            from_sha256=registry.record(name, state.current, reg).sha256 if state.current else None,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=reason,
            approvers=approvers,
            gate_verdict=verdict.value if verdict else None,
            evidence=evidence or [],
            details=details,
        )
        move = PointerMove(
            seq=len(state.history) + 1,
            version=rec.version,
            previous=state.current,
            kind=kind,
            at=utcnow(),
            by=by,
            reason=reason,
            approvers=approvers,
            gate_verdict=verdict,
            evidence=evidence or [],
            audit_seq=seq,
        )
        entry = move_pointer(entry, to, move)
        registry.save_entry(txn, reg, name, entry)
        repo.append_changelog(
            txn,
            time=move.at,
            action=kind.value,
            prompt=name,
            version=rec.version,
            env=to,
            from_version=state.current,
            summary=reason,
            author=by,
            approvers=approvers,
            gate_verdict=verdict,
            links=evidence or [],
            audit_seq=seq,
        )
    result = PromotionResult(name, to, move, seq)
    gitops_hooks.after_move(repo, result, action=kind.value)
    card = repo.get_card(rec.card_sha256)
    result.notifications = [
        r.to_dict() for r in announce_promotion(repo, result, owners=card.all_owners)
    ]
    return result


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
