"""The ``triggers:`` section of ``promptgov.yml``: per-trigger thresholds, windows and actions."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)

from promptgov.errors import InvalidFile

__all__ = [
    "Action",
    "AuditFlagsPolicy",
    "ComplaintsPolicy",
    "DriftPolicy",
    "DriftThresholds",
    "Duration",
    "EvalRegressionPolicy",
    "EvalRegressionThresholds",
    "FailingTestsPolicy",
    "Severity",
    "TriggerPolicy",
    "TriggersPolicy",
    "format_duration",
    "parse_duration",
]

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?) *([wdhms])")
#: The whole text of a duration, in ASCII digits and spaces so that the schema's pattern
#: (ECMAScript) means the same; the schema adds "a digit other than 0".
_DURATION_TEXT = r"^ *(?:[0-9]+(?:\.[0-9]+)? *[wdhmsWDHMS] *)+$"
_DURATION_FULL = re.compile(_DURATION_TEXT)


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """``"24h"``, ``"90m"``, ``"1d12h"``, ``"2w"`` → timedelta; bare numbers are seconds.

    Raises:
        ValueError: the text is not a positive duration (pydantic turns this into a field error).
    """
    if isinstance(text, timedelta):
        value = text
    elif isinstance(text, int | float) and not isinstance(text, bool):
        value = timedelta(seconds=text)
    elif isinstance(text, str) and _DURATION_FULL.fullmatch(text):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text.lower()))
        value = timedelta(seconds=seconds)
    else:
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit, e.g. 30m, 24h, 7d, 1d12h"
        )
    if value <= timedelta(0):
        raise ValueError(f"duration must be positive, got {text!r}")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest ``1d12h`` spelling of ``value`` (whole seconds)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue  # "14d" reads better than "2w" in reports
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": f"(?=.*[1-9]){_DURATION_TEXT}"},
                # timedelta keeps whole microseconds: less than half of one rounds to zero
                {"type": "number", "exclusiveMinimum": 5e-7},
            ],
            "examples": ["24h", "30m", "1d12h"],
        }
    ),
]
"""A timedelta written in YAML as ``24h``, ``30m``, ``7d``."""


class Action(StrEnum):
    """What a fired trigger does."""

    NOTIFY = "notify"
    """Notify the owners and record the trigger report; a person decides."""
    ROLLBACK = "rollback"
    """Roll back to the last known good version after ``consecutive_failures`` bad checks."""


class Severity(StrEnum):
    """How bad a complaint is; the order of the members is the order of severity."""

    LOW = "low"
    """Cosmetic or a matter of taste."""
    MEDIUM = "medium"
    """Wrong or unhelpful output for some users."""
    HIGH = "high"
    """Harmful, unsafe or hallucinated output that reached users."""
    CRITICAL = "critical"
    """Legal, safety or security exposure: act now."""

    @property
    def rank(self) -> int:
        """0 for low … 3 for critical, for ``>=`` comparisons."""
        return list(Severity).index(self)


class _Model(BaseModel):
    # Strict: "yes" is no bool and "5" no number, as for JSON Schema; the
    # enum fields opt out so YAML strings still name their members.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TriggerPolicy(_Model):
    """Settings every trigger has."""

    enabled: bool = Field(default=True, description="Evaluate this trigger at all.")
    action: Action = Field(default=Action.NOTIFY, strict=False, description="notify, or rollback.")
    consecutive_failures: int = Field(
        default=3,
        ge=1,
        description="Bad checks in a row before an automatic rollback (k); inconclusive "
        "checks never count.",
    )
    window: Duration | None = Field(default=None, description="How far back to look.")
    min_samples: int = Field(
        default=30, ge=1, description="Below this the answer is 'insufficient data'."
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level (false-alarm rate)."
    )


class EvalRegressionThresholds(_Model):
    """When the latest eval run counts as a regression against the baseline run."""

    pass_rate_drop: float = Field(
        default=0.05, ge=0, le=1, description="Absolute drop in pass rate (0.05 = 5 points)."
    )
    cost_ratio: float | None = Field(
        default=1.5, gt=0, description="Mean cost per test, current ÷ baseline; null disables."
    )
    metric_drop: float | None = Field(
        default=0.1, ge=0, description="Drop of any named metric's mean score; null disables."
    )


class EvalRegressionPolicy(TriggerPolicy):
    """Latest eval run of the serving version against its baseline run."""

    min_samples: int = Field(
        default=20,
        ge=1,
        description="Test cases needed on each side. Unset: the baseline suite's size, at most "
        "20, at least the fewest in which a regression can be significant (3 at alpha 0.05).",
    )
    thresholds: EvalRegressionThresholds = Field(default_factory=EvalRegressionThresholds)


class DriftThresholds(_Model):
    """Smallest effects that count as drift; a check fires only beyond its threshold.

    Each is also gated by its significance test (after Benjamini–Hochberg) where one applies;
    null disables that check.
    """

    output_length: float | None = Field(
        default=0.1, gt=0, description="Output length (chars) shift, in reference std devs."
    )
    output_tokens: float | None = Field(
        default=0.1, gt=0, description="Output token shift, in reference std devs."
    )
    input_tokens: float | None = Field(
        default=0.1, gt=0, description="Input token shift, in reference std devs."
    )
    refusal_rate_increase: float | None = Field(
        default=0.02, gt=0, le=1, description="Absolute increase of the refusal rate."
    )
    json_validity_drop: float | None = Field(
        default=0.02, gt=0, le=1, description="Absolute drop of the JSON-validity rate."
    )
    latency_ratio: float | None = Field(
        default=1.2, gt=0, description="Mean latency, recent ÷ reference."
    )
    cost_ratio: float | None = Field(
        default=1.2, gt=0, description="Mean cost, recent ÷ reference."
    )
    finish_reason_shift: float | None = Field(
        default=0.02, gt=0, le=1, description="Total variation distance of finish reasons."
    )
    new_model_share: float | None = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Share of recent calls answered by a model id unseen in the reference.",
    )
    embedding_distance: float | None = Field(
        default=0.02, gt=0, le=2, description="Cosine distance between output-embedding centroids."
    )


class DriftPolicy(TriggerPolicy):
    """A recent window of production records against a reference window."""

    window: Duration = Field(default=timedelta(hours=24), description="Recent window length.")
    reference_window: Duration = Field(
        default=timedelta(days=3), description="Reference: this long after the promotion."
    )
    min_samples: int = Field(default=200, ge=1, description="Records needed in each window.")
    large_sample: int = Field(
        default=5000,
        ge=1,
        description="From this many samples per window, distributions are compared by "
        "normalised Wasserstein distance instead of the KS test.",
    )
    sample_size: int = Field(
        default=20_000,
        ge=100,
        description="Uniform sample kept per window for distribution tests (memory bound).",
    )
    embeddings: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Embedding drift: auto runs it when the embeddings extra is installed.",
    )
    embedding_sample: int = Field(
        default=256, ge=10, description="Outputs embedded per window (uniform sample)."
    )
    permutations: int = Field(
        default=999, ge=99, description="Resamples of the embedding permutation test."
    )
    seed: int = Field(default=0, description="Seed for sampling and permutations (reproducible).")
    identity_from: tuple[Literal["span", "ancestors", "resource"], ...] = Field(
        default=("span", "ancestors", "resource"),
        min_length=1,
        description="Where an OpenTelemetry model-call span's prompt identity "
        "(promptgov.prompt.name/version) is read, first match wins: the span, its ancestor "
        "spans in the same trace (auto-instrumentation), the resource attributes.",
    )
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)


class FailingTestsPolicy(TriggerPolicy):
    """Scheduled re-runs of the eval suite against the serving version fail their gate."""

    consecutive_failures: int = Field(default=2, ge=1, description="Failing re-runs in a row.")


class ComplaintsPolicy(TriggerPolicy):
    """Recorded complaints about the serving version."""

    window: Duration | None = Field(
        default=timedelta(days=7), description="Only complaints this recent count."
    )
    count: int = Field(default=3, ge=1, description="This many complaints fire the trigger…")
    severity: Severity = Field(
        default=Severity.HIGH, strict=False, description="…or a single one at least this severe."
    )
    consecutive_failures: int = Field(default=1, ge=1, description="Checks in a row.")

    def fires(self, severities: list[Severity]) -> bool:
        """Whether these complaints (already limited to the window) fire the trigger."""
        if not self.enabled:
            return False
        return len(severities) >= self.count or any(
            s.rank >= self.severity.rank for s in severities
        )


class AuditFlagsPolicy(TriggerPolicy):
    """An auditor flagged the serving version."""

    consecutive_failures: int = Field(default=1, ge=1, description="Checks in a row.")


class TriggersPolicy(_Model):
    """The ``triggers:`` mapping of ``promptgov.yml``; every key is optional."""

    eval_regression: EvalRegressionPolicy = Field(default_factory=EvalRegressionPolicy)
    drift: DriftPolicy = Field(default_factory=DriftPolicy)
    failing_tests: FailingTestsPolicy = Field(default_factory=FailingTestsPolicy)
    complaints: ComplaintsPolicy = Field(default_factory=ComplaintsPolicy)
    audit_flags: AuditFlagsPolicy = Field(default_factory=AuditFlagsPolicy)

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "promptgov.yml") -> TriggersPolicy:
        """Validate the raw ``triggers:`` value (None means every default).

        Raises:
            InvalidFile: a key is unknown or a value is out of range, named by its path.
        """
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in ("triggers", *err["loc"]))
            raise InvalidFile(
                f"{source}: {where}: {err['msg']}. Fix the value or remove the key "
                "to use the default."
            ) from exc
