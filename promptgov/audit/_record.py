"""Audit records: the fields every entry carries, their validation, canonical encoding and hash."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import InputError
from ..redact import redact

#: Version of the record format; part of every record and of the hash domain.
FORMAT_VERSION = 1
#: Domain separation: an audit hash can never be confused with a content or card hash.
HASH_DOMAIN = b"promptgov-audit-v1\x00"
#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: Largest canonical record accepted, so one entry can never swamp the log.
MAX_RECORD_BYTES = 1 << 20

_ENCODE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode

ACTION_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-.][a-z0-9]+)*$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$")


class AuditAction(StrEnum):
    """The governance actions promptgov records (other lowercase names are accepted too)."""

    INIT = "init"
    """A governed repository was created."""
    ADD = "add"
    """A new immutable version was registered."""
    EVAL = "eval"
    """An eval run was recorded against a version."""
    GATE = "gate"
    """The eval gate gave its verdict on a version."""
    APPROVE = "approve"
    """An approver signed off a version for an environment."""
    PROMOTE = "promote"
    """An environment pointer moved forward."""
    ROLLBACK = "rollback"
    """An environment pointer moved back to its last known good version."""
    QUARANTINE = "quarantine"
    """A version was taken out of the candidates for last known good."""
    FLAG = "flag"
    """An auditor flagged a version as anomalous."""
    COMPLAINT = "complaint"
    """A user or stakeholder complaint was recorded against a version."""
    NOTIFY = "notify"
    """The result of sending a notification."""
    ROTATE_KEY = "rotate-key"
    """The checkpoint signing key was replaced (signed by the old and the new key)."""
    REPAIR = "repair"
    """A torn final entry left by a crash was removed from the log."""
    POLICY_PROPOSE = "policy-propose"
    """A change of the governed policy files was proposed (their digests bound)."""
    POLICY_APPROVE = "policy-approve"
    """An approver signed off a proposed policy change."""
    POLICY_CHANGE = "policy-change"
    """An approved policy change was put in force."""


class AuditOutcome(StrEnum):
    """How the recorded action ended."""

    SUCCESS = "success"
    """The action took effect."""
    FAILURE = "failure"
    """The action was attempted and failed; ``error`` says why."""
    PENDING = "pending"
    """The action is recorded before its effect and settled by a later entry."""


#: Every key of a stored record, in canonical (sorted) order; ``hash`` is stored last.
RECORD_KEYS: tuple[str, ...] = (
    "action",
    "actor",
    "approvers",
    "details",
    "env",
    "error",
    "eval_run_id",
    "evidence",
    "from_sha256",
    "from_version",
    "gate_verdict",
    "on_behalf_of",
    "outcome",
    "prev_hash",
    "prompt",
    "reason",
    "seq",
    "ticket",
    "time",
    "to_sha256",
    "to_version",
    "tool_version",
    "v",
)
BODY_KEYS = frozenset(RECORD_KEYS)


class AuditRecord(BaseModel):
    """What a caller states about one governance action (the chain adds the rest).

    ``action``, ``actor``, ``reason`` and ``outcome`` are required; a failed action
    also needs ``error``; a pointer move (promote, rollback) needs prompt, env and
    the target version with its hash.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str = Field(description="What was done (see AuditAction), lowercase with '-'.")
    actor: str = Field(description="Who did it: a person, or a policy acting on someone's behalf.")
    reason: str = Field(description="Why it was done, in the actor's words.")
    outcome: AuditOutcome = Field(description="success, failure or pending.")
    prompt: str | None = Field(default=None, description="The prompt acted on.")
    env: str | None = Field(default=None, description="The environment acted on.")
    from_version: str | None = Field(default=None, description="Version before the action.")
    from_sha256: str | None = Field(default=None, description="Content hash of from_version.")
    to_version: str | None = Field(default=None, description="Version after the action.")
    to_sha256: str | None = Field(default=None, description="Content hash of to_version.")
    evidence: list[str] = Field(default_factory=list, description="Links: eval runs, reports.")
    approvers: list[str] = Field(default_factory=list, description="Who approved the action.")
    eval_run_id: str | None = Field(default=None, description="The eval run behind a verdict.")
    gate_verdict: str | None = Field(default=None, description="The gate's verdict, if any.")
    error: str | None = Field(default=None, description="What went wrong, for a failure.")
    on_behalf_of: str | None = Field(default=None, description="Whom a policy acted for.")
    ticket: str | None = Field(default=None, description="Change ticket or incident id.")
    details: dict[str, Any] = Field(default_factory=dict, description="Action-specific facts.")

    @field_validator("action")
    @classmethod
    def _check_action(cls, value: str) -> str:
        if not ACTION_RE.match(value):
            raise ValueError("must be lowercase words joined by '-' (e.g. 'promote')")
        return value

    @field_validator("actor", "reason")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("from_sha256", "to_sha256")
    @classmethod
    def _check_sha(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_RE.match(value):
            raise ValueError("must be a 64-character lowercase hex sha256")
        return value

    @field_validator("details")
    @classmethod
    def _check_details(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_json(value, "details")
        return value

    @model_validator(mode="after")
    def _check_action_fields(self) -> AuditRecord:
        if self.outcome is AuditOutcome.FAILURE and not (self.error or "").strip():
            raise ValueError("a failed action needs 'error' saying what went wrong")
        if self.action in (AuditAction.PROMOTE, AuditAction.ROLLBACK):
            missing = [
                name
                for name in ("prompt", "env", "to_version", "to_sha256")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a {self.action} entry needs {', '.join(missing)}")
        if self.from_sha256 is not None and self.from_version is None:
            raise ValueError("from_sha256 is given without from_version")
        if self.to_sha256 is not None and self.to_version is None:
            raise ValueError("to_sha256 is given without to_version")
        return self


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    """Refuse anything but JSON values: the record must round-trip byte for byte."""
    if depth > 32:
        raise ValueError(f"{where} is nested too deeply")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where} holds {value}, which is not valid JSON")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-text key {key!r}")
            _check_json(item, f"{where}.{key}", depth + 1)
        return
    raise ValueError(f"{where} holds a {type(value).__name__}, which is not a JSON value")


class AuditEntry(AuditRecord):
    """A record as stored in the log: the caller's fields plus sequence, time and chain."""

    seq: int = Field(description="1 for the first entry, then +1 without gaps.")
    time: str = Field(description="When it was written, UTC RFC 3339 (…Z).")
    tool_version: str = Field(description="The promptgov version that wrote it.")
    prev_hash: str = Field(description="Hash of the previous entry (zeros for the first).")
    hash: str = Field(description="sha256 over the domain, prev_hash and the canonical record.")
    v: int = Field(default=FORMAT_VERSION, description="Record format version.")

    def __repr__(self) -> str:
        return f"AuditEntry(seq={self.seq}, action={self.action!r}, hash={self.hash[:12]!r}…)"

    @property
    def timestamp(self) -> datetime:
        """``time`` as an aware datetime."""
        return parse_time(self.time)

    def to_dict(self) -> dict[str, Any]:
        """The stored record as a JSON-ready dict."""
        return self.model_dump(mode="json")


def parse_time(value: str) -> datetime:
    """An RFC 3339 / ISO 8601 time (or date) as an aware UTC datetime.

    Raises:
        InputError: ``value`` is not a time.
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"invalid time {value!r}: use RFC 3339 like 2025-01-31T12:00:00Z or a date 2025-01-31."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def utc_now_text() -> str:
    """The current UTC time as RFC 3339 with microseconds and ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=1)
