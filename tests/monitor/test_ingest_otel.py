"""Spans written by the real OpenTelemetry SDK and its exporters become production records.

The model-call spans are shaped as ``opentelemetry-instrumentation-openai-v2`` shapes them
(opentelemetry-python-contrib, instrumentation-genai/opentelemetry-instrumentation-openai-v2,
``patch.py`` ``chat_completions_create`` and ``utils.py`` ``get_llm_request_attributes``): a
CLIENT span named ``chat <model>`` with ``gen_ai.operation.name``, ``gen_ai.system``,
``gen_ai.request.model``, then ``gen_ai.response.model``, ``gen_ai.response.finish_reasons``
and ``gen_ai.usage.*``, as a child of the application's own span, which carries the prompt
identity. Outputs are carried in each of the conventions producers use:
``gen_ai.output.messages`` (current semantic conventions, util-genai's span mode), a
``gen_ai.choice`` span event (body ``{index, finish_reason, message: {role, content}}``) and a
``gen_ai.content.completion`` event with a ``gen_ai.completion`` attribute (semantic
conventions up to 1.27).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.trace import SpanKind

from promptgov.errors import InvalidFile
from promptgov.monitor import DriftPolicy, TimeWindow, check_drift_from_paths, read_records
from tests import flows
from tests.conftest import run_cli, snapshot
from tests.monitor.openai_v2_app import SpanSink
from tests.test_triggers import cases, release_imported

IDENTITY = {"promptgov.prompt.name": "support-reply", "promptgov.prompt.version": "1.0.0"}
REFUSAL = "I'm sorry, but I can't help with that request."


def _messages(text: str) -> str:
    return json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": text}],
                "finish_reason": "stop",
            }
        ]
    )


def output_messages(span: Any, text: str) -> None:
    span.set_attribute("gen_ai.output.messages", _messages(text))


def choice_event(span: Any, text: str) -> None:
    span.add_event(
        "gen_ai.choice",
        {
            "index": 0,
            "finish_reason": "stop",
            "message": json.dumps({"role": "assistant", "content": text}),
        },
    )


def completion_event(span: Any, text: str) -> None:
    span.add_event(
        "gen_ai.content.completion",
        {"gen_ai.completion": json.dumps([{"role": "assistant", "content": text}])},
    )


Carrier = Callable[[Any, str], None]


def traffic(
    provider: TracerProvider,
    texts: list[str],
    carry: Carrier = output_messages,
    *,
    parent_identity: bool = True,
) -> None:
    """One application span per call, with the instrumentation's model-call span inside."""
    tracer = provider.get_tracer("app")
    llm = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.3b0")
    for text in texts:
        with tracer.start_as_current_span(
            "answer ticket", attributes=IDENTITY if parent_identity else {}
        ):
            with llm.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                },
            ) as span:
                span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
                span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
                span.set_attribute("gen_ai.usage.input_tokens", 40)
                span.set_attribute("gen_ai.usage.output_tokens", len(text.split()))
                carry(span, text)


def _provider(**resource: str) -> TracerProvider:
    return TracerProvider(
        resource=Resource.create(
            {"service.name": "support", "deployment.environment.name": "prod", **resource}
        )
    )


def console_log(path: Path, texts: list[str], carry: Carrier = output_messages, **kw: Any) -> Path:
    """What ``ConsoleSpanExporter`` prints, children before their parents, batched."""
    with path.open("w") as out:
        provider = _provider()
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=out)))
        traffic(provider, texts, carry, **kw)
        provider.shutdown()
    return path


def protobuf_log(path: Path, texts: list[str], carry: Carrier = output_messages) -> Path:
    """One ``ExportTraceServiceRequest`` from the real OTLP encoder."""
    provider, sink = _provider(), SpanSink()
    provider.add_span_processor(SimpleSpanProcessor(sink))
    traffic(provider, texts, carry)
    provider.shutdown()
    path.write_bytes(encode_spans(sink.spans).SerializeToString())
    return path


@pytest.mark.parametrize("carry", [output_messages, choice_event, completion_event])
def test_console_exporter_output_with_identity_on_the_parent_span(
    tmp_path: Path, carry: Carrier
) -> None:
    log = console_log(tmp_path / "spans.txt", ["Your parcel ships today.", '{"ok": true}'], carry)
    report = read_records(log, prompt="support-reply")
    got = list(report)
    assert [r.output for r in got] == ["Your parcel ships today.", '{"ok": true}']
    r = got[0]
    assert (r.prompt, r.version, r.env) == ("support-reply", "1.0.0", "prod")
    assert (r.model_requested, r.model_returned, r.finish_reason) == (
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "stop",
    )
    assert (r.tokens_in, r.tokens_out) == (40, 4)
    assert r.latency_ms is not None and r.latency_ms >= 0
    assert abs((datetime.now(UTC) - r.time).total_seconds()) < 60
    assert report.ignored_spans == 2  # the application spans
    assert report.malformed_count == 0
    assert report.files[0].format == "json-stream"


def test_otlp_protobuf_file_from_the_real_encoder(tmp_path: Path) -> None:
    log = protobuf_log(tmp_path / "traces.binpb", ["Hello Maria", REFUSAL], choice_event)
    report = read_records(log)
    got = list(report)
    assert [(r.prompt, r.output, r.env) for r in got] == [
        ("support-reply", "Hello Maria", "prod"),
        ("support-reply", REFUSAL, "prod"),
    ]
    assert report.files[0].format == "otlp-protobuf"
    assert len(got[0].id or "") == 16


