"""GenAI content sent as OpenTelemetry log records is joined to its spans.

The producer is the real ``opentelemetry-instrumentation-openai-v2`` driving the real
``openai`` client against the stub model server (tests/monitor/openai_v2_app.py), exported
with the SDK's console and OTLP encoders, in both of its content modes: ``gen_ai.choice``
log records (``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``) and one
``gen_ai.client.inference.operation.details`` record (``gen_ai_latest_experimental``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptgov.errors import InvalidFile
from promptgov.monitor import DriftPolicy, TimeWindow, check_drift_from_paths, read_records
from tests import flows
from tests.conftest import run_cli, snapshot
from tests.test_triggers import cases, release_imported

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = "Your parcel ships today."
REFUSAL = "I'm sorry, but I can't help with that request."
MODES = {
    "choice-events": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    "operation-details": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
    },
}


def instrumented_app(out: Path, mode: str, *, reply: str = HEALTHY, count: int = 3) -> Path:
    """Run the instrumented application once; its exported files land in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    subprocess.run(
        [sys.executable, "-m", "tests.monitor.openai_v2_app", str(out), "--reply", reply]
        + ["-n", str(count)],
        cwd=ROOT,
        env={**env, **MODES[mode]},
        check=True,
        timeout=120,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module", params=sorted(MODES))
def exported(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return instrumented_app(tmp_path_factory.mktemp(request.param), request.param)


@pytest.mark.parametrize(
    "files",
    [
        ["spans.json", "logs.json"],
        ["logs.json", "spans.json"],
        ["spans.binpb", "logs.binpb"],
        ["logs.binpb", "spans.json"],
        ["spans.binpb", "logs.json"],
    ],
)
def test_real_instrumentation_output_reaches_the_records(exported: Path, files: list[str]) -> None:
    report = read_records([exported / f for f in files], prompt="support-reply")
    got = list(report)
    assert [r.output for r in got] == [HEALTHY] * 3
    assert {(r.version, r.model_requested, r.finish_reason) for r in got} == {
        ("1.0.0", "gpt-4o-mini", "stop")
    }
    assert report.unjoined_log_records == report.spans_without_output == 0
    assert report.warnings() == []


def test_spans_without_their_log_records_are_a_counted_warning(exported: Path) -> None:
    report = read_records(exported / "spans.json", prompt="support-reply")
    assert [r.output for r in report] == [None] * 3
    assert report.spans_without_output == 3
    assert "carry no output text" in report.warnings()[0]


@pytest.mark.parametrize("logs", ["logs.json", "logs.binpb"])
def test_log_records_without_spans_are_an_error(exported: Path, logs: str) -> None:
    window = TimeWindow(datetime(2020, 1, 1, tzinfo=UTC), datetime.now(UTC))
    with pytest.raises(InvalidFile, match="no model-call span they belong to"):
        check_drift_from_paths(
            exported / logs, reference=window, recent=window, prompt="support-reply"
        )


@pytest.mark.parametrize("mode", sorted(MODES))
def test_refusal_drift_fires_on_content_from_log_records(tmp_path: Path, mode: str) -> None:
    t0 = datetime.now(UTC)
    ref = instrumented_app(tmp_path / "ref", mode, count=25)
    t1 = datetime.now(UTC)
    bad = instrumented_app(tmp_path / "bad", mode, reply=REFUSAL, count=25)
    t2 = datetime.now(UTC)
    report = check_drift_from_paths(
        [ref / "spans.binpb", ref / "logs.binpb", bad / "spans.json", bad / "logs.json"],
        reference=TimeWindow(t0, t1),
        recent=TimeWindow(t1, t2),
        prompt="support-reply",
        policy=DriftPolicy(min_samples=20, embeddings="off"),
    )
    refusal = {c.name: c for c in report.checks}["refusal_rate"]
    assert (refusal.status.value, refusal.reference_value, refusal.recent_value) == (
        "fired",
        0.0,
        1.0,
    )


# --------------------------------------------------------------------------- OTLP JSON


def _otlp_json(trace: str, span: str, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A span and its ``gen_ai.choice`` log record in the OTLP/JSON encoding (hex ids,
    int64 as strings, ``AnyValue`` bodies), as the collector's file exporter writes them."""
    ident = [
        {"key": "promptgov.prompt.name", "value": {"stringValue": "support-reply"}},
        {"key": "promptgov.prompt.version", "value": {"stringValue": "1.0.0"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
    ]
    spans = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": span,
                                "name": "chat gpt-4o-mini",
                                "startTimeUnixNano": "1767225600000000000",
                                "endTimeUnixNano": "1767225600500000000",
                                "attributes": ident,
                            }
                        ]
                    }
                ],
            }
        ]
    }
    body = {
        "kvlistValue": {
            "values": [
                {"key": "index", "value": {"intValue": "0"}},
                {"key": "finish_reason", "value": {"stringValue": "stop"}},
                {
                    "key": "message",
                    "value": {
                        "kvlistValue": {
                            "values": [
                                {"key": "role", "value": {"stringValue": "assistant"}},
                                {"key": "content", "value": {"stringValue": text}},
                            ]
                        }
                    },
                },
            ]
        }
    }
    logs = {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "observedTimeUnixNano": "1767225600500000000",
                                "eventName": "gen_ai.choice",
                                "body": body,
                                "traceId": trace,
                                "spanId": span,
                            },
                            {"body": {"stringValue": "request served"}, "traceId": trace},
                        ]
                    }
                ],
            }
        ]
    }
    return spans, logs


