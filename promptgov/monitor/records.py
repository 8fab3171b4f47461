"""The production call record: one served prompt call, as applications log it for promptgov."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from promptgov.model import time_json_schema, time_validator

__all__ = ["RECORD_SCHEMA_ID", "ProductionRecord", "record_json_schema"]

RECORD_SCHEMA_ID = "https://promptgov.dev/schemas/production-record.schema.json"
_SHA256 = r"^[0-9a-f]{64}$"


def _utc(value: datetime) -> datetime:
    """Read a time without an offset as UTC, so every window comparison is between aware times."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class ProductionRecord(BaseModel):
    """One call of a governed prompt in production.

    Only ``time``, ``prompt`` and ``version`` are required: the drift checks use whichever of
    the other fields a record carries and report the rest as missing data. Unknown keys are
    ignored so applications can log their own fields alongside.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", title="ProductionRecord")

    time: Annotated[
        datetime,
        time_validator(offset_required=False, space=True),
        time_json_schema(offset_required=False, space=True),
        AfterValidator(_utc),
    ] = Field(description="When the call was made (ISO 8601; without an offset it is read as UTC).")
    prompt: str = Field(min_length=1, description="Name of the governed prompt served.")
    version: str = Field(min_length=1, description="Version of the prompt served.")
    sha256: str | None = Field(
        default=None, pattern=_SHA256, description="Content hash of the version served."
    )
    env: str | None = Field(default=None, description="Environment that served it (e.g. prod).")
    id: str | None = Field(default=None, description="The application's id for this call.")
    model_requested: str | None = Field(
        default=None, description="Model id the application asked for."
    )
    model_returned: str | None = Field(
        default=None,
        description="Model id the provider reports it used; a change here is an upstream update.",
    )
    variables: dict[str, Any] | None = Field(
        default=None, description="Input variables the template was rendered with."
    )
    variables_sha256: str | None = Field(
        default=None,
        pattern=_SHA256,
        description="sha256 of the canonical JSON of the variables, when they may not be logged.",
    )
    output: str | None = Field(default=None, description="The model's output text.")
    latency_ms: float | None = Field(
        default=None, strict=True, ge=0, description="Wall time of the call."
    )
    tokens_in: int | None = Field(
        default=None, strict=True, ge=0, description="Input (prompt) tokens."
    )
    tokens_out: int | None = Field(
        default=None, strict=True, ge=0, description="Output (completion) tokens."
    )
    cost: float | None = Field(
        default=None, strict=True, ge=0, description="Cost of the call in USD."
    )
    finish_reason: str | None = Field(
        default=None, description="Why generation stopped: stop, length, content_filter, …"
    )
    feedback_score: float | None = Field(
        default=None, strict=True, description="Optional user feedback score for this output."
    )

    def __repr__(self) -> str:
        return (
            f"ProductionRecord(prompt={self.prompt!r}, version={self.version!r}, "
            f"time={self.time.isoformat()!r})"
        )


def record_json_schema() -> dict[str, Any]:
    """The JSON Schema of one record, generated from :class:`ProductionRecord`.

    A log file is either an array of these, ``{"records": [...]}``, or one per line (JSONL).
    """
    schema = ProductionRecord.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": RECORD_SCHEMA_ID,
        **schema,
    }
