"""Emergency moves waiting for their post-review, and how late they are.

``status`` and the warning every command prints read them from the registry index
summaries (no version record is loaded, so asking costs next to nothing); ``verify`` and
``review`` judge full entries with the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .model import MoveKind, PointerMove, utcnow
from .store.registry_file import Prompts


@dataclass(frozen=True)
class PostReviewDue:
    """An emergency move that another approver has not reviewed yet."""

    prompt: str
    env: str
    move: PointerMove
    due: datetime
    overdue_by: timedelta | None
    """How late the review is as of the query (None: not due yet)."""

    @property
    def version(self) -> str:
        """The version the emergency move put in place."""
        return self.move.version

    @property
    def what(self) -> str:
        """``support-reply prod: emergency promotion 1.3.0 by carol on 2026-11-20``."""
        kind = "rollback" if self.move.kind is MoveKind.ROLLBACK else "promotion"
        return (
            f"{self.prompt} {self.env}: emergency {kind} {self.version} by {self.move.by} "
            f"on {self.move.at:%Y-%m-%d}"
        )

    @property
    def warning(self) -> str:
        """The one line every command prints while the review is overdue."""
        return (
            f"{self.what} has an overdue post-review (due {self.due:%Y-%m-%d}); record it with "
            f"'promptgov review {self.prompt}@{self.version} --env {self.env} "
            "--by <approver> --reason …'"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "prompt": self.prompt,
            "env": self.env,
            "version": self.version,
            "move_seq": self.move.seq,
            "kind": self.move.kind.value,
            "by": self.move.by,
            "at": self.move.at.isoformat(),
            "reason": self.move.reason,
            "due": self.due.isoformat(),
            "overdue": self.overdue_by is not None,
            "overdue_seconds": None if self.overdue_by is None else self.overdue_by.total_seconds(),
        }


def post_reviews_due(
    name: str, moves: list[tuple[str, PointerMove]], now: datetime | None = None
) -> list[PostReviewDue]:
    """The open post-reviews among ``moves`` (see :meth:`PromptEntry.open_post_reviews`)."""
    now = now or utcnow()
    out = []
    for env, move in moves:
        due = move.post_review_due
        assert due is not None
        out.append(PostReviewDue(name, env, move, due, now - due if now > due else None))
    return out


def open_post_reviews(
    prompts: Prompts,
    names: Iterable[str] | None = None,
    *,
    overdue_only: bool = False,
    now: datetime | None = None,
) -> list[PostReviewDue]:
    """The open post-reviews of ``names`` (default: every prompt), from the index."""
    now = now or utcnow()
    out = []
    for name in prompts if names is None else names:
        facts = prompts.summary(name).get("post_reviews")
        if facts is None:  # an index written before post-reviews were summarised
            moves = prompts[name].open_post_reviews()
        else:
            moves = [(env, PointerMove.model_validate(m)) for env, m in facts]
        out += post_reviews_due(name, moves, now)
    return [d for d in out if d.overdue_by is not None] if overdue_only else out
