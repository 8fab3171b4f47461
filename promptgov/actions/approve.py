"""The approve action: record one person's approval of a version for an environment."""

from __future__ import annotations

from dataclasses import dataclass

from .. import signed_decisions as _signatures
from ..errors import Conflict, InputError, PermissionDenied
from ..lifecycle import after_approval
from ..model import Approval, EnvironmentConfig, VersionRecord, identity, utcnow
from ..registry import Registry, parse_ref
from ._policy import allowed_approver, same_person
from ._policy_files import require_policy_in_force
from ._text import FreeText


@dataclass(frozen=True)
class ApproveOptions(FreeText):
    """What is approved, and how."""

    _free_text = ("comment",)

    env: str
    """The environment the approval is for (it never counts for another)."""
    comment: str = ""
    """Why the approver agrees."""
    accept_inconclusive: bool = False
    """The approver also accepts an inconclusive gate verdict."""
    sign_with: str | None = None
    """The SSH key that signs the approval: a private key file, or a ``.pub`` whose key
    ssh-agent holds (required where the environment has ``require_signatures``)."""


def approve(registry: Registry, ref: str, options: ApproveOptions, *, by: str) -> Approval:
    """Record ``by``'s approval of ``ref`` for ``options.env``.

    Raises:
        PermissionDenied: ``by`` is not an allowed approver, or is the author (separation
            of duties) where the environment forbids self-approval.
        Conflict: ``by`` already approved this version for the environment, or it is
            quarantined.
    """
    repo = registry.repo
    by = identity(by)
    policy = _policy(registry, options.env, by)
    require_policy_in_force(repo)
    name, _ = parse_ref(ref)
    with repo.edit(name) as e:
        _, rec = registry.resolve(ref, e.registry)
        _refuse(name, rec, options.env, by, policy)
        approval = Approval(
            env=options.env,
            by=by,
            at=utcnow(),
            comment=options.comment,
            accept_inconclusive=options.accept_inconclusive,
        )
        signed = _signatures.sign(
            repo,
            _signatures.approval_decision(name, rec, approval),
            options.sign_with,
            what=f"{by}'s approval of {name}@{rec.version} for {options.env}",
        )
        approval = approval.model_copy(update={"signed": signed})
        e.replace(
            rec.model_copy(
                update={
                    "approvals": [*rec.approvals, approval],
                    "status": after_approval(rec.status, version=rec.version),
                }
            )
        )
        e.audit(
            action="approve",
            actor=by,
            prompt=name,
            env=options.env,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=options.comment or "approved",
            approvers=[by],
            details={"accept_inconclusive": options.accept_inconclusive}
            | ({"signed": True} if signed else {}),
        )
    return approval


def _policy(registry: Registry, env: str, by: str) -> EnvironmentConfig:
    """The environment's policy, once ``by`` is known to be one of its approvers."""
    repo = registry.repo
    repo.check_env(env)
    if not by.strip():
        raise InputError("an approval needs the approver.", cli_hint="Pass --by.")
    policy = repo.config.environment(env)
    assert policy is not None
    if not allowed_approver(repo.config, env, by):
        raise PermissionDenied(
            f"{by} may not approve for {env}; allowed: {', '.join(policy.approvals.approvers)} "
            "(see promptgov.yml).",
        )
    return policy


def _refuse(name: str, rec: VersionRecord, env: str, by: str, policy: EnvironmentConfig) -> None:
    """Separation of duties, quarantine and duplicate approvals, checked under the lock."""
    if same_person(rec.author, by) and not policy.approvals.allow_self_approval:
        raise PermissionDenied(
            f"{by} wrote {name}@{rec.version} and may not approve it for {env} "
            "(separation of duties); ask another approver.",
        )
    if rec.quarantine is not None:
        raise Conflict(
            f"{name}@{rec.version} is quarantined ({rec.quarantine.reason}); it cannot be approved."
        )
    if any(a.env == env and same_person(a.by, by) for a in rec.approvals):
        raise Conflict(f"{by} already approved {name}@{rec.version} for {env}.")
