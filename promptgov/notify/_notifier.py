"""Concurrent, retried, time-bounded delivery of one notification to its targets."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..redact import redact_text
from ._model import DeliveryResult, Notification, NotificationTarget, NotifyEvent, NotifyPolicy
from ._senders import SENDERS, Attempt, Sender

MAX_PARALLEL = 8
DEADLINE_GRACE_S = 0.5


class Notifier:
    """Sends notifications to the targets subscribed to their event.

    ``send`` never raises for a delivery problem: each target gets up to
    ``policy.attempts`` tries with exponential backoff, then a failed
    :class:`DeliveryResult` with a one-line, redacted error. Targets are served in
    parallel, so a send to up to ``MAX_PARALLEL`` targets takes at most
    ``policy.max_duration_s`` plus ``DEADLINE_GRACE_S``.
    ``environ`` supplies webhook signing secrets (default: the process environment);
    ``senders`` replaces the transport per target kind.
    """

    def __init__(
        self,
        targets: Iterable[NotificationTarget],
        policy: NotifyPolicy | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        senders: Mapping[str, Sender] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.targets = list(targets)
        self.policy = policy or NotifyPolicy()
        self._environ = environ if environ is not None else os.environ
        self._senders: dict[str, Sender] = {str(k): v for k, v in SENDERS.items()}
        self._senders.update(senders or {})
        self._sleep = sleep

    def targets_for(self, event: NotifyEvent | str) -> list[NotificationTarget]:
        """The targets subscribed to ``event``, in configuration order."""
        return [t for t in self.targets if t.wants(event)]

    def target(self, name: str) -> NotificationTarget | None:
        """The target called ``name``, if configured."""
        return next((t for t in self.targets if t.name == name), None)

    def send(self, notification: Notification) -> list[DeliveryResult]:
        """Deliver ``notification`` to every subscribed target; one result per target."""
        return self.deliver_all([(t, notification) for t in self.targets_for(notification.event)])

    def deliver_all(
        self, jobs: Sequence[tuple[NotificationTarget, Notification]]
    ) -> list[DeliveryResult]:
        """Deliver each (target, notification) pair concurrently; results in input order.

        Transport timeouts limit each read, not a whole response, so a target that
        trickles bytes could outlast them: a hard deadline of ``policy.max_duration_s``
        (plus a short grace) cuts it off with a failed result. Up to ``MAX_PARALLEL``
        targets go out at once, each batch within that deadline. Workers are daemon
        threads, so an abandoned delivery never holds the process open.
        """
        if not jobs:
            return []
        results: list[DeliveryResult | None] = [None] * len(jobs)

        def _work(i: int) -> None:
            results[i] = self.deliver(*jobs[i])

        limit = self.policy.max_duration_s + DEADLINE_GRACE_S
        pending = list(range(len(jobs)))
        while pending:
            batch, pending = pending[:MAX_PARALLEL], pending[MAX_PARALLEL:]
            deadline = time.monotonic() + limit
            threads = [
                threading.Thread(target=_work, args=(i,), daemon=True, name=f"notify-{i}")
                for i in batch
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        out: list[DeliveryResult] = []
        for (target, notification), result in zip(jobs, results, strict=True):
            out.append(
                result
                if result is not None
                else DeliveryResult(
                    target=target.display,
                    name=target.name,
                    ok=False,
                    attempts=self.policy.attempts,
                    error=f"no complete answer within {limit:g}s (deadline)",
                    elapsed_s=round(limit, 4),
                    key=notification.idempotency_key,
                )
            )
        return out

    def deliver(self, target: NotificationTarget, notification: Notification) -> DeliveryResult:
        """Deliver to one target with retries; the result says how it went."""
        sender = self._senders[target.kind]
        started = time.monotonic()
        attempt = Attempt(ok=False, error="not attempted")
        tries = 0
        for tries in range(1, self.policy.attempts + 1):
            try:
                attempt = sender.attempt(
                    target, notification, timeout_s=self.policy.timeout_s, environ=self._environ
                )
            except Exception as exc:  # a transport bug must not undo a rollback
                attempt = Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
            if attempt.ok or not attempt.retryable or tries == self.policy.attempts:
                break
            self._sleep(self.policy.backoff(tries))
        error = None
        if not attempt.ok:
            secret = self._environ.get(target.secret_env) if target.secret_env else None
            raw = " ".join((attempt.error or "delivery failed").split())
            error = redact_text(raw, [target.url], [secret] if secret else [])
        return DeliveryResult(
            target=target.display,
            name=target.name,
            ok=attempt.ok,
            attempts=tries,
            error=error,
            status_code=attempt.status_code,
            elapsed_s=round(time.monotonic() - started, 4),
            key=notification.idempotency_key,
        )
