"""The review action: another approver's post-review of an emergency move.

The emergency path (``promote --emergency``, ``rollback --emergency``) skips the gate or
the approvals, so the move carries a date by which someone else must look at it. Until
that review is recorded here, ``status`` lists it, every command warns once it is
overdue, and ``verify --strict`` fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import signed_decisions as _signatures
from ..errors import InputError, NotFound, PermissionDenied
from ..model import MoveKind, PointerMove, PostReview, PromptEntry, identity, utcnow
from ..post_review import PostReviewDue, post_reviews_due
from ..registry import Registry, parse_ref
from ._policy import allowed_approver, same_person
from ._policy_files import require_policy_in_force
from ._text import FreeText


@dataclass(frozen=True)
class ReviewOptions(FreeText):
    """Which emergency move is reviewed, and the reviewer's finding."""

    _free_text = ("reason", "evidence")

    env: str
    """The environment the emergency move was made in."""
    reason: str
    """What the review found (recorded on the review, the change log and the audit entry)."""
    evidence: tuple[str, ...] = ()
    """Links or files the review relied on: incident report, eval runs."""
    sign_with: str | None = None
    """The SSH key that signs the review (required where the environment requires it)."""


@dataclass(frozen=True)
class ReviewResult:
    """The recorded review and the emergency move it closed (late or not, at review time)."""

    review: PostReview
    reviewed: PostReviewDue

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"review": self.review.model_dump(mode="json"), "reviewed": self.reviewed.to_dict()}


def review(registry: Registry, ref: str, options: ReviewOptions, *, by: str) -> ReviewResult:
    """Record ``by``'s post-review of the open emergency move of ``ref`` in ``options.env``.

    ``ref`` is the prompt, or ``name@version`` to pick one of several open reviews. The
    review, its audit entry and its change-log entry are written in one unit of work.

    Raises:
        InputError: no reason or reviewer, or several open reviews and no version named.
        NotFound: no open post-review matches.
        PermissionDenied: ``by`` is not an approver of the environment, made the emergency
            move, or wrote the version (where the environment forbids self-approval).
    """
    by = identity(by)
    env = _check_request(registry, options, by)
    require_policy_in_force(registry.repo)
    name, selector = parse_ref(ref)
    version = registry.resolve(ref)[1].version if selector else None
    with registry.repo.edit(name) as e:
        move = _open_move(e.entry, name, env, version)
        _refuse(registry, e.entry, name, env, move, by)
        now = utcnow()
        (due,) = post_reviews_due(name, [(env, move)], now)
        seq = e.audit(
            action="post-review",
            actor=by,
            prompt=name,
            env=env,
            to_version=move.version,
            to_sha256=e.record(move.version).sha256,
            reason=options.reason,
            evidence=list(options.evidence),
            details={
                "reviewed_move": {"seq": move.seq, "by": move.by, "kind": move.kind.value},
                "post_review_due": due.due.isoformat(),
                "overdue": due.overdue_by is not None,
            },
        )
        done = PostReview(
            env=env,
            move_seq=move.seq,
            version=move.version,
            by=by,
            at=now,
            reason=options.reason,
            evidence=list(options.evidence),
            audit_seq=seq,
        )
        signed = _signatures.sign(
            registry.repo,
            _signatures.review_decision(name, e.record(move.version).sha256, done),
            options.sign_with,
            what=f"{by}'s post-review of the {env} move #{move.seq}",
        )
        done = done.model_copy(update={"signed": signed})
        e.entry = e.entry.model_copy(update={"post_reviews": [*e.entry.post_reviews, done]})
        e.changelog(
            time=now,
            action="post-review",
            prompt=name,
            version=move.version,
            env=env,
            summary=options.reason,
            author=by,
            links=list(options.evidence),
            audit_seq=seq,
        )
    return ReviewResult(done, due)


def _check_request(registry: Registry, options: ReviewOptions, by: str) -> str:
    """The environment, once the request is complete and ``by`` may review there."""
    repo = registry.repo
    env = repo.check_env(options.env)
    if not options.reason.strip() or not by.strip():
        raise InputError(
            "a post-review needs the reviewer and a reason.", cli_hint="Pass --by and --reason."
        )
    if not allowed_approver(repo.config, env, by):
        policy = repo.config.environment(env)
        assert policy is not None
        raise PermissionDenied(
            f"{by} may not review emergency moves in {env}: only its approvers may "
            f"({', '.join(policy.approvals.approvers)}; see promptgov.yml)."
        )
    return env


def _open_move(entry: PromptEntry, name: str, env: str, version: str | None) -> PointerMove:
    """The one open emergency move of ``env`` (of ``version``, if named), under the lock."""
    moves = [m for e, m in entry.open_post_reviews() if e == env]
    if version is not None:
        moves = [m for m in moves if m.version == version]
    if not moves:
        of = f" of {version}" if version else ""
        raise NotFound(
            f"{name} has no open post-review{of} in {env}.",
            cli_hint=f"See 'promptgov status {name}'.",
            prompt=name,
            env=env,
        )
    if len(moves) > 1:
        raise InputError(
            f"{name} has {len(moves)} open post-reviews in {env} "
            f"({', '.join(m.version for m in moves)}); name the version to review.",
            cli_hint=f"For example 'promptgov review {name}@{moves[0].version} --env {env} …'.",
        )
    return moves[0]


def _refuse(
    registry: Registry, entry: PromptEntry, name: str, env: str, move: PointerMove, by: str
) -> None:
    """Separation of duties: neither the person who made the move nor the version's author."""
    if same_person(by, move.by):
        kind = "rollback" if move.kind is MoveKind.ROLLBACK else "promotion"
        raise PermissionDenied(
            f"{by} made the emergency {kind} of {name} {move.version} to {env} and may not "
            f"review it (separation of duties); ask another approver of {env}."
        )
    policy = registry.repo.config.environment(env)
    assert policy is not None
    author = next(r.author for r in entry.versions if r.version == move.version)
    if same_person(by, author) and not policy.approvals.allow_self_approval:
        raise PermissionDenied(
            f"{by} wrote {name}@{move.version} and may not review its emergency move into "
            f"{env} (separation of duties); ask another approver of {env}."
        )
