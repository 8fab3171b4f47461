"""Notification targets, messages, delivery policy and delivery results."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import InvalidFile
from ..redact import redact_url

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class NotifyEvent(StrEnum):
    """What a notification is about; targets subscribe to a subset."""

    ROLLBACK = "rollback"
    """An environment was rolled back to its last known good version."""
    PROMOTION = "promotion"
    """A version moved into an environment."""
    TRIGGER = "trigger"
    """A rollback trigger fired (eval regression, drift, complaint…)."""
    TEST = "test"
    """``promptgov notify test``: proves a target is reachable."""


class TargetKind(StrEnum):
    """How a target is reached."""

    APPRISE = "apprise"
    """Any apprise URL: ``slack://``, ``msteams://``, ``mailto://``, ``json://``…"""
    WEBHOOK = "webhook"
    """A plain HTTPS endpoint receiving promptgov's own signed JSON body."""


class NotificationTarget(BaseModel):
    """One entry of ``promptgov.yml``'s ``notifications:`` list."""

    model_config = _FROZEN
    name: str = Field(description="Short unique name, used in results and the outbox.")
    url: str = Field(description="apprise URL, or the http(s) URL of a signed webhook.")
    kind: TargetKind = Field(default=TargetKind.APPRISE, description="apprise or webhook.")
    events: tuple[NotifyEvent, ...] = Field(
        default=tuple(NotifyEvent), description="Events this target receives (default: all)."
    )
    secret_env: str | None = Field(
        default=None,
        description="Environment variable holding the HMAC secret that signs webhook bodies.",
    )
    # Strict: YAML's `no` as a string is not a boolean, as the JSON Schema says too.
    mention_owners: StrictBool = Field(
        default=True, description="Mention the prompt card's owners in the message."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _TARGET_NAME.fullmatch(v):
            raise ValueError("use letters, digits, '-', '_' or '.' (at most 64)")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v or any(c.isspace() for c in v):
            raise ValueError("expected a URL such as slack://…, json://host/path or https://…")
        return v

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_VAR.match(v):
            raise ValueError("expected an environment variable name such as HOOK_SECRET")
        return v

    @model_validator(mode="after")
    def _kind_matches_url(self) -> NotificationTarget:
        """Webhooks speak plain HTTP(S); a secret only makes sense for them."""
        scheme = self.url.split("://", 1)[0].lower()
        if self.kind is TargetKind.WEBHOOK and scheme not in ("http", "https"):
            raise ValueError(f"webhook target {self.name!r} needs an http:// or https:// URL")
        if self.secret_env and self.kind is not TargetKind.WEBHOOK:
            raise ValueError(f"secret_env is only used by webhook targets ({self.name!r})")
        return self

    def wants(self, event: NotifyEvent | str) -> bool:
        """Whether this target subscribes to ``event``."""
        return NotifyEvent(event) in self.events

    @property
    def display(self) -> str:
        """``name <redacted url>``: safe to print."""
        return f"{self.name} <{redact_url(self.url)}>"

    def __repr__(self) -> str:
        return f"NotificationTarget(name={self.name!r}, url={redact_url(self.url)!r})"

    __str__ = __repr__


def load_targets(
    raw: list[dict[str, Any]] | None, *, source: str = "promptgov.yml"
) -> list[NotificationTarget]:
    """Validate the ``notifications:`` list of ``promptgov.yml`` into targets.

    Raises:
        InvalidFile: an entry is malformed or two entries share a name.
    """
    targets: list[NotificationTarget] = []
    for i, item in enumerate(raw or []):
        try:
            targets.append(NotificationTarget.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
            raise InvalidFile(
                f"{source}: notifications[{i}] {where}: {first['msg']}. "
                "See docs/notifications.md for the target format."
            ) from None
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidFile(
            f"{source}: notification target names must be unique: {', '.join(dupes)}."
        )
    return targets


class Notification(BaseModel):
    """One message to announce, the same for every target it goes to."""

    model_config = _FROZEN
    event: NotifyEvent
    title: str
    body: str = Field(description="Markdown text.")
    data: dict[str, Any] = Field(default_factory=dict, description="Structured facts (JSON).")
    owners: tuple[str, ...] = Field(
        default=(), description="E-mail addresses or @handles to mention or address."
    )
    key: str | None = Field(
        default=None,
        description="Idempotency key; defaults to a hash of the event, title, body and data.",
    )

    @property
    def idempotency_key(self) -> str:
        """Stable id: the same notification is delivered at most once per target."""
        if self.key:
            return self.key
        canon = json.dumps(
            {"event": self.event.value, "title": self.title, "body": self.body, "data": self.data},
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canon.encode()).hexdigest()[:32]


class NotifyPolicy(BaseModel):
    """Retry and time limits: a slow or failing target bounds, never blocks, a send."""

    model_config = _FROZEN
    retries: int = Field(default=3, ge=0, le=10, description="Retries after the first attempt.")
    backoff_s: float = Field(
        default=0.5, ge=0, le=60, description="Wait before the first retry; doubles each time."
    )
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per-attempt time limit.")

    @property
    def attempts(self) -> int:
        """Attempts per target, first one included."""
        return self.retries + 1

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(self.backoff_s * 2 ** (retry - 1))

    @property
    def max_duration_s(self) -> float:
        """Upper bound of one target's delivery: every attempt timing out plus all waits."""
        waits = sum(self.backoff(r) for r in range(1, self.retries + 1))
        return self.timeout_s * self.attempts + waits


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of delivering one notification to one target."""

    target: str
    """The target's display form, ``name <redacted url>``; never holds a secret."""
    name: str
    """The target's name."""
    ok: bool
    attempts: int
    error: str | None = None
    """One line saying why the last attempt failed (redacted)."""
    status_code: int | None = None
    """HTTP status of the last attempt, when the transport reports it."""
    elapsed_s: float = 0.0
    key: str = ""
    """The notification's idempotency key."""
    skipped: bool = False
    """True when the outbox already held a successful delivery, so nothing was sent."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for audit entries and ``--json``."""
        return asdict(self)

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.target}: already delivered"
        if self.ok:
            return f"{self.target}: delivered ({self.attempts} attempt(s), {self.elapsed_s:.2f}s)"
        return f"{self.target}: FAILED after {self.attempts} attempt(s): {self.error}"
