"""The record format, its schema and example, the trigger policy, windows and text features."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from scipy import stats as st

import promptgov.monitor as monitor
from promptgov.errors import InvalidFile
from promptgov.monitor import (
    Action,
    ComplaintsPolicy,
    DriftPolicy,
    ProductionRecord,
    Severity,
    TimeWindow,
    TriggersPolicy,
    WindowStats,
    default_windows,
    format_duration,
    is_json,
    is_refusal,
    parse_duration,
    read_records,
    record_json_schema,
)

EXAMPLE = Path(monitor.__file__).parent.parent / "templates/example/logs/log-sample.output.json"


def test_example_log_validates_against_the_record_schema_once_init_fills_the_hash() -> None:
    raw = EXAMPLE.read_text()
    assert raw.count('"<filled at init>"') == 20
    filled = json.loads(raw.replace("<filled at init>", hashlib.sha256(b"x").hexdigest()))
    schema = record_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for item in filled:
        jsonschema.validate(item, schema)
        assert item["prompt"] == "support-reply" and item["version"] == "1.0.0"
    # The placeholder itself is not a hash: the schema says so.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(raw)[0], schema)


def test_example_log_reads_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "log-sample.output.json"
    log.write_text(EXAMPLE.read_text().replace("<filled at init>", "0" * 64))
    report = read_records(log, prompt="support-reply", version="1.0.0")
    recs = list(report)
    assert len(recs) == 20 and report.malformed_count == 0
    assert sum(is_refusal(r.output, r.finish_reason) for r in recs) == 1


def test_time_without_offset_is_utc_and_negative_values_are_rejected() -> None:
    r = ProductionRecord.model_validate(
        {"time": "2026-03-02T10:00:00", "prompt": "p", "version": "1"}
    )
    assert r.time == datetime(2026, 3, 2, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        ProductionRecord.model_validate(
            {"time": "2026-03-02", "prompt": "p", "version": "1", "cost": -1}
        )
    assert repr(r) == "ProductionRecord(prompt='p', version='1', time='2026-03-02T10:00:00+00:00')"


# -- policy ------------------------------------------------------------------------------------


def test_policy_defaults_and_yaml_values() -> None:
    policy = TriggersPolicy.from_mapping(None)
    assert policy.drift.window == timedelta(hours=24)
    assert policy.drift.reference_window == timedelta(days=3)
    assert policy.drift.action is Action.NOTIFY and policy.drift.consecutive_failures == 3
    custom = TriggersPolicy.from_mapping(
        {
            "drift": {
                "window": "12h",
                "action": "rollback",
                "consecutive_failures": 2,
                "thresholds": {"cost_ratio": 1.5, "latency_ratio": None},
            }
        }
    )
    assert custom.drift.window == timedelta(hours=12)
    assert (
        custom.drift.thresholds.cost_ratio == 1.5 and custom.drift.thresholds.latency_ratio is None
    )
    assert custom.model_dump(mode="json")["drift"]["window"] == "12h"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"drift": {"alpha": 2}}, "triggers.drift.alpha: Input should be less than 1"),
        (
            {"drift": {"window": "soon"}},
            "triggers.drift.window: Value error, 'soon' is not a duration",
        ),
        ({"drfit": {}}, "triggers.drfit: Extra inputs are not permitted"),
        (
            {"complaints": {"action": "page"}},
            "triggers.complaints.action: Input should be 'notify' or 'rollback'",
        ),
    ],
)
def test_bad_policy_values_are_one_line_input_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidFile) as info:
        TriggersPolicy.from_mapping(data)
    assert info.value.message.startswith(f"promptgov.yml: {message}")
    assert "\n" not in info.value.message


def test_complaints_fire_by_count_or_by_severity() -> None:
    policy = ComplaintsPolicy(count=3, severity=Severity.HIGH)
    assert not policy.fires([Severity.LOW, Severity.MEDIUM])
    assert policy.fires([Severity.LOW] * 3)
    assert policy.fires([Severity.CRITICAL])
    assert not ComplaintsPolicy(enabled=False).fires([Severity.CRITICAL])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("90m", 5400), ("1d12h", 129600), ("2w", 1209600), ("30s", 30), (45, 45)],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_duration_errors_and_formatting() -> None:
    for bad in ("", "h", "-1h", "0h", "24 hours", True):
        with pytest.raises(ValueError):
            parse_duration(bad)  # type: ignore[arg-type]
    assert format_duration(timedelta(hours=36)) == "1d12h"
    assert format_duration(timedelta(days=14)) == "14d"


# -- windows -----------------------------------------------------------------------------------


def test_default_windows_never_overlap() -> None:
    promoted = datetime(2026, 3, 1, tzinfo=UTC)
    ref, recent = default_windows(promoted, promoted + timedelta(days=10))
    assert (ref.start, ref.end) == (promoted, promoted + timedelta(days=3))
    assert recent == TimeWindow(promoted + timedelta(days=9), promoted + timedelta(days=10))
    ref2, recent2 = default_windows(promoted, promoted + timedelta(hours=30))
    assert ref2.end == recent2.start == promoted + timedelta(hours=6)
    ref3, _ = default_windows(promoted, promoted + timedelta(hours=10))
    assert ref3.length == timedelta(0)
    with pytest.raises(ValueError):
        TimeWindow(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_window_sample_is_uniform_and_bounded_while_counts_stay_exact() -> None:
    stats = WindowStats(sample_size=1000, seed=3)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    n = 50_000
    for i in range(n):
        stats.add(
            ProductionRecord.model_construct(time=t, prompt="p", version="1", latency_ms=float(i))
        )
    kept = stats.sample("latency_ms")
    assert kept.size == 1000 and len(set(kept.tolist())) == 1000
    # The kept indices are a uniform sample of 0..n-1 (KS against the uniform distribution).
    assert st.kstest(kept / n, "uniform").pvalue > 0.001
    assert stats.mean("latency_ms") == pytest.approx((n - 1) / 2)
    assert stats.count("latency_ms") == n and stats.n == n
    assert stats.sample("cost").size == 0 and stats.mean("cost") is None


def test_category_counts_are_capped_against_hostile_logs() -> None:
    stats = WindowStats()
    t = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(1000):
        stats.add(
            ProductionRecord.model_construct(time=t, prompt="p", version="1", finish_reason=f"r{i}")
        )
    assert len(stats.finish_reasons) <= 201 and sum(stats.finish_reasons.values()) == 1000


# -- text features -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I’m sorry, I cannot assist with this request.",
        "Sorry, I can't do that.",
        "I cannot provide medical advice.",
        "I must decline to answer.",
        "As an AI language model, I don't have opinions.",
        "  I won't help with that.",
    ],
)
def test_refusals_are_detected(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "Hi Maria, I'm sorry for the inconvenience. Your parcel ships today.",
        "Sure! Here is the summary you asked for.",
        "Your order is on its way. If I can't reach the courier, I'll email you.",
        "",
        None,
    ],
)
def test_helpful_answers_are_not_refusals(text: str | None) -> None:
    assert not is_refusal(text)


def test_content_filter_counts_as_a_refusal() -> None:
    assert is_refusal(None, "content_filter")


def test_json_validity() -> None:
    assert is_json('{"a": 1}') and is_json(" [1, 2] ") and is_json('```json\n{"a": 1}\n```')
    assert (
        not is_json('{"a": 1') and not is_json("hello") and not is_json("42") and not is_json(None)
    )
    assert not is_json('```json\n{"a": 1}')


def test_random_sample_is_reproducible_by_seed() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    recs = [
        ProductionRecord.model_construct(time=t, prompt="p", version="1", cost=random.random())
        for _ in range(5000)
    ]
    a = WindowStats(sample_size=100, seed=1).extend(recs).sample("cost")
    b = WindowStats(sample_size=100, seed=1).extend(recs).sample("cost")
    c = WindowStats(sample_size=100, seed=2).extend(recs).sample("cost")
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert DriftPolicy().seed == 0