def test_collector_length_prefixed_protobuf(tmp_path: Path) -> None:
    one = protobuf_log(tmp_path / "a.binpb", ["first"]).read_bytes()
    two = protobuf_log(tmp_path / "b.binpb", ["second"]).read_bytes()
    log = tmp_path / "collector.binpb"
    log.write_bytes(b"".join(len(m).to_bytes(4, "big") + m for m in (one, two)))
    assert [r.output for r in read_records(log)] == ["first", "second"]


def test_identity_on_the_resource_and_the_configured_order(tmp_path: Path) -> None:
    path = tmp_path / "spans.txt"
    with path.open("w") as out:
        provider = _provider(
            **{"promptgov.prompt.name": "faq", "promptgov.prompt.version": "2.0.0"}
        )
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
        traffic(provider, ["from resource"], parent_identity=False)
        traffic(provider, ["from parent"])
        provider.shutdown()
    got = [(r.prompt, r.output) for r in read_records(path)]
    assert got == [("faq", "from resource"), ("support-reply", "from parent")]
    first_resource = read_records(path, identity_from=("resource", "ancestors"))
    assert [r.prompt for r in first_resource] == ["faq", "faq"]
    only_span = read_records(path, identity_from=("span",))
    assert list(only_span) == []
    assert only_span.unidentified_spans == 2
    assert "no prompt identity" in only_span.malformed[0].reason


def test_spans_without_any_prompt_identity_are_an_error_not_insufficient_data(
    tmp_path: Path,
) -> None:
    log = console_log(tmp_path / "spans.txt", ["hi"] * 3, parent_identity=False)
    now = datetime.now(UTC)
    window = TimeWindow(datetime(2020, 1, 1, tzinfo=UTC), now)
    with pytest.raises(
        InvalidFile, match=r"no production record could be read .*no prompt identity"
    ):
        check_drift_from_paths(log, reference=window, recent=window, prompt="support-reply")


@pytest.mark.parametrize(
    "damage",
    [
        b"\x00\x00\x01\x00garbage",
        b"\x08\x96\x01 not protobuf \x01\x02",
        b'{\n  "a": 1\n}\n{ broken',
    ],
)
def test_unreadable_files_are_an_error(tmp_path: Path, damage: bytes) -> None:
    log = tmp_path / "traces.binpb"
    log.write_bytes(damage)
    now = datetime.now(UTC)
    window = TimeWindow(datetime(2020, 1, 1, tzinfo=UTC), now)
    with pytest.raises(InvalidFile, match="no production record could be read"):
        check_drift_from_paths(log, reference=window, recent=window, prompt="support-reply")


@pytest.mark.parametrize("carry", [output_messages, choice_event, completion_event])
@pytest.mark.parametrize("fmt", ["console", "protobuf"])
def test_refusal_drift_fires_on_span_content_and_not_on_healthy_traffic(
    tmp_path: Path, carry: Carrier, fmt: str
) -> None:
    """Reference: healthy answers; recent: refusals (or more healthy answers)."""
    write = console_log if fmt == "console" else protobuf_log
    healthy = [f"Your parcel {i} ships today." for i in range(40)]
    t0 = datetime.now(UTC)
    ref_log = write(tmp_path / "ref.log", healthy, carry)
    time.sleep(0.01)
    t1 = datetime.now(UTC)
    bad_log = write(tmp_path / "bad.log", [REFUSAL] * 40, carry)
    ok_log = write(tmp_path / "ok.log", healthy, carry)
    t2 = datetime.now(UTC)
    reference, recent = TimeWindow(t0, t1), TimeWindow(t1, t2)
    policy = DriftPolicy(min_samples=20, embeddings="off")

    fired = check_drift_from_paths(
        [ref_log, bad_log],
        reference=reference,
        recent=recent,
        prompt="support-reply",
        policy=policy,
    )
    calm = check_drift_from_paths(
        [ref_log, ok_log], reference=reference, recent=recent, prompt="support-reply", policy=policy
    )

    refusal = {c.name: c for c in fired.checks}["refusal_rate"]
    assert refusal.status.value == "fired"
    assert (refusal.reference_value, refusal.recent_value) == (0.0, 1.0)
    assert {c.name: c for c in calm.checks}["refusal_rate"].status.value == "not_fired"
    assert "refusal_rate" not in calm.fired


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def serving(example_repo: Path) -> Path:
    """prod serves support-reply@1.0.0."""
    release_imported(example_repo, "1.0.0", cases(40))
    return example_repo


def test_triggers_exits_non_zero_on_unreadable_spans_and_changes_nothing(
    serving: Path, tmp_path: Path
) -> None:
    log = console_log(tmp_path / "spans.txt", ["hi"] * 3, parent_identity=False)
    before = snapshot(serving)
    res = run_cli("triggers", flows.PROMPT, "--repo", serving, "--logs", log)
    assert res.exit_code == 2
    assert "no production record could be read" in res.stderr and "no prompt identity" in res.stderr
    assert snapshot(serving) == before


def test_triggers_reads_console_spans_of_the_serving_version(serving: Path, tmp_path: Path) -> None:
    log = console_log(tmp_path / "spans.txt", ["Your parcel ships today."] * 3)
    res = run_cli("triggers", flows.PROMPT, "--repo", serving, "--logs", log, "--json")
    assert res.exit_code == 0, res.stderr
    drift = {t["trigger"]: t for t in json.loads(res.stdout)["triggers"]}["drift"]
    assert drift["details"]["logs"]["accepted"] == 3
    assert drift["status"] == "insufficient_data"  # 3 real records: too few, but read
