"""The outbox: failed deliveries kept for ``promptgov notify retry``, sent ones remembered."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputError, InvalidFile
from ..store.files import STATE_DIR, atomic_write, confine, read_bytes
from ._model import DeliveryResult, Notification, NotificationTarget
from ._notifier import Notifier

OUTBOX_DIR = f"{STATE_DIR}/outbox"


def delivery_id(key: str, target: str) -> str:
    """File-safe id of (notification key, target name)."""
    return hashlib.sha256(f"{key}\0{target}".encode()).hexdigest()[:32]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PendingDelivery:
    """A delivery that failed and waits to be retried."""

    id: str
    target: str
    notification: Notification
    attempts: int
    last_error: str | None
    first_failed_at: str
    last_attempt_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored in the outbox."""
        return {
            "id": self.id,
            "target": self.target,
            "key": self.notification.idempotency_key,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "first_failed_at": self.first_failed_at,
            "last_attempt_at": self.last_attempt_at,
            "notification": self.notification.model_dump(mode="json"),
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """Failed deliveries under ``.promptgov/outbox/``, one JSON file each.

    ``pending/<id>.json`` waits for a retry; ``sent/<id>.json`` records a success so
    the same notification (same idempotency key) is never delivered twice to one
    target. A retry first *claims* a pending file by renaming it (atomic), so two
    processes retrying at once cannot both send it; a claim left by a killed process
    is released on the next retry. Delivery is at-least-once only across a crash
    between the send and the ``sent`` record, which is why webhooks carry the key in
    ``X-Promptgov-Delivery``.
    """

    def __init__(self, repo_root: Path | str) -> None:
        self.root = Path(repo_root) / OUTBOX_DIR
        # A clone may carry symlinks here; every file below must stay in the repository.
        self._pending, self._sent, self._claimed = (
            confine(Path(repo_root), f"{OUTBOX_DIR}/{sub}")
            for sub in ("pending", "sent", "claimed")
        )

    # -- reading -----------------------------------------------------------------------------

    def pending(self) -> list[PendingDelivery]:
        """Deliveries waiting for a retry, including ones a retry is sending right now."""
        items = {p.id: p for p in map(self._load, self._files(self._claimed))}
        items.update({p.id: p for p in map(self._load, self._files(self._pending))})
        return sorted(items.values(), key=lambda d: (d.first_failed_at, d.id))

    def delivered(self, notification: Notification, target: str) -> bool:
        """Whether ``notification`` already reached ``target``."""
        return self._sent_path(delivery_id(notification.idempotency_key, target)).exists()

    # -- recording ---------------------------------------------------------------------------

    def record_failure(
        self,
        notification: Notification,
        result: DeliveryResult,
        *,
        previous: PendingDelivery | None = None,
    ) -> PendingDelivery:
        """Keep a failed delivery for retry, adding to the ``previous`` entry's attempts."""
        did = delivery_id(notification.idempotency_key, result.name)
        old = previous or self._read(self._pending / f"{did}.json")
        now = _now()
        item = PendingDelivery(
            id=did,
            target=result.name,
            notification=notification,
            attempts=(old.attempts if old else 0) + result.attempts,
            last_error=result.error,
            first_failed_at=old.first_failed_at if old else now,
            last_attempt_at=now,
        )
        atomic_write(self._pending / f"{did}.json", _dump(item.to_dict()))
        return item

    def record_success(self, notification: Notification, result: DeliveryResult) -> None:
        """Remember that ``notification`` reached the target, and drop its pending entry."""
        did = delivery_id(notification.idempotency_key, result.name)
        record = {
            "id": did,
            "target": result.name,
            "key": notification.idempotency_key,
            "event": notification.event.value,
            "title": notification.title,
            "delivered_at": _now(),
            "attempts": result.attempts,
        }
        atomic_write(self._sent_path(did), _dump(record))
        self._unlink(self._pending / f"{did}.json")

    # -- sending -----------------------------------------------------------------------------

    def dispatch(self, notifier: Notifier, notification: Notification) -> list[DeliveryResult]:
        """Send ``notification`` to its targets, skipping those it already reached.

        Failures are kept for :meth:`retry`; successes are remembered. Repeating a
        dispatch (a resumed or repeated rollback) therefore never notifies twice.
        """
        jobs: list[_Job] = []
        results: dict[str, DeliveryResult] = {}
        targets = notifier.targets_for(notification.event)
        for target in targets:
            did = delivery_id(notification.idempotency_key, target.name)
            if self._sent_path(did).exists():
                results[target.name] = _skipped(target, notification)
                continue
            previous = self._read(self._pending / f"{did}.json")
            claim = self._claim(did) if previous else None
            if (previous and claim is None) or self._claimed_elsewhere(did):
                if claim is not None:
                    os.replace(claim, self._pending / f"{did}.json")
                results[target.name] = _in_flight(target, notification)
                continue
            jobs.append(_Job(target, notification, previous, claim))
        for job, result in zip(jobs, self._run(notifier, jobs), strict=True):
            results[job.target.name] = result
        return [results[t.name] for t in targets]

    def retry(self, notifier: Notifier) -> list[DeliveryResult]:
        """Re-send every pending delivery once (with the notifier's retries); report each.

        A target that is no longer configured stays pending with a failed result.
        """
        self._release_stale_claims()
        jobs: list[_Job] = []
        results: list[DeliveryResult] = []
        for path in self._files(self._pending):
            item = self._load(path)
            claim = self._claim(item.id)
            if claim is None:
                continue
            if self._sent_path(item.id).exists():
                self._unlink(claim)
                continue
            target = notifier.target(item.target)
            if target is None:
                os.replace(claim, self._pending / f"{item.id}.json")
                results.append(
                    DeliveryResult(
                        target=item.target,
                        name=item.target,
                        ok=False,
                        attempts=0,
                        error=f"target {item.target!r} is no longer configured in promptgov.yml",
                        key=item.notification.idempotency_key,
                    )
                )
                continue
            jobs.append(_Job(target, item.notification, item, claim))
        return results + self._run(notifier, jobs)

    # -- internals ---------------------------------------------------------------------------

    def _run(self, notifier: Notifier, jobs: list[_Job]) -> list[DeliveryResult]:
        results = notifier.deliver_all([(j.target, j.notification) for j in jobs])
        for job, result in zip(jobs, results, strict=True):
            if result.ok:
                self.record_success(job.notification, result)
            else:
                self.record_failure(job.notification, result, previous=job.previous)
            if job.claim is not None:
                self._unlink(job.claim)
        return results

    def _claim(self, did: str) -> Path | None:
        """Take pending ``did`` for this process, or None if another process has it."""
        claim = self._claimed / f"{did}.{os.getpid()}.json"
        try:
            self._claimed.mkdir(parents=True, exist_ok=True)
            os.rename(self._pending / f"{did}.json", claim)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(
                f"cannot update the outbox {self.root}: {exc.strerror or exc}."
            ) from exc
        return claim

    def _claimed_elsewhere(self, did: str) -> bool:
        """Whether a live process other than this one holds a claim on ``did``."""
        return any(
            c.name.startswith(f"{did}.")
            and self._claim_pid(c) != os.getpid()
            and _pid_alive(self._claim_pid(c))
            for c in self._files(self._claimed)
        )

    def _release_stale_claims(self) -> None:
        for claim in self._files(self._claimed):
            if _pid_alive(self._claim_pid(claim)):
                continue
            did = claim.name.split(".", 1)[0]
            if not (self._pending / f"{did}.json").exists():
                os.replace(claim, self._pending / f"{did}.json")
            else:
                self._unlink(claim)

    @staticmethod
    def _claim_pid(claim: Path) -> int:
        try:
            return int(claim.name.split(".")[1])
        except (IndexError, ValueError):
            return -1

    def _sent_path(self, did: str) -> Path:
        return self._sent / f"{did}.json"

    @staticmethod
    def _files(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.name[0] != ".")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise InputError(f"cannot read the outbox {folder}: {exc.strerror or exc}.") from exc

    def _read(self, path: Path) -> PendingDelivery | None:
        return self._load(path) if path.exists() else None

    @staticmethod
    def _load(path: Path) -> PendingDelivery:
        raw = read_bytes(path)
        try:
            data = json.loads(raw or b"")
            return PendingDelivery(
                id=data["id"],
                target=data["target"],
                notification=Notification.model_validate(data["notification"]),
                attempts=int(data["attempts"]),
                last_error=data.get("last_error"),
                first_failed_at=data["first_failed_at"],
                last_attempt_at=data["last_attempt_at"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidFile(
                f"outbox entry {path} is unreadable ({type(exc).__name__}); "
                "delete it to drop that delivery."
            ) from None

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise InputError(f"cannot remove {path}: {exc.strerror or exc}.") from exc


@dataclass(frozen=True)
class _Job:
    target: NotificationTarget
    notification: Notification
    previous: PendingDelivery | None
    claim: Path | None


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _skipped(target: NotificationTarget, notification: Notification) -> DeliveryResult:
    return DeliveryResult(
        target=target.display,
        name=target.name,
        ok=True,
        attempts=0,
        key=notification.idempotency_key,
        skipped=True,
    )


def _in_flight(target: NotificationTarget, notification: Notification) -> DeliveryResult:
    return DeliveryResult(
        target=target.display,
        name=target.name,
        ok=False,
        attempts=0,
        error="another promptgov process is delivering this notification right now",
        key=notification.idempotency_key,
    )
