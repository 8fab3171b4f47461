"""Signatures on decisions, under the repository's policy: the allowed signers, what each
record's statement must bind, and which signed approvals count.

``require_signatures:`` on an environment makes every approval and pointer move into it
count only when its Statement verifies under a key the allowed-signers file gives to the
person the record names, valid at the Statement's time. Distinct approvers are distinct
keys; a key that also belongs to the author is self-approval whatever the spelling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import signing
from .errors import PermissionDenied
from .model import (
    Approval,
    EvalRunRef,
    GateResult,
    PointerMove,
    PostReview,
    PromptEntry,
    SignedStatement,
    VersionRecord,
    identity_key,
)
from .repo import Repo
from .store.files import read_bytes


def signers(repo: Repo) -> list[signing.AllowedSigner]:
    """The allowed signers the policy names (none when it names no file or it is missing).

    Raises:
        InvalidFile: the file does not parse.
    """
    rel = repo.config.allowed_signers
    if not rel:
        return []
    data = read_bytes(repo.path(rel))
    return [] if data is None else signing.parse(data.decode("utf-8", "replace"), label=rel)


def required(repo: Repo, env: str) -> bool:
    """Whether decisions about ``env`` must be signed."""
    policy = repo.config.environment(env)
    return bool(policy and policy.require_signatures)


def approval_decision(name: str, rec: VersionRecord, a: Approval) -> signing.Decision:
    """What an approval's Statement must say."""
    return signing.Decision(
        action="approve",
        prompt=name,
        sha256=rec.sha256,
        version=rec.version,
        env=a.env,
        by=a.by,
        at=a.at,
        reason=a.comment,
        gate_verdict=_verdict(rec, a.env),
        eval_run=rec.eval_runs[-1].run_id if rec.eval_runs else None,
    )


def move_decision(name: str, sha256: str, env: str, m: PointerMove) -> signing.Decision:
    """What a pointer move's Statement must say (promotion, emergency use or rollback)."""
    return signing.Decision(
        action=m.kind.value,
        prompt=name,
        sha256=sha256,
        version=m.version,
        env=env,
        by=m.by,
        at=m.at,
        reason=m.reason,
        gate_verdict=m.gate_verdict.value if m.gate_verdict else None,
    )


def gate_decision(
    repo: Repo, name: str, rec: VersionRecord, g: GateResult, results: str
) -> signing.Decision:
    """What a gate verdict's Statement must say: over the results file's sha256. A verdict
    is about content, which versions sharing it share, so it names no version."""
    data = read_bytes(repo.path(results))
    return signing.Decision(
        action="gate",
        prompt=name,
        sha256=g.sha256,
        version="",
        env=g.env,
        by=g.by or "",
        at=g.at,
        gate_verdict=g.verdict.value,
        eval_run=g.run_id,
        results_sha256=hashlib.sha256(data).hexdigest() if data is not None else None,
    )


def eval_decision(name: str, version: str, r: EvalRunRef) -> signing.Decision:
    """What an eval run's Statement must say: over its output file's sha256."""
    return signing.Decision(
        action="eval",
        prompt=name,
        sha256=r.sha256,
        version=version,
        env=None,
        by=r.by,
        at=r.at,
        eval_run=r.run_id,
        results_sha256=r.output_sha256,
    )


def simple_decision(
    action: str,
    name: str,
    rec: VersionRecord,
    env: str | None,
    by: str,
    at: datetime,
    reason: str,
) -> signing.Decision:
    """The Statement of a decision about one version that relies on no gate or run: a
    complaint, an audit flag, a quarantine clearance."""
    return signing.Decision(
        action=action,
        prompt=name,
        sha256=rec.sha256,
        version=rec.version,
        env=env,
        by=by,
        at=at,
        reason=reason,
    )


