"""Message bodies for rollback, promotion, trigger and test notifications."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._model import Notification, NotifyEvent

AUDIT_LOG_PATH = "audit/artifact-audit-log.md"
_SLACK_SCHEMES = ("slack://",)
_SLACK_HOSTS = ("://hooks.slack.com/",)
_MAIL_SCHEMES = ("mailto://", "mailtos://")
# CommonMark inline syntax a value could use to become markup: raw HTML and Slack's
# ``<url|label>`` (``<`` ``>``), links (``[`` ``]``), code, emphasis, and the escape itself.
# ``&`` only when it would read as an entity such as ``&lt;``. An ``_`` inside a word is
# not emphasis, so ``snake_case`` stays as typed.
_MD_SPECIAL = re.compile(
    r"[\\`*\[\]<>]|&(?=#?[0-9A-Za-z]{1,32};)|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"
)
_LINE_BREAK = re.compile(r"\s*[\r\n]+\s*")
_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def audit_link(seq: int, base_url: str | None = None) -> str:
    """Link to audit entry ``seq``: ``audit/artifact-audit-log.md#entry-<seq>``.

    With ``base_url`` (e.g. the repository's web address) the link is absolute so it
    can be clicked from chat.
    """
    rel = f"{AUDIT_LOG_PATH}#entry-{seq}"
    return f"{base_url.rstrip('/')}/{rel}" if base_url else rel


def md_text(value: Any) -> str:
    """``value`` as Markdown that renders back to exactly its text, on one line.

    The body is Markdown; apprise turns it into each target's format (HTML for mail,
    Slack's mrkdwn with ``&amp; &lt; &gt;``), so a value escaped once here arrives as
    text everywhere instead of as a ``<script>`` tag or a Slack link. A line
    break would start a new list item, so it becomes a space.
    """
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), _LINE_BREAK.sub(" ", _plain(value)))


def _facts(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    return [
        f"- {label}: {md_text(value)}" for label, value in pairs if value not in (None, "", [], ())
    ]


def _plain(value: Any) -> str:
    """A fact for people: a list as ``a, b``, never Python's ``['a', 'b']``."""
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(v) for v in value)
    return str(value)


def _code(value: Any) -> str:
    """A code span whose fence is longer than any backtick run inside ``value``."""
    if value in (None, ""):
        return "(none)"
    text = _LINE_BREAK.sub(" ", str(value))
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_notification(
    event: NotifyEvent | str,
    *,
    prompt: str | None = None,
    env: str | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
    reason: str | None = None,
    authorized_by: str | None = None,
    audit_link: str | None = None,
    evidence: Iterable[str] = (),
    owners: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    key: str | None = None,
    model_change: str | None = None,
) -> Notification:
    """Build the notification for ``event`` with a Markdown body and the same facts as data.

    The body always names the prompt, the environment, both versions and the audit
    link, because the person reading it at 3 a.m. should not need another tool. An
    upstream ``model_change`` (``"gpt-4o-mini-2024-07-18 → gpt-4o-mini-2025-01-31"``) is
    the first fact: it is usually the cause.
    """
    kind = NotifyEvent(event)
    extra = dict(extra or {})
    evidence = list(evidence)
    where = f"{_code(prompt)} in **{md_text(env)}**" if prompt and env else _code(prompt or env)
    if kind is NotifyEvent.ROLLBACK:
        title = f"Rollback: {prompt} in {env} → {to_version}"
        lead = f"**Rolled back** {where} from {_code(from_version)} to {_code(to_version)}."
    elif kind is NotifyEvent.PROMOTION:
        title = f"Promotion: {prompt} {to_version} → {env}"
        was = f" (was {_code(from_version)})" if from_version else ""
        lead = f"**Promoted** {_code(prompt)} {_code(to_version)} to **{md_text(env)}**{was}."
    elif kind is NotifyEvent.TRIGGER:
        title = f"Rollback trigger: {prompt} in {env}"
        lead = f"**Rollback trigger fired** for {where}, serving {_code(from_version)}."
        if to_version:
            lead += f" Last known good: {_code(to_version)}."
    else:
        title = "promptgov test notification"
        lead = "This is a test message from promptgov: this target is configured correctly."
    lines = [lead, ""]
    lines += _facts(
        [
            ("Model change", model_change),
            ("Reason", reason),
            ("Authorized by", authorized_by),
            *[
                (label.replace("_", " ").capitalize(), value)
                for label, value in sorted(extra.items())
            ],
            ("Evidence", ", ".join(evidence)),
            ("Audit entry", audit_link),
        ]
    )
    data: dict[str, Any] = {
        k: v
        for k, v in {
            "event": kind.value,
            "prompt": prompt,
            "env": env,
            "from_version": from_version,
            "to_version": to_version,
            "reason": reason,
            "model_change": model_change,
            "authorized_by": authorized_by,
            "audit_link": audit_link,
            "evidence": evidence or None,
            **extra,
        }.items()
        if v is not None
    }
    return Notification(
        event=kind,
        title=title,
        body="\n".join(lines).rstrip() + "\n",
        data=data,
        owners=tuple(dict.fromkeys(o.strip() for o in owners if o and o.strip())),
        key=key,
    )


def is_email(owner: str) -> bool:
    """True for ``someone@example.com`` (not for ``@handle``)."""
    local, at, domain = owner.partition("@")
    return bool(local and at and "." in domain)


def mention(owner: str, url: str) -> str:
    """How ``owner`` is written in the Markdown body for ``url``: Slack wants ``<@handle>``.

    Only a plain handle becomes Slack mention syntax; anything else is escaped text.
    """
    if is_email(owner):
        return md_text(owner)
    handle = owner.lstrip("@")
    slack = url.startswith(_SLACK_SCHEMES) or any(h in url for h in _SLACK_HOSTS)
    if slack and _HANDLE.match(handle):
        return f"<@{handle}>"
    return md_text(f"@{handle}")


def body_for(notification: Notification, url: str, *, mention_owners: bool = True) -> str:
    """The notification's body as sent to ``url``, with its owners mentioned."""
    if not (mention_owners and notification.owners):
        return notification.body
    names = ", ".join(mention(o, url) for o in notification.owners)
    return f"{notification.body.rstrip()}\n\nOwners: {names}\n"


def mail_recipients(notification: Notification, url: str) -> list[str]:
    """Owner e-mail addresses to add as recipients when ``url`` is an e-mail target."""
    if not url.startswith(_MAIL_SCHEMES):
        return []
    return [o for o in notification.owners if is_email(o)]