def test_otlp_json_logs_in_collector_jsonl_join_and_count_what_does_not(tmp_path: Path) -> None:
    trace = "5b8efff798038103d269b633813fc60c"
    spans, logs = _otlp_json(trace, "eee19b7ec3c1b174", '{"ok": true}')
    _, stray = _otlp_json(trace, "0000000000000bad", "lost")
    path = tmp_path / "otel.jsonl"  # spans first, then logs, as one collector file
    path.write_text("\n".join(json.dumps(d) for d in (spans, logs, stray)) + "\n")
    report = read_records(path)
    assert [r.output for r in report] == ['{"ok": true}']
    assert (report.log_records, report.ignored_log_records, report.unjoined_log_records) == (
        4,
        2,
        1,
    )
    assert "1 GenAI log records belong to no model-call span" in report.warnings()[0]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
)
def test_any_json_under_resource_logs_is_counted_never_a_crash(tmp_path: Path, junk: Any) -> None:
    path = tmp_path / "logs.json"
    path.write_text(json.dumps({"resourceLogs": junk}))
    report = read_records(path)
    assert list(report) == []
    assert report.unreadable() is not None or report.log_records == 0


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def serving(example_repo: Path) -> Path:
    """prod serves support-reply@1.0.0."""
    release_imported(example_repo, "1.0.0", cases(40))
    return example_repo


def test_triggers_joins_real_spans_and_log_records(serving: Path, tmp_path: Path) -> None:
    out = instrumented_app(tmp_path / "otel", "choice-events")
    logs = [a for f in ("logs.binpb", "spans.json") for a in ("--logs", out / f)]
    res = run_cli("triggers", flows.PROMPT, "--repo", serving, *logs, "--json")
    assert res.exit_code == 0, res.stderr
    drift = {t["trigger"]: t for t in json.loads(res.stdout)["triggers"]}["drift"]
    assert drift["details"]["logs"]["accepted"] == 3
    assert drift["details"]["logs"]["warnings"] == []

    res = run_cli("triggers", flows.PROMPT, "--repo", serving, "--logs", out / "spans.json")
    assert res.exit_code == 0, res.stderr
    assert "warning: 3 model-call spans carry no output text" in res.stdout

    before = snapshot(serving)
    res = run_cli("triggers", flows.PROMPT, "--repo", serving, "--logs", out / "logs.json")
    assert res.exit_code == 2
    assert "no model-call span they belong to" in res.stderr
    assert snapshot(serving) == before
