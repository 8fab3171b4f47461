"""OpenTelemetry log records that carry a model call's content, joined to its span.

Current GenAI instrumentations (``opentelemetry-instrumentation-openai-v2`` and the other
``opentelemetry-util-genai`` users) send the prompt and the model's answer as *log records*
in the span's context, not as span events: ``gen_ai.user.message`` / ``gen_ai.choice``
(semantic conventions up to 1.36) or one ``gen_ai.client.inference.operation.details``
record with ``gen_ai.output.messages`` (later conventions). Each record read here becomes a
:class:`LogEvent`: the trace and span it belongs to and a span :class:`Event` whose
attributes are the record's, its body under ``body``, so the span mapping reads both alike.

Three layouts are read: OTLP JSON (``resourceLogs[].scopeLogs[].logRecords[]``, as the
collector's file exporter writes), OTLP protobuf (``ExportLogsServiceRequest``, as the SDK's
OTLP exporters send) and the SDK's ``ConsoleLogExporter`` output (``LogRecord.to_json``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from promptgov.monitor.spans import (
    Event,
    _any_value,
    _attributes,
    _hex_id,
    _proto_attributes,
    _proto_value,
    otlp_json_items,
)

__all__ = [
    "LogEvent",
    "console_log",
    "is_console_log",
    "is_genai_event",
    "otlp_json_logs",
    "otlp_protobuf_logs",
]


@dataclass(frozen=True)
class LogEvent:
    """One log record: the span it was emitted in (lowercase hex ids; None when the
    producer recorded none) and its content as a span event."""

    trace_id: str | None
    span_id: str | None
    event: Event

    @property
    def key(self) -> tuple[str, str] | None:
        """The (trace id, span id) it joins on; None when it names no span."""
        if not self.trace_id or not self.span_id or set(self.trace_id) == {"0"}:
            return None
        return (self.trace_id, self.span_id)


def is_genai_event(event: Event) -> bool:
    """A GenAI semantic-convention event (``gen_ai.*``), the only ones promptgov reads."""
    return event.name.startswith("gen_ai.")


def _event(name: Any, attributes: Mapping[str, Any], body: Any) -> Event:
    """A log record as a span event: older SDKs put the name in ``event.name``."""
    attrs = dict(attributes)
    label = name or attrs.get("event.name") or ""
    if body is not None:
        attrs["body"] = body
    return Event(str(label), attrs)


def _plain_id(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def otlp_json_logs(doc: Mapping[str, Any]) -> Iterator[LogEvent | None]:
    """Every log record of an OTLP JSON logs export; None marks a part not in that layout."""
    for found in otlp_json_items(doc, "resourceLogs", ("scopeLogs",), "logRecords"):
        if found is None:
            yield None
            continue
        r = found[1]
        try:
            body = _any_value(r["body"]) if isinstance(r.get("body"), Mapping) else None
        except (TypeError, ValueError):
            body = None
        yield LogEvent(
            _plain_id(r.get("traceId")),
            _plain_id(r.get("spanId")),
            _event(r.get("eventName"), _attributes(r.get("attributes")), body),
        )


def otlp_protobuf_logs(data: bytes) -> Iterator[LogEvent]:
    """Every log record of a binary ``ExportLogsServiceRequest``.

    Raises:
        ValueError: the bytes are not an OTLP logs export.
    """
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        raise ValueError(f"not an OTLP protobuf logs export ({exc})") from None
    if data and not request.resource_logs:
        raise ValueError("not an OTLP protobuf logs export (no resource logs)")
    for rl in request.resource_logs:
        for scope in rl.scope_logs:
            for r in scope.log_records:
                body = _proto_value(r.body) if r.HasField("body") else None
                yield LogEvent(
                    r.trace_id.hex() or None,
                    r.span_id.hex() or None,
                    _event(r.event_name, _proto_attributes(r.attributes), body),
                )


def is_console_log(value: Any) -> bool:
    """Whether a JSON object is one record as the SDK's ``ConsoleLogExporter`` prints it."""
    return (
        isinstance(value, Mapping)
        and "observed_timestamp" in value
        and "body" in value
        and "context" not in value
    )


def console_log(value: Mapping[str, Any]) -> LogEvent:
    """One record printed by ``ConsoleLogExporter`` (``ReadableLogRecord.to_json``)."""
    attrs = value.get("attributes")
    return LogEvent(
        _hex_id(value.get("trace_id")),
        _hex_id(value.get("span_id")),
        _event(value.get("event_name"), attrs if isinstance(attrs, Mapping) else {}, value["body"]),
    )
