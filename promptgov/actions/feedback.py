"""Complaints against a serving version, and auditors' flags that quarantine a version.

A complaint is stored in ``logs/complaints/<name>.jsonl`` (append-only, one JSON object a
line) together with its audit entry, in one transaction; the ``complaints`` trigger counts
them. A flag quarantines the version with source ``audit-flag``, so it is never chosen as
last known good and the ``audit_flags`` trigger fires while it serves; only an allowed
approver can clear a quarantine, and both acts are audit-logged.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from .. import signed_decisions as _signatures
from ..errors import Conflict, InputError, NotFound, PermissionDenied
from ..lifecycle import quarantine, release
from ..model import Environment, PromptEntry, Quarantine, VersionRecord, identity, utcnow
from ..monitor.feedback import COMPLAINTS_DIR, Complaint, complaints, complaints_path
from ..monitor.policy import Severity
from ..registry import Registry
from ._policy import allowed_approver
from ._policy_files import require_policy_in_force
from ._text import FreeText

__all__ = [
    "COMPLAINTS_DIR",
    "MAX_TEXT",
    "ClearOptions",
    "Complaint",
    "ComplaintOptions",
    "FlagOptions",
    "clear_quarantine",
    "complaints",
    "flag_version",
    "report_complaint",
]

#: Longest complaint text kept; longer texts belong in an evidence file.
MAX_TEXT = 4000
DEFAULT_SEVERITY = Severity.MEDIUM


def parse_severity(value: str | Severity) -> Severity:
    """``"high"`` → :attr:`Severity.HIGH`; anything else is an :class:`InputError`."""
    try:
        return Severity(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in Severity)
        raise InputError(f"unknown severity {value!r}; use one of {choices}.") from None


@dataclass(frozen=True)
class ComplaintOptions(FreeText):
    """What went wrong, where, and how badly."""

    _free_text = ("complaint", "evidence")

    complaint: str
    """The complaint's text (at most :data:`MAX_TEXT` characters)."""
    env: str = "prod"
    """The environment whose served version is complained about."""
    severity: str | Severity = DEFAULT_SEVERITY
    """low, medium, high or critical."""
    evidence: tuple[str, ...] = ()
    """Links or files: transcripts, tickets."""
    sign_with: str | None = None
    """The SSH key that signs the complaint (see :mod:`promptgov.signing`)."""


@dataclass(frozen=True)
class FlagOptions(FreeText):
    """Why an auditor flags a version."""

    _free_text = ("reason",)

    reason: str
    sign_with: str | None = None
    """The SSH key that signs the flag."""


@dataclass(frozen=True)
class ClearOptions(FreeText):
    """Why a quarantine is lifted, and under which environment's approvers."""

    _free_text = ("reason",)

    reason: str
    env: str | None = None
    """Whose approver list applies (default: the last environment, the strictest)."""
    sign_with: str | None = None
    """The SSH key that signs the clearance (required where ``env`` requires signatures)."""


def report_complaint(
    registry: Registry, name: str, options: ComplaintOptions, *, by: str
) -> Complaint:
    """Record a complaint against the version ``name`` serves in ``env``.

    The complaint line and its ``complaint`` audit entry are written in one transaction,
    so neither exists without the other.

    Raises:
        InputError: empty text or reporter, unknown severity, text over :data:`MAX_TEXT`.
        NotFound: unknown prompt or environment, or nothing is deployed there.
    """
    text, env, by = options.complaint, options.env, identity(by)
    sev = parse_severity(options.severity)
    if not text.strip():
        raise InputError(
            "a complaint needs its text, saying what went wrong.",
            cli_hint="Pass --complaint TEXT.",
        )
    if not by.strip():
        raise InputError("a complaint needs who reported it.", cli_hint="Pass --by.")
    if len(text) > MAX_TEXT:
        raise InputError(
            f"complaint text is {len(text)} characters (limit {MAX_TEXT}); put the full "
            "transcript in a file and link it as evidence.",
            cli_hint="Pass the file with --evidence.",
        )
    repo = registry.repo
    repo.check_env(env)
    links = [e for e in options.evidence if e.strip()]
    with repo.edit(name) as e:
        current = e.entry.environments.get(env, Environment()).current
        if current is None:
            raise NotFound(
                f"{name} is not deployed to {env}, so there is no served version to complain "
                "about; check the prompt name and the environment.",
                cli_hint="See --env.",
                prompt=name,
                env=env,
            )
        rec = e.record(current)
        now = utcnow()
        draft = Complaint(
            id=f"c-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
            prompt=name,
            env=env,
            version=rec.version,
            sha256=rec.sha256,
            at=now,
            by=by,
            severity=sev,
            text=text,
            evidence=links,
        )
        draft = draft.model_copy(
            update={
                "signed": _signatures.sign(
                    repo,
                    _signatures.simple_decision("complaint", name, rec, env, by, now, text),
                    options.sign_with,
                    what=f"{by}'s complaint",
                    optional=True,
                )
            }
        )
        seq = e.audit(
            action="complaint",
            actor=by,
            prompt=name,
            env=env,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=f"{sev.value} complaint: {text[:200]}",
            evidence=links,
            details={"complaint_id": draft.id, "severity": sev.value},
        )
        complaint = draft.model_copy(update={"audit_seq": seq})
        line = json.dumps(complaint.model_dump(mode="json"), ensure_ascii=False) + "\n"
        e.txn.append(complaints_path(name), line.encode("utf-8"))
    return complaint


# --------------------------------------------------------------------------- flags


