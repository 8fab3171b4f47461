"""Transports: one class per target kind, each making exactly one delivery attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ._model import Notification, NotificationTarget, NotifyEvent, TargetKind
from ._render import body_for, mail_recipients

SIGNATURE_HEADER = "X-Promptgov-Signature"
EVENT_HEADER = "X-Promptgov-Event"
DELIVERY_HEADER = "X-Promptgov-Delivery"
USER_AGENT = "promptgov-notify/1"
_STATUS_IN_LOG = re.compile(r"error=(\d{3})\b")


@dataclass(frozen=True)
class Attempt:
    """What one try at delivering produced."""

    ok: bool
    error: str | None = None
    status_code: int | None = None
    retryable: bool = True


class Sender(ABC):
    """Delivers a notification to one kind of target, once; retrying is the caller's job."""

    @abstractmethod
    def attempt(
        self,
        target: NotificationTarget,
        notification: Notification,
        *,
        timeout_s: float,
        environ: Mapping[str, str],
    ) -> Attempt:
        """Try one delivery; never raise for delivery problems, describe them instead."""


def _retryable_status(code: int) -> bool:
    """5xx, 408 and 429 can succeed later; other 4xx answers will not change."""
    return code >= 500 or code in (408, 429)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Promptgov-Signature`` value: ``sha256=`` + HMAC-SHA256 hex of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(target: NotificationTarget, notification: Notification) -> bytes:
    """The exact bytes POSTed to a webhook target (and signed)."""
    payload = {
        "id": notification.idempotency_key,
        "event": notification.event.value,
        "title": notification.title,
        "body": body_for(notification, target.url, mention_owners=target.mention_owners),
        "data": notification.data,
        "owners": list(notification.owners),
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()


class WebhookSender(Sender):
    """POSTs promptgov's JSON body, signed with HMAC-SHA256 when a secret is configured."""

    def attempt(
        self,
        target: NotificationTarget,
        notification: Notification,
        *,
        timeout_s: float,
        environ: Mapping[str, str],
    ) -> Attempt:
        import httpx  # imported on first use: most commands never notify

        body = webhook_body(target, notification)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: notification.event.value,
            DELIVERY_HEADER: notification.idempotency_key,
        }
        if target.secret_env:
            secret = environ.get(target.secret_env)
            if not secret:
                return Attempt(
                    ok=False,
                    error=f"${target.secret_env} is not set; export the webhook's signing secret",
                    retryable=False,
                )
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
                response = client.post(target.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Attempt(ok=False, error=f"no answer within {timeout_s:g}s (timeout)")
        except httpx.ConnectError as exc:
            return Attempt(ok=False, error=f"cannot connect: {_first_line(exc)}")
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=f"{type(exc).__name__}: {_first_line(exc)}")
        code = response.status_code
        if 200 <= code < 300:
            return Attempt(ok=True, status_code=code)
        return Attempt(
            ok=False,
            status_code=code,
            error=f"HTTP {code} {response.reason_phrase}".rstrip(),
            retryable=_retryable_status(code),
        )


_NOTIFY_TYPES = {
    NotifyEvent.ROLLBACK: "warning",
    NotifyEvent.PROMOTION: "success",
    NotifyEvent.TRIGGER: "failure",
    NotifyEvent.TEST: "info",
}


@lru_cache(maxsize=1)
def _asset() -> Any:
    import apprise

    # No persistent storage path: apprise keeps nothing on disk for promptgov.
    return apprise.AppriseAsset(
        app_id="promptgov",
        app_desc="promptgov prompt governance",
        app_url="https://pypi.org/project/promptgov/",
        async_mode=False,
    )


def with_cc(url: str, addresses: list[str]) -> str:
    """``url`` with ``addresses`` added to its ``cc`` recipients (e-mail targets)."""
    if not addresses:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    existing = [v for k, v in query if k == "cc"]
    merged = ",".join(dict.fromkeys(",".join([*existing, *addresses]).split(",")))
    query = [(k, v) for k, v in query if k != "cc"] + [("cc", merged)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="@,:/", quote_via=quote)))


class AppriseSender(Sender):
    """Delivers through apprise, which knows Slack, Teams, e-mail, JSON webhooks and more."""

    def attempt(
        self,
        target: NotificationTarget,
        notification: Notification,
        *,
        timeout_s: float,
        environ: Mapping[str, str],
    ) -> Attempt:
        import apprise  # slow to import (~0.3 s): only when a notification really goes out

        url = with_cc(target.url, mail_recipients(notification, target.url))
        asset = _asset()
        try:
            service = apprise.Apprise.instantiate(url, asset=asset)
        except Exception as exc:  # apprise raises assorted types for bad URLs
            return Attempt(
                ok=False, error=f"invalid apprise URL: {_first_line(exc)}", retryable=False
            )
        if service is None:
            return Attempt(
                ok=False,
                error="apprise does not recognise this URL; see https://appriseit.com/services/",
                retryable=False,
            )
        # apprise's own limits default to 4 s each; the policy decides instead.
        service.socket_connect_timeout = timeout_s
        service.socket_read_timeout = timeout_s
        sender = apprise.Apprise(asset=asset)
        sender.add(service)
        started = time.monotonic()
        try:
            result = sender.notify(
                body=body_for(notification, target.url, mention_owners=target.mention_owners),
                title=notification.title,
                notify_type=_NOTIFY_TYPES[notification.event],
                body_format=apprise.NotifyFormat.MARKDOWN,
            )
        except Exception as exc:  # a plugin bug must not break the governance action
            return Attempt(ok=False, error=f"apprise failed: {_first_line(exc)}")
        if result:
            return Attempt(ok=True)
        messages = _log_messages(result)
        status = None
        for message in messages:
            found = _STATUS_IN_LOG.search(message)
            if found:
                status = int(found.group(1))
        error = messages[-1] if messages else "apprise reported a failure without detail"
        if status is None and time.monotonic() - started >= timeout_s * 0.95:
            error = f"no answer within {timeout_s:g}s (timeout): {error}"
        return Attempt(
            ok=False,
            error=error,
            status_code=status,
            retryable=status is None or _retryable_status(status),
        )


def _log_messages(result: Any) -> list[str]:
    """Warnings and errors apprise captured for this call (apprise 2 result objects)."""
    logs = getattr(result, "logs", None)
    if not callable(logs):
        return []
    out = []
    for entry in logs():
        level = getattr(entry, "level", "")
        if logging.getLevelName(str(level)) in (logging.WARNING, logging.ERROR, logging.CRITICAL):
            out.append(_first_line(getattr(entry, "message", "")))
    return [m for m in out if m]


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


SENDERS: dict[TargetKind, Sender] = {
    TargetKind.APPRISE: AppriseSender(),
    TargetKind.WEBHOOK: WebhookSender(),
}
