"""Announcing governance events to people, and recording every delivery in the audit log.

:mod:`promptgov.notify` delivers; this module decides what a repository announces, to the
targets in ``promptgov.yml``, and writes each delivery's outcome as an audit entry. A
failed delivery never raises: it waits in the outbox for ``promptgov notify retry``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import _yaml
from ..errors import Conflict, InputError
from ..model import ProjectConfig, validate_model
from ..repo import Repo
from ..store import Edit
from ..store.files import atomic_write, read_bytes, repo_lock
from ..store.paths import CONFIG_FILE
from ._policy_files import drift


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


@dataclass(frozen=True)
class AddTargetOptions:
    """A notification target to add to ``promptgov.yml``."""

    name: str
    """Unique name, used in results and the outbox."""
    url: str
    """An apprise URL (``slack://…``, ``mailto://…``, ``json://…``) or a webhook's https URL."""
    events: tuple[str, ...] = ()
    """Events it receives (default: all)."""
    kind: str = "apprise"
    """``apprise`` or ``webhook`` (promptgov's own signed JSON body)."""
    secret_env: str | None = None
    """For a webhook: the environment variable holding its signing secret."""


@dataclass(frozen=True)
class AddTargetResult:
    """The target as written, and whether the edit awaits a policy change."""

    target: Any
    needs_policy_change: bool
    """True when ``promptgov.yml`` now differs from the policy in force, so decisions refuse
    it until ``promptgov policy propose``/``approve``/``apply`` put it in force."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the URL redacted)."""
        from ..notify import redact_url

        return {
            "name": self.target.name,
            "url": redact_url(self.target.url),
            "kind": self.target.kind.value,
            "events": [e.value for e in self.target.events],
            "needs_policy_change": self.needs_policy_change,
        }


def add_target(repo: Repo, options: AddTargetOptions) -> AddTargetResult:
    """Append a notification target to ``promptgov.yml``, keeping its comments and layout.

    ``promptgov.yml`` is a governed policy file, so the edit is a working-copy change like
    any other: decisions refuse it until a policy change puts it in force. The file is
    replaced atomically and left byte-identical when anything is refused.

    Raises:
        InputError: a bad name, URL (one apprise does not accept) or event.
        Conflict: a target of that name already exists.
    """
    from ..notify import load_targets

    target = _valid_target(options)
    existing = load_targets(repo.config.notifications)
    if any(t.name == target.name for t in existing):
        raise Conflict(
            f"promptgov.yml already has a notification target named {target.name!r}; "
            "pick another name or edit that entry."
        )
    with repo_lock(repo.root):
        path = repo.path(CONFIG_FILE)
        new = _yaml.edit_roundtrip(
            read_bytes(path) or b"", CONFIG_FILE, lambda doc: _append(doc, _entry(target))
        )
        config = validate_model(ProjectConfig, _yaml.loads(new, CONFIG_FILE) or {}, CONFIG_FILE)
        load_targets(config.notifications)
        atomic_write(path, new)
    state = drift(repo)
    return AddTargetResult(target, state.committing and bool(state.changes))


def _valid_target(options: AddTargetOptions) -> Any:
    """The target, validated as ``promptgov.yml`` will read it; apprise must accept the URL."""
    from pydantic import ValidationError

    from ..notify import NotificationTarget, NotifyEvent, TargetKind, redact_url

    known = [e.value for e in NotifyEvent]
    unknown = [e for e in options.events if e not in known]
    if unknown:
        raise InputError(
            f"unknown notification event {unknown[0]!r}; use one of {', '.join(known)}."
        )
    raw: dict[str, Any] = {"name": options.name, "url": options.url, "kind": options.kind}
    if options.events:
        raw["events"] = list(dict.fromkeys(options.events))
    if options.secret_env:
        raw["secret_env"] = options.secret_env
    try:
        target = NotificationTarget.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = " ".join(["notification target", *(str(p) for p in first.get("loc", ()))])
        why = first["msg"].removeprefix("Value error, ")
        raise InputError(f"{where}: {why}.") from None
    if target.kind is TargetKind.APPRISE:
        import apprise

        try:
            service = apprise.Apprise.instantiate(target.url)
        except Exception:  # apprise raises assorted types for bad URLs
            service = None
        if service is None:
            raise InputError(
                f"apprise does not accept {redact_url(target.url)!r} as a notification URL; "
                "see https://appriseit.com/services/ for the URL of each service."
            )
    return target


def _entry(target: Any) -> dict[str, Any]:
    """The ``notifications:`` entry, with only the fields that differ from the defaults."""
    from ruamel.yaml.comments import CommentedSeq

    from ..notify import NotifyEvent, TargetKind

    entry: dict[str, Any] = {"name": target.name, "url": target.url}
    if target.kind is not TargetKind.APPRISE:
        entry["kind"] = target.kind.value
    if set(target.events) != set(NotifyEvent):
        events = CommentedSeq(e.value for e in target.events)
        events.fa.set_flow_style()
        entry["events"] = events
    if target.secret_env:
        entry["secret_env"] = target.secret_env
    return entry


def _append(doc: Any, entry: dict[str, Any]) -> None:
    """Add ``entry`` to ``notifications:``, turning an empty ``[]`` into a block list."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    targets = doc.get("notifications")
    if not isinstance(targets, CommentedSeq):
        targets = CommentedSeq(targets or [])
        doc["notifications"] = targets
    if not targets:
        targets.fa.set_block_style()
    targets.append(CommentedMap(entry))