def review_decision(name: str, sha256: str, r: PostReview) -> signing.Decision:
    """What a post-review's Statement must say."""
    return signing.Decision(
        action="post-review",
        prompt=name,
        sha256=sha256,
        version=r.version,
        env=r.env,
        by=r.by,
        at=r.at,
        reason=r.reason,
    )


def _verdict(rec: VersionRecord, env: str) -> str | None:
    results = [g for g in rec.gate_results if g.env == env]
    return max(results, key=lambda g: g.at).verdict.value if results else None


def sign(
    repo: Repo,
    decision: signing.Decision,
    key: str | Path | None,
    *,
    what: str,
    optional: bool = False,
) -> SignedStatement | None:
    """The decision signed with ``key`` (None without a key where the policy allows it, or
    where the act is ``optional``: a complaint anyone may file).

    A signature the allowed signers would not count is refused now, not at promotion.

    Raises:
        PermissionDenied: the environment requires a signature and there is no key, or the
            key is not one the allowed signers give to ``decision.by``.
    """
    env = decision.env or ""
    if key is None:
        if required(repo, env) and not optional:
            raise PermissionDenied(
                f"{what} must be signed: {env} has require_signatures in promptgov.yml.",
                cli_hint="Pass --sign-with KEY (or set PROMPTGOV_SIGNING_KEY).",
            )
        return None
    signed = signing.sign_decision(decision, key)
    result = signing.check(signed, decision, signers(repo))
    if not result.ok and (required(repo, env) or repo.config.allowed_signers):
        raise PermissionDenied(
            f"{what} was not recorded: {result.why}.",
            cli_hint="See 'promptgov keys list'; keys are added with 'promptgov keys add'.",
        )
    return signed


@dataclass(frozen=True)
class SignedApprovers:
    """The approvals of one version for one environment, judged by their signatures."""

    counted: list[str]
    """One name per distinct key that counts."""
    refused: list[str]
    """``alice's approval: key … is revoked``: each approval that does not count, and why."""


def signed_approvers(
    repo: Repo,
    name: str,
    rec: VersionRecord,
    env: str,
    approvals: Iterable[Approval],
    *,
    allow_self: bool,
) -> SignedApprovers:
    """Which of ``approvals`` count when signatures are required: one per key."""
    allowed = signers(repo)
    author = identity_key(rec.author)
    keys: dict[str, str] = {}
    refused: list[str] = []
    for a in approvals:
        if a.env != env:
            continue
        result = signing.check(a.signed, approval_decision(name, rec, a), allowed)
        why = result.why
        if result.ok and not allow_self and _keys_of(allowed, result.fingerprint, author):
            why = f"its key also belongs to the author {rec.author} (self-approval)"
        if why:
            refused.append(f"{a.by}'s approval: {why}")
        elif result.fingerprint in keys:
            refused.append(
                f"{a.by}'s approval: signed with the key {keys[result.fingerprint]} used"
            )
        else:
            keys[str(result.fingerprint)] = a.by
    return SignedApprovers(sorted(keys.values()), refused)


def _keys_of(allowed: Iterable[signing.AllowedSigner], fingerprint: str | None, who: str) -> bool:
    """Whether the key ``fingerprint`` is also given to the person ``who``."""
    return any(
        s.fingerprint == fingerprint and who in {identity_key(p) for p in s.principals}
        for s in allowed
    )


@dataclass(frozen=True)
class SignatureFinding:
    """One record whose signature does not count."""

    where: str
    """``support-reply@1.2.1 approval by alice for prod``."""
    why: str
    unsigned: bool
    """True for a record without a signature (a problem only where none was required)."""