def _versioned(registry: Registry, ref: str) -> tuple[str, VersionRecord]:
    """Resolve ``name@version`` (or ``name@env``); a bare name is refused as ambiguous."""
    if "@" not in ref:
        raise InputError(f"name the version: use {ref}@<version> (or {ref}@<env>).")
    return registry.resolve(ref)


def flag_version(registry: Registry, ref: str, options: FlagOptions, *, by: str) -> VersionRecord:
    """Record an auditor's flag on ``ref`` and quarantine it (source ``audit-flag``).

    A flagged version is never chosen as last known good, cannot be approved or promoted,
    and fires the ``audit_flags`` trigger while it serves. An existing quarantine for
    another reason is replaced by the flag (the old one is kept in the audit entry).

    Raises:
        InputError: empty reason or auditor, or no version named.
        Conflict: the version is already flagged.
    """
    reason, by = options.reason, identity(by)
    if not reason.strip() or not by.strip():
        raise InputError(
            "a flag needs a reason and the auditor.", cli_hint="Pass --reason and --by."
        )
    name, _ = _versioned(registry, ref)
    with registry.repo.edit(name) as e:
        name, rec = registry.resolve(ref, e.registry)
        old = rec.quarantine
        if old is not None and old.source == "audit-flag":
            raise Conflict(
                f"{name}@{rec.version} is already flagged by {old.by} ({old.reason}); "
                "clear that quarantine first to flag it again.",
                cli_hint="Run 'promptgov quarantine clear'.",
                prompt=name,
                version=rec.version,
            )
        q = Quarantine(reason=reason, by=by, at=utcnow(), source="audit-flag")
        decision = _signatures.simple_decision("flag", name, rec, None, by, q.at, reason)
        signed = _signatures.sign(registry.repo, decision, options.sign_with, what=f"{by}'s flag")
        q = q.model_copy(update={"signed": signed})
        status = quarantine(rec.status, version=rec.version)
        new = rec.model_copy(update={"quarantine": q, "status": status})
        e.replace(new)
        e.audit(
            action="flag",
            actor=by,
            prompt=name,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=reason,
            details={
                "quarantine_source": "audit-flag",
                "serving_in": _serving_envs(e.entry, rec.version),
                "replaced_quarantine": old.model_dump(mode="json") if old else None,
            },
        )
    return new


def clear_quarantine(
    registry: Registry, ref: str, options: ClearOptions, *, by: str
) -> VersionRecord:
    """Lift the quarantine of ``ref``: only an approver allowed for ``env`` may do it.

    ``env`` defaults to the last environment in promotion order (the strictest). The
    cleared quarantine is kept in the audit entry; the version becomes eligible as last
    known good again if it meets every other condition.

    Raises:
        InputError: empty reason or approver, or no version named.
        PermissionDenied: ``by`` is not an allowed approver for ``env``.
        Conflict: the version is not quarantined.
    """
    reason, by = options.reason, identity(by)
    if not reason.strip() or not by.strip():
        raise InputError(
            "clearing a quarantine needs an approver and a reason.",
            cli_hint="Pass --by and --reason.",
        )
    repo = registry.repo
    env = repo.check_env(options.env or repo.config.env_names[-1])
    _require_approver(registry, env, by)
    require_policy_in_force(repo)
    name, _ = _versioned(registry, ref)
    with repo.edit(name) as e:
        name, rec = registry.resolve(ref, e.registry)
        old = rec.quarantine
        if old is None:
            raise Conflict(f"{name}@{rec.version} is not quarantined; nothing to clear.")
        for concerned in _concerned_envs(e.entry, rec.version, old, repo.config.env_names):
            _require_approver(registry, concerned, by)
        serving = _serving_envs(e.entry, rec.version)
        status = release(rec.status, serving=bool(serving), version=rec.version)
        new = rec.model_copy(update={"quarantine": None, "status": status})
        decision = _signatures.simple_decision(
            "quarantine-clear", name, rec, env, by, utcnow(), reason
        )
        signed = _signatures.sign(
            repo, decision, options.sign_with, what=f"{by}'s clearing of the quarantine"
        )
        e.replace(new)
        e.audit(
            action="quarantine-clear",
            actor=by,
            prompt=name,
            to_version=rec.version,
            to_sha256=rec.sha256,
            reason=reason,
            approvers=[by],
            details={"cleared": old.model_dump(mode="json"), "approver_env": env}
            | ({"signed": signed.model_dump(mode="json")} if signed else {}),
        )
    return new


def _require_approver(registry: Registry, env: str, by: str) -> None:
    """Only an approver allowed for ``env`` may lift a quarantine that concerns it."""
    config = registry.repo.config
    if allowed_approver(config, env, by):
        return
    policy = config.environment(env)
    allowed = ", ".join(policy.approvals.approvers) if policy else ""
    raise PermissionDenied(
        f"{by} may not clear a quarantine: only approvers for {env} may ({allowed}; "
        "see promptgov.yml)."
    )


def _concerned_envs(entry: PromptEntry, version: str, q: Quarantine, order: list[str]) -> list[str]:
    """Every environment a quarantine concerns: where the version served, and where it
    was rolled back from (a quarantine set in prod is never lifted by a dev approver)."""
    served = {
        env
        for env, state in entry.environments.items()
        for m in state.history
        if m.version == version
    }
    served |= {rb.env for rb in entry.rollbacks if rb.rollback_of == version}
    return [env for env in order if env in served]


def _serving_envs(entry: PromptEntry, version: str) -> list[str]:
    return sorted(e for e, state in entry.environments.items() if state.current == version)
