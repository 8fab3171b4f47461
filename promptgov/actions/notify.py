"""Announcing governance events to people, and recording every delivery in the audit log.

:mod:`promptgov.notify` delivers; this module decides what a repository announces, to the
targets in ``promptgov.yml``, and writes each delivery's outcome as an audit entry. A
failed delivery never raises: it waits in the outbox for ``promptgov notify retry``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..repo import Repo
from ..store import Edit


def _notifier(repo: Repo, policy: Any = None) -> Any:
    from ..notify import Notifier, NotifyPolicy, load_targets

    return Notifier(load_targets(repo.config.notifications), policy or NotifyPolicy())


def _record(repo: Repo, results: list[Any], *, what: str) -> None:
    """Audit delivery outcomes in a unit of work of their own (retries and tests)."""
    if results:
        with repo.edit() as e:
            stage_results(e, results, what=what)


def stage_results(
    e: Edit,
    results: list[Any],
    *,
    what: str,
    prompt: str | None = None,
    env: str | None = None,
    version: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Stage one ``notify`` audit entry per delivery result."""
    for r in results:
        e.audit(
            action="notify",
            actor="promptgov",
            prompt=prompt,
            env=env,
            to_version=version,
            reason=f"{what} to {r.name}",
            outcome="success" if r.ok else "failure",
            error=None if r.ok else (r.error or "delivery failed"),
            details={
                **(details or {}),
                "target": r.target,
                "attempts": r.attempts,
                "status_code": r.status_code,
                "skipped": r.skipped,
            },
        )


def announce(
    repo: Repo,
    notification: Any,
    *,
    prompt: str | None = None,
    env: str | None = None,
    version: str | None = None,
    policy: Any = None,
    details: dict[str, Any] | None = None,
    record: bool = True,
) -> list[Any]:
    """Send ``notification`` to every subscribed target (each at most once) and audit the
    outcomes (unless ``record`` is false: the caller stages them with its own unit of work)."""
    if not repo.config.notifications:
        return []
    from ..notify import Outbox

    notifier = _notifier(repo, policy)
    if not notifier.targets_for(notification.event):
        return []
    results: list[Any] = Outbox(repo.root).dispatch(notifier, notification)
    if record and results:
        with repo.edit() as e:
            stage_results(
                e,
                results,
                what=f"{notification.event.value} notification",
                prompt=prompt,
                env=env,
                version=version,
                details=details,
            )
    return results


def announce_promotion(repo: Repo, result: Any, *, owners: list[str]) -> list[Any]:
    """Tell the targets subscribed to ``promotion`` that an environment moved."""
    if not repo.config.notifications:
        return []
    from ..notify import audit_link, render_notification

    move = result.move
    note = render_notification(
        "promotion",
        prompt=result.prompt,
        env=result.env,
        from_version=move.previous,
        to_version=move.version,
        reason=move.reason,
        authorized_by=move.by,
        audit_link=audit_link(result.audit_seq),
        evidence=move.evidence,
        owners=owners,
        key=f"promotion-{result.prompt}-{result.env}-{result.audit_seq}",
        extra={"kind": move.kind.value, "approvers": move.approvers},
    )
    return announce(repo, note, prompt=result.prompt, env=result.env, version=move.version)


def retry_pending(repo: Repo, policy: Any = None) -> list[Any]:
    """Re-send every failed delivery waiting in the outbox; audit each outcome."""
    from ..notify import Outbox

    results: list[Any] = Outbox(repo.root).retry(_notifier(repo, policy))
    _record(repo, results, what="notification retry")
    return results


@dataclass
class NotifyTestResult:
    """What ``notify test`` did: a delivery result per target it sent to, and the targets
    it left out because they do not subscribe to test messages."""

    results: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every delivery succeeded."""
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"results": [r.to_dict() for r in self.results], "skipped": self.skipped}


def send_test(
    repo: Repo, *, by: str = "promptgov", policy: Any = None, all_targets: bool = False
) -> NotifyTestResult:
    """Send a test message to every target subscribed to ``test`` events (with
    ``all_targets``, to every target), and say which were skipped."""
    import uuid

    from ..notify import render_notification

    note = render_notification(
        "test", reason=f"test message sent by {by}", key=f"test-{uuid.uuid4().hex}"
    )
    notifier = _notifier(repo, policy)
    chosen = notifier.targets if all_targets else notifier.targets_for(note.event)
    results: list[Any] = notifier.deliver_all([(t, note) for t in chosen])
    _record(repo, results, what="test notification")
    return NotifyTestResult(results, [t.name for t in notifier.targets if t not in chosen])