def audit_signatures(
    repo: Repo, entries: Iterable[tuple[str, PromptEntry]], *, every_unsigned: bool = False
) -> Iterator[SignatureFinding]:
    """Every signed record that does not verify, and every unsigned one in an environment
    that requires signatures (with ``every_unsigned``, every unsigned one), across
    ``entries`` (read-only)."""
    allowed = signers(repo)
    for name, entry in entries:
        by_version = {r.version: r for r in entry.versions}
        for rec in entry.versions:
            for a in rec.approvals:
                yield from _finding(
                    repo,
                    f"{name}@{rec.version} approval by {a.by} for {a.env}",
                    a.signed,
                    approval_decision(name, rec, a),
                    allowed,
                    every_unsigned,
                )
            for run in rec.eval_runs:
                if run.signed is not None:
                    yield from _finding(
                        repo,
                        f"{name}@{rec.version} eval run {run.run_id} by {run.by}",
                        run.signed,
                        eval_decision(name, rec.version, run),
                        allowed,
                        every_unsigned,
                    )
            q = rec.quarantine
            if q is not None and q.signed is not None:
                yield from _finding(
                    repo,
                    f"{name}@{rec.version} {q.source} quarantine by {q.by}",
                    q.signed,
                    simple_decision("flag", name, rec, None, q.by, q.at, q.reason),
                    allowed,
                    every_unsigned,
                )
            runs = {r.run_id: r.output for v in entry.versions for r in v.eval_runs}
            for g in rec.gate_results:
                if g.signed is not None and g.run_id in runs:
                    yield from _finding(
                        repo,
                        f"{name}@{rec.version} gate verdict for {g.env} by {g.by}",
                        g.signed,
                        gate_decision(repo, name, rec, g, runs[g.run_id]),
                        allowed,
                        every_unsigned,
                    )
        for env, state in entry.environments.items():
            for m in state.history:
                target = by_version.get(m.version)
                if target is None:
                    continue
                yield from _finding(
                    repo,
                    f"{name} {env} move #{m.seq} to {m.version} by {m.by}",
                    m.signed,
                    move_decision(name, target.sha256, env, m),
                    allowed,
                    every_unsigned,
                )
        for r in entry.post_reviews:
            target = by_version.get(r.version)
            if target is not None:
                yield from _finding(
                    repo,
                    f"{name} {r.env} post-review of move #{r.move_seq} by {r.by}",
                    r.signed,
                    review_decision(name, target.sha256, r),
                    allowed,
                    every_unsigned,
                )


def _finding(
    repo: Repo,
    where: str,
    signed: SignedStatement | None,
    decision: signing.Decision,
    allowed: list[signing.AllowedSigner],
    every_unsigned: bool,
) -> Iterator[SignatureFinding]:
    if signed is None:
        if every_unsigned or required(repo, decision.env or ""):
            yield SignatureFinding(where, "it is unsigned", unsigned=True)
        return
    result = signing.check(signed, decision, allowed)
    if not result.ok:
        yield SignatureFinding(where, result.why, unsigned=False)


def current_move_problem(repo: Repo, name: str, entry: PromptEntry, env: str) -> str | None:
    """Why the move that put ``env``'s current version in place lacks valid signatures
    under the policy (None: it is signed, and so are the approvals it counted)."""
    state = entry.environments.get(env)
    if state is None or not state.history:
        return f"{env} has no pointer move for {name}"
    move = state.history[-1]
    rec = next((r for r in entry.versions if r.version == move.version), None)
    if rec is None:
        return f"{name}@{move.version} is not in the registry"
    allowed = signers(repo)
    result = signing.check(move.signed, move_decision(name, rec.sha256, env, move), allowed)
    if not result.ok:
        return f"the move of {env} to {name}@{move.version} by {move.by}: {result.why}"
    policy = repo.config.environment(env)
    if move.kind.value == "promote" and policy is not None and policy.approvals.required:
        judged = signed_approvers(
            repo, name, rec, env, rec.approvals, allow_self=policy.approvals.allow_self_approval
        )
        if len(judged.counted) < policy.approvals.required:
            why = "; ".join(judged.refused) or "no signed approval"
            return (
                f"{name}@{move.version} has {len(judged.counted)} of the "
                f"{policy.approvals.required} signed approval(s) {env} needs ({why})"
            )
    return None