def tool_version() -> str:
    """``promptgov.__version__``, else the installed distribution's version."""
    import importlib
    import importlib.metadata

    version = getattr(importlib.import_module("promptgov"), "__version__", None)
    if isinstance(version, str) and version:
        return version
    try:
        return importlib.metadata.version("promptgov")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def encode(obj: Any) -> bytes:
    """Canonical encoding: sorted keys, compact separators, UTF-8, no NaN."""
    return _ENCODE(obj).encode("utf-8")


def chain_hash(prev_hash: str, body: bytes) -> str:
    """The entry hash: sha256(domain ‖ prev_hash ‖ NUL ‖ canonical body)."""
    return hashlib.sha256(HASH_DOMAIN + prev_hash.encode("ascii") + b"\x00" + body).hexdigest()


def record_line(body: bytes, digest: str) -> bytes:
    """The stored JSON line: the canonical body with ``"hash"`` appended as the last key."""
    return body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}'


#: Bytes ``record_line`` adds after the body's closing brace is removed.
LINE_SUFFIX_LEN = len(b',"hash":"') + 64 + len(b'"}')


def build_record(fields: dict[str, Any]) -> AuditRecord:
    """Validate caller fields into an :class:`AuditRecord`, secrets redacted.

    Raises:
        InputError: a required field is missing or a value is invalid; nothing is written.
    """
    unknown = sorted(set(fields) - set(AuditRecord.model_fields))
    if unknown:
        raise InputError(
            f"audit record refused: unknown field {unknown[0]!r}. Nothing was written; "
            f"use one of {', '.join(sorted(AuditRecord.model_fields))}."
        )
    cleaned = {k: redact(v) for k, v in fields.items() if v is not None}
    for key in ("evidence", "approvers"):
        if isinstance(cleaned.get(key), str):
            cleaned[key] = [cleaned[key]]
    try:
        record = AuditRecord.model_validate(cleaned)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        what = (
            "is required"
            if first["type"] == "missing"
            else first["msg"].removeprefix("Value error, ")
        )
        where = f"field {loc!r} " if loc else ""
        raise InputError(
            f"audit record refused: {where}{what}. Nothing was written; pass a complete record."
        ) from exc
    return record


def seal(
    record: AuditRecord, *, seq: int, prev_hash: str, time: str | None = None
) -> tuple[AuditEntry, bytes]:
    """Turn a validated record into the entry that follows ``prev_hash`` at ``seq``.

    Returns the entry and its stored JSON line.

    Raises:
        InputError: the record cannot be encoded (non-JSON details) or is too large.
    """
    try:
        body_obj = record.model_dump(mode="json")
        body_obj.update(
            seq=seq,
            time=time or utc_now_text(),
            tool_version=tool_version(),
            prev_hash=prev_hash,
            v=FORMAT_VERSION,
        )
        body = encode(body_obj)
    except (TypeError, ValueError, UnicodeError, RecursionError) as exc:
        raise InputError(
            f"audit record refused: details cannot be stored as JSON ({exc}). Nothing was written."
        ) from exc
    if len(body) > MAX_RECORD_BYTES:
        raise InputError(
            f"audit record refused: {len(body)} bytes exceeds {MAX_RECORD_BYTES}; "
            "link large evidence instead of embedding it. Nothing was written."
        )
    digest = chain_hash(prev_hash, body)
    return AuditEntry.model_validate({**body_obj, "hash": digest}), record_line(body, digest)
