"""Step 1 of a rollback: the last known good version of an environment, and why each newer
candidate was skipped."""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..model import Environment, GateVerdict, PromptEntry, VersionRecord, identity_key
from ..registry import Registry
from ._rollback_results import Candidate, RollbackPlan


def eligibility(
    registry: Registry, entry: PromptEntry, env: str, rec: VersionRecord, current: VersionRecord
) -> list[str]:
    """Why ``rec`` cannot be the last known good of ``env`` (empty when it can)."""
    reasons = []
    same_content = [r for r in entry.versions if r.sha256 == rec.sha256]
    if rec.sha256 == current.sha256:
        reasons.append("same content as the current version")
    if not any(
        g.verdict is GateVerdict.PASS and g.env == env for r in same_content for g in r.gate_results
    ):
        reasons.append(f"no passing gate result for its content hash in {env}")
    policy = registry.repo.config.environment(env)
    required = policy.approvals.required if policy else 0
    approvers = {identity_key(a.by) for r in same_content for a in r.approvals if a.env == env}
    if len(approvers) < required:
        reasons.append(f"not approved for {env} ({len(approvers)} of {required} approvals)")
    served = entry.environments.get(env, Environment()).history
    if not any(m.version in {r.version for r in same_content} for m in served):
        reasons.append(f"never served in {env}")
    quarantined = [r for r in same_content if r.quarantine is not None]
    if quarantined:
        q = quarantined[0].quarantine
        assert q is not None
        reasons.append(f"quarantined ({q.source}: {q.reason})")
    if rec.retired:
        reasons.append("retired")
    return reasons


def locate_last_known_good(
    registry: Registry, name: str, env: str, *, to: str | None, force: bool
) -> RollbackPlan:
    """Walk the pointer history backwards to the first eligible version (or check ``to``)."""
    entry = registry.entry(name)
    state = entry.environments.get(env, Environment())
    if state.current is None:
        raise NotFound(
            f"{name} has never been deployed to {env}; there is nothing to roll back.",
            prompt=name,
            env=env,
        )
    current = registry.record(name, state.current)
    candidates: list[Candidate] = []
    target: str | None = None
    if to is not None:
        rec = registry.record(name, to)
        reasons = eligibility(registry, entry, env, rec, current)
        candidates.append(Candidate(to, not reasons, reasons))
        if reasons and not force:
            raise Conflict(
                f"{name}@{to} is not eligible as a rollback target for {env}: {'; '.join(reasons)}; "
                "a forced restore (recorded, with a reason) restores it anyway.",
                cli_hint="Pass --force.",
                prompt=name,
                env=env,
            )
        target = to
    else:
        seen = {current.version}
        for move in reversed(state.history):
            for version in (move.version, move.previous):
                if version is None or version in seen:
                    continue
                seen.add(version)
                reasons = eligibility(registry, entry, env, registry.record(name, version), current)
                candidates.append(Candidate(version, not reasons, reasons))
                if not reasons:
                    target = version
                    break
            if target:
                break
        if target is None:
            skipped = (
                "; ".join(f"{c.version}: {', '.join(c.reasons)}" for c in candidates)
                or "no earlier version was ever served"
            )
            raise NotFound(
                f"{env} has no last known good version of {name} ({skipped}); name a target "
                "explicitly to restore one anyway.",
                cli_hint=f"Run 'promptgov rollback {name} --env {env} --dry-run' to see every "
                "candidate, or name one with --to.",
                prompt=name,
                env=env,
            )
    new_version = _rollback_version(entry, target)
    return RollbackPlan(
        name,
        env,
        current.version,
        target,
        new_version,
        candidates,
        force and bool(to),
        reused=any(r.version == new_version for r in entry.versions),
    )


#: The build-metadata tag of rollback versions: ``1.2.1+rollback``. Build metadata does not
#: change semantic-version precedence, so a rollback version never sorts below the version
#: it restores (a ``-rollback`` pre-release did) nor above the next authored release.
ROLLBACK_TAG = "rollback"


def is_rollback_name(version: str) -> bool:
    """True for a name of the form rollback versions take (``1.2.1+rollback``, ``+rollback.2``)."""
    _, plus, build = version.partition("+")
    return bool(plus) and build.split(".")[0] == ROLLBACK_TAG


def _rollback_version(entry: PromptEntry, target: str) -> str:
    """The version a restore of ``target`` serves.

    The rollback version that already holds ``target``'s content and card is reused (the
    target itself, when it is one), so rolling back to one content again and again moves
    the pointer to one version rather than minting ``-rollback.2`` … ``.5``. Otherwise a
    new ``<target>+rollback`` (``+rollback.2``… if another content took that name).
    """
    rec = next(r for r in entry.versions if r.version == target)
    same = [
        r
        for r in entry.versions
        if r.restored_from is not None
        and r.sha256 == rec.sha256
        and r.card_sha256 == rec.card_sha256
    ]
    if rec in same:
        return rec.version
    if same:
        return next((r for r in same if r.quarantine is None), same[0]).version
    base = f"{target.partition('+')[0]}+{ROLLBACK_TAG}"
    existing = {r.version for r in entry.versions}
    if base not in existing:
        return base
    n = 2
    while f"{base}.{n}" in existing:
        n += 1
    return f"{base}.{n}"
