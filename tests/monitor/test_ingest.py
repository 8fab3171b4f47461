"""Reading production logs: JSON, JSONL, OTLP spans; malformed, truncated, empty and huge files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from promptgov.errors import InputError, InvalidFile, NotFound
from promptgov.monitor import MAX_MALFORMED_DETAILS, Malformed, read_records

REC = {
    "time": "2026-03-02T09:01:09Z",
    "prompt": "support-reply",
    "version": "1.0.0",
    "output": "Hi Maria, your parcel ships today.",
    "latency_ms": 420.5,
    "tokens_in": 120,
    "tokens_out": 14,
    "cost": 0.0001,
    "finish_reason": "stop",
    "model_returned": "gpt-4o-mini-2024-07-18",
}


def rec(**changes: object) -> dict[str, object]:
    return {**REC, **changes}


def read_all(path: Path | list[Path], **filters: str):
    report = read_records(path, **filters)
    return report, list(report)


def test_jsonl_records_stream_in_order(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text("".join(json.dumps(rec(id=str(i))) + "\n" for i in range(5)))
    report, got = read_all(log)
    assert [r.id for r in got] == ["0", "1", "2", "3", "4"]
    assert (report.read, report.accepted, report.malformed_count) == (5, 5, 0)
    assert report.files[0].format == "jsonl"


def test_json_array_and_records_object(tmp_path: Path) -> None:
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([rec(id="a"), rec(id="b")], indent=2))
    obj = tmp_path / "b.json"
    obj.write_text(json.dumps({"records": [rec(id="c")]}, indent=2))
    report, got = read_all([arr, obj])
    assert [r.id for r in got] == ["a", "b", "c"]
    assert [f.format for f in report.files] == ["json", "json"]


def test_malformed_jsonl_lines_are_counted_with_line_numbers_and_never_abort(
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text(
        "\n".join(
            [
                json.dumps(rec()),
                "{not json",
                json.dumps(rec(latency_ms=-5)),
                "",
                json.dumps(rec(time="yesterday")),
                json.dumps({k: v for k, v in REC.items() if k != "prompt"}),
                json.dumps(rec()),
                "[1, 2]",
            ]
        )
        + "\n"
    )
    report, got = read_all(log)
    assert len(got) == 2
    assert report.malformed_count == 5
    assert [(m.file, m.line) for m in report.malformed] == [
        (str(log), 2),
        (str(log), 3),
        (str(log), 5),
        (str(log), 6),
        (str(log), 8),
    ]
    reasons = [m.reason for m in report.malformed]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1].startswith("latency_ms: Input should be greater than or equal to 0")
    assert reasons[2].startswith("time:")
    assert reasons[3] == "prompt: Field required"


def test_truncated_json_array_keeps_every_complete_record(tmp_path: Path) -> None:
    text = json.dumps([rec(id=str(i)) for i in range(4)], indent=2)
    log = tmp_path / "cut.json"
    log.write_text(text[: text.index('"id": "3"') + 4])
    report, got = read_all(log)
    assert [r.id for r in got] == ["0", "1", "2"]
    assert report.malformed_count == 1
    (bad,) = report.malformed
    assert bad.reason.startswith("not valid JSON") and "the rest is unread" in bad.reason
    assert bad.line == text[: text.index('"id": "3"')].count("\n") + 1


def test_truncated_last_jsonl_line_is_one_malformed_record(tmp_path: Path) -> None:
    line = json.dumps(rec())
    log = tmp_path / "cut.jsonl"
    log.write_text(line + "\n" + line + "\n" + line[:40])
    report, got = read_all(log)
    assert len(got) == 2
    assert report.malformed == [Malformed(str(log), 3, report.malformed[0].reason)]


def test_array_element_line_numbers(tmp_path: Path) -> None:
    log = tmp_path / "a.json"
    log.write_text('[\n  {"x": 1},\n\n  ' + json.dumps(rec()) + ",\n  " + '{"prompt": 3}\n]\n')
    report, got = read_all(log)
    assert len(got) == 1
    assert [m.line for m in report.malformed] == [2, 5]


def test_empty_and_blank_files_hold_no_records_and_no_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.json"
    blank.write_text("\n\n  \n")
    report, got = read_all([empty, blank])
    assert got == [] and report.malformed_count == 0
    assert [f.format for f in report.files] == ["empty", "empty"]


def test_gzip_and_byte_order_mark(tmp_path: Path) -> None:
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(json.dumps(rec()) + "\n")
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps([rec()]).encode())
    report, got = read_all([gz, bom])
    assert len(got) == 2 and report.malformed_count == 0


def test_other_prompts_versions_hashes_and_envs_are_kept_out_and_counted(tmp_path: Path) -> None:
    sha_a, sha_b = "a" * 64, "b" * 64
    lines = [
        rec(sha256=sha_a, env="prod"),
        rec(sha256=sha_a),  # no env logged: kept
        rec(version="1.1.0", sha256=sha_a),
        rec(prompt="other"),
        rec(sha256=sha_b),
        rec(sha256=sha_a, env="staging"),
    ]
    log = tmp_path / "a.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report, got = read_all(log, prompt="support-reply", version="1.0.0", sha256=sha_a, env="prod")
    assert len(got) == 2
    assert report.skipped_other == {
        "support-reply@1.1.0": 1,
        "other@1.0.0 sha256=none": 1,
        "support-reply@1.0.0 sha256=bbbbbbbbbbbb": 1,
        "support-reply@1.0.0 env=staging": 1,
    }
    assert report.read == 6 and report.skipped_count == 4


def test_enormous_file_counts_every_malformed_line_but_lists_a_bounded_number(
    tmp_path: Path,
) -> None:
    log = tmp_path / "huge.jsonl"
    good = json.dumps(rec()) + "\n"
    with log.open("w") as fh:
        for i in range(30_000):
            fh.write("garbage\n" if i % 10 == 0 else good)
    report, got = read_all(log)
    assert sum(1 for _ in got) == 27_000
    assert report.malformed_count == 3_000
    assert len(report.malformed) == MAX_MALFORMED_DETAILS
    assert report.malformed[-1].line == (MAX_MALFORMED_DETAILS - 1) * 10 + 1


def test_a_report_is_read_once(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    log.write_text(json.dumps(rec()) + "\n")
    report = read_records(log)
    list(report)
    with pytest.raises(InputError, match="already read"):
        list(report)


def test_missing_file_and_directory_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        read_records(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="is a directory"):
        read_records(tmp_path)


# -- OpenTelemetry -----------------------------------------------------------------------------


def _attr(key: str, value: object) -> dict[str, object]:
    if isinstance(value, bool):
        v: dict[str, object] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}  # OTLP JSON sends int64 as a string
    elif isinstance(value, float):
        v = {"doubleValue": value}
    elif isinstance(value, list):
        v = {"arrayValue": {"values": [{"stringValue": x} for x in value]}}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def _span(
    span_id: str, attrs: dict[str, object], start: int = 1_772_442_069_000_000_000
) -> dict[str, object]:
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 812_500_000),
        "attributes": [_attr(k, v) for k, v in attrs.items()],
    }


GENAI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 143,
    "gen_ai.usage.output_tokens": 37,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.output.messages": json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello Maria"}],
                "finish_reason": "stop",
            }
        ]
    ),
    "promptgov.prompt.name": "support-reply",
    "promptgov.prompt.version": "1.0.0",
    "promptgov.prompt.sha256": "c" * 64,
    "promptgov.cost": 0.00012,
}


def _otlp(*spans: dict[str, object]) -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("deployment.environment.name", "prod")]},
                "scopeSpans": [{"scope": {"name": "openai"}, "spans": list(spans)}],
            }
        ]
    }


def test_otel_genai_spans_become_records(tmp_path: Path) -> None:
    log = tmp_path / "traces.json"
    http_span = _span("00f067aa0ba902b8", {"http.request.method": "GET"})
    no_prompt = _span("00f067aa0ba902b9", {"gen_ai.request.model": "gpt-4o-mini"})
    log.write_text(
        json.dumps(_otlp(_span("00f067aa0ba902b7", GENAI), http_span, no_prompt), indent=2)
    )
    report, got = read_all(log, prompt="support-reply")
    (r,) = got
    assert r.time.isoformat() == "2026-03-02T09:01:09+00:00"
    assert r.latency_ms == pytest.approx(812.5)
    assert (r.model_requested, r.model_returned) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (r.tokens_in, r.tokens_out, r.finish_reason) == (143, 37, "stop")
    assert (r.output, r.cost, r.env, r.sha256) == ("Hello Maria", 0.00012, "prod", "c" * 64)
    assert r.id == "00f067aa0ba902b7"
    assert report.ignored_spans == 1
    assert report.malformed_count == 1
    assert report.malformed[0].reason.startswith(
        "span 00f067aa0ba902b9: no prompt identity: set promptgov.prompt.name and "
        "promptgov.prompt.version on the span, a parent span or the resource"
    )


def test_otel_collector_jsonl_export_and_legacy_attributes(tmp_path: Path) -> None:
    legacy = {k: v for k, v in GENAI.items() if not k.startswith(("gen_ai.usage", "gen_ai.output"))}
    legacy |= {
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 3,
        "gen_ai.completion": "Hi",
    }
    log = tmp_path / "collector.jsonl"
    log.write_text(
        json.dumps(_otlp(_span("a1", GENAI))) + "\n" + json.dumps(_otlp(_span("a2", legacy))) + "\n"
    )
    report, got = read_all(log)
    assert [(r.id, r.tokens_in, r.output) for r in got] == [
        ("a1", 143, "Hello Maria"),
        ("a2", 10, "Hi"),
    ]
    assert report.malformed_count == 0


def test_broken_otlp_layout_is_malformed_not_a_crash(tmp_path: Path) -> None:
    log = tmp_path / "bad.json"
    log.write_text(json.dumps({"resourceSpans": [{"scopeSpans": "nope"}, 3]}, indent=1))
    report, got = read_all(log)
    assert got == [] and report.malformed_count == 2


# -- property-based ----------------------------------------------------------------------------

_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(data=hst.binary(max_size=400))
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    log = tmp_path / "fuzz.log"
    log.write_bytes(data)
    report, got = read_all(log)
    assert report.malformed_count == len(report.malformed)
    assert report.read == len(got)
    assert all(m.line >= 1 for m in report.malformed)


@_SETTINGS
@given(
    lines=hst.lists(
        hst.one_of(
            hst.just("good"),
            hst.just("blank"),
            hst.text(hst.characters(exclude_categories=("Cs",)), max_size=30),
        ),
        max_size=30,
    )
)
def test_every_non_blank_bad_line_is_counted_exactly_once(tmp_path: Path, lines: list[str]) -> None:
    rendered = []
    for line in lines:
        if line == "good":
            rendered.append(json.dumps(rec()))
        elif line == "blank":
            rendered.append("   ")
        else:
            rendered.append("#" + line.replace("\n", " ").replace("\r", " "))  # never valid JSON
    log = tmp_path / "mixed.jsonl"
    log.write_text(
        "\n".join(["{}" if not rendered else json.dumps(rec())] + rendered) + "\n", encoding="utf-8"
    )
    report, got = read_all(log)
    bad = [i + 2 for i, line in enumerate(lines) if line not in ("good", "blank")]
    expected_good = 1 + lines.count("good") if rendered else 0
    assert len(got) == expected_good
    assert [m.line for m in report.malformed] == (bad if rendered else [1])


@pytest.mark.parametrize("damage", ["not-gzip", "truncated"])
def test_a_damaged_gzip_log_is_one_clear_error(tmp_path: Path, damage: str) -> None:
    data = gzip.compress(b'{"prompt": "p", "output": "x"}\n' * 2000)
    path = tmp_path / "prod.jsonl.gz"
    path.write_bytes(b"garbage!" if damage == "not-gzip" else data[: len(data) // 2])
    with pytest.raises(InvalidFile, match="is not a readable gzip file"):
        list(read_records(path))
