"""Notifications: announce rollbacks, promotions and triggers through apprise or signed webhooks.

::

    targets = load_targets(config.notifications)
    note = render_notification("rollback", prompt="greet", env="prod", from_version="1.4.0",
                               to_version="1.3.0+rollback", audit_link=audit_link(42), ...)
    results = Outbox(repo_root).dispatch(Notifier(targets, NotifyPolicy()), note)

Delivery never raises: failures come back as :class:`DeliveryResult` and wait in the
:class:`Outbox` for ``promptgov notify retry``.
"""

from __future__ import annotations

from ..redact import redact_text, redact_url
from ._model import (
    DeliveryResult,
    Notification,
    NotificationTarget,
    NotifyEvent,
    NotifyPolicy,
    TargetKind,
    load_targets,
)
from ._notifier import Notifier
from ._outbox import OUTBOX_DIR, Outbox, PendingDelivery, delivery_id
from ._render import AUDIT_LOG_PATH, audit_link, body_for, render_notification
from ._senders import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SENDERS,
    SIGNATURE_HEADER,
    AppriseSender,
    Attempt,
    Sender,
    WebhookSender,
    sign,
    webhook_body,
)

__all__ = [
    "AUDIT_LOG_PATH",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "OUTBOX_DIR",
    "SENDERS",
    "SIGNATURE_HEADER",
    "AppriseSender",
    "Attempt",
    "DeliveryResult",
    "Notification",
    "NotificationTarget",
    "Notifier",
    "NotifyEvent",
    "NotifyPolicy",
    "Outbox",
    "PendingDelivery",
    "Sender",
    "TargetKind",
    "WebhookSender",
    "audit_link",
    "body_for",
    "delivery_id",
    "load_targets",
    "redact_text",
    "redact_url",
    "render_notification",
    "sign",
    "webhook_body",
]
