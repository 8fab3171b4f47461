"""OpenTelemetry spans as production records: OTLP JSON, OTLP protobuf and console output.

Every layout is first read into one :class:`Span` shape, then one mapping turns a GenAI
model-call span into record fields, following the GenAI semantic conventions
(``gen_ai.request.model``, ``gen_ai.usage.*``, ``gen_ai.output.messages``, and the older
``gen_ai.completion`` attribute and ``gen_ai.choice`` / ``gen_ai.content.completion`` span
events).

Auto-instrumentation (``opentelemetry-instrumentation-openai-v2`` and similar) creates the
model-call span as a child of the application's own span, which is where the application
records which governed prompt it served. :class:`IdentityResolver` therefore takes a span's
prompt identity from the span itself, its ancestors in the same trace, or the resource, in
the order the drift policy's ``identity_from`` names. A parent usually ends, and is
exported, after its child, so children are held until their ancestor is seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "IDENTITY_SOURCES",
    "Event",
    "IdentityResolver",
    "IdentitySource",
    "Span",
    "console_span",
    "is_model_call",
    "otlp_json_items",
    "otlp_json_spans",
    "otlp_protobuf_spans",
    "span_record",
]

IdentitySource = Literal["span", "ancestors", "resource"]
#: Where a span's prompt identity is looked for, in the default order.
IDENTITY_SOURCES: tuple[IdentitySource, ...] = ("span", "ancestors", "resource")
#: The attributes naming the governed prompt a call served (set by the application).
_NAME = "promptgov.prompt.name"
_IDENTITY_KEYS = (
    _NAME,
    "promptgov.prompt.version",
    "promptgov.prompt.sha256",
    "promptgov.prompt.variables",
    "promptgov.prompt.variables_sha256",
    "promptgov.env",
)
#: GenAI operations that are not one model call with an output (semantic conventions).
_NOT_MODEL_CALLS = frozenset({"invoke_agent", "create_agent", "execute_tool", "embeddings"})


@dataclass(frozen=True)
class Event:
    """One span event: its name, attributes and (from log-style producers) a body."""

    name: str
    attributes: Mapping[str, Any]


@dataclass
class Span:
    """One finished span, whatever layout it was exported in (ids are lowercase hex)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    start_ns: int | None
    end_ns: int | None
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    resource: Mapping[str, Any] = field(default_factory=dict)


def is_model_call(span: Span) -> bool:
    """A GenAI span that stands for one model call (not an agent, tool or embedding span)."""
    attrs = span.attributes
    if attrs.get("gen_ai.operation.name") in _NOT_MODEL_CALLS:
        return False
    return any(key.startswith("gen_ai.") for key in attrs)


# -- OTLP JSON -------------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    """Decode an OTLP JSON ``AnyValue`` (int64 arrives as a string)."""
    if not isinstance(value, Mapping):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values", []))
    return None


def _attributes(items: Any) -> dict[str, Any]:
    """OTLP ``[{key, value}]`` attribute list → dict; anything else → empty."""
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            try:
                out[item["key"]] = _any_value(item.get("value"))
            except (TypeError, ValueError):
                out[item["key"]] = None
    return out


def _nanos(value: Any) -> int | None:
    """OTLP times are uint64 nanoseconds (strings in JSON); 0 means unset."""
    return None if value in (None, "", 0, "0") else int(value)


def _otlp_json_span(span: Mapping[str, Any], resource: Mapping[str, Any]) -> Span:
    """One OTLP JSON span (hex ids, as the OTLP/JSON encoding specifies)."""
    events = [
        Event(str(e.get("name", "")), _attributes(e.get("attributes")))
        for e in span.get("events") or []
        if isinstance(e, Mapping)
    ]
    return Span(
        str(span.get("traceId") or "").lower(),
        str(span.get("spanId") or "?").lower(),
        str(span["parentSpanId"]).lower() if span.get("parentSpanId") else None,
        _nanos(span.get("startTimeUnixNano")),
        _nanos(span.get("endTimeUnixNano")),
        _attributes(span.get("attributes")),
        events,
        resource,
    )


def otlp_json_items(
    doc: Mapping[str, Any], top: str, scopes: tuple[str, ...], items: str
) -> Iterator[tuple[dict[str, Any], Mapping[str, Any]] | None]:
    """``(resource attributes, item)`` for each item of an OTLP JSON export (spans under
    ``resourceSpans[].scopeSpans[].spans``, log records under ``resourceLogs[]…``); None
    marks a part not in that layout."""
    resources = doc.get(top)
    if not isinstance(resources, list):
        yield None
        return
    for rs in resources:
        if not isinstance(rs, Mapping):
            yield None
            continue
        res = rs.get("resource")
        resource = _attributes(res.get("attributes") if isinstance(res, Mapping) else None)
        found: Any = next((rs[k] for k in scopes if k in rs), [])
        for scope in found if isinstance(found, list) else [None]:
            listed = scope.get(items) if isinstance(scope, Mapping) else None
            if not isinstance(listed, list):
                yield None
                continue
            for item in listed:
                yield (resource, item) if isinstance(item, Mapping) else None


def otlp_json_spans(doc: Mapping[str, Any]) -> Iterator[Span | None]:
    """Every span of an OTLP JSON export; None marks a part not in the OTLP layout."""
    for found in otlp_json_items(
        doc, "resourceSpans", ("scopeSpans", "instrumentationLibrarySpans"), "spans"
    ):
        yield None if found is None else _otlp_json_span(found[1], found[0])


# -- OTLP protobuf ---------------------------------------------------------------------------


def _proto_value(value: Any) -> Any:
    """Decode a protobuf ``AnyValue``."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_proto_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _proto_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None if kind is None else getattr(value, kind)


def _proto_attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _proto_value(kv.value) for kv in items}


def otlp_protobuf_spans(data: bytes) -> Iterator[Span]:
    """Every span of a binary ``ExportTraceServiceRequest`` (``.binpb``, as the SDK's
    OTLP exporters send and the collector's file exporter writes with ``format: proto``).

    Raises:
        ValueError: the bytes are not an OTLP trace export.
    """
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, RecursionError) as exc:
        raise ValueError(f"not an OTLP protobuf trace export ({exc})") from None
    if data and not request.resource_spans:  # protobuf reads most bytes as unknown fields
        raise ValueError("not an OTLP protobuf trace export (no resource spans)")
    if any(  # a logs export parses as spans whose ids are not ids
        len(s.trace_id) != 16 or len(s.span_id) != 8
        for rs in request.resource_spans
        for scope in rs.scope_spans
        for s in scope.spans
    ):
        raise ValueError("not an OTLP protobuf trace export (spans without trace or span ids)")
    for rs in request.resource_spans:
        resource = _proto_attributes(rs.resource.attributes)
        for scope in rs.scope_spans:
            for s in scope.spans:
                events = [Event(e.name, _proto_attributes(e.attributes)) for e in s.events]
                yield Span(
                    s.trace_id.hex(),
                    s.span_id.hex() or "?",
                    s.parent_span_id.hex() or None,
                    s.start_time_unix_nano or None,
                    s.end_time_unix_nano or None,
                    _proto_attributes(s.attributes),
                    events,
                    resource,
                )


# -- ConsoleSpanExporter ---------------------------------------------------------------------


def _hex_id(value: Any) -> str | None:
    """``"0x5b8e…"`` (how ``Span.to_json`` writes ids) → ``"5b8e…"``."""
    if not isinstance(value, str) or not value:
        return None
    return value.removeprefix("0x").lower()


def _iso_nanos(value: Any) -> int | None:
    """An ISO 8601 time as written by ``Span.to_json`` → Unix nanoseconds."""
    if not isinstance(value, str) or not value:
        return None
    when = datetime.fromisoformat(value)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def is_console_span(value: Any) -> bool:
    """Whether a JSON object is one span as the SDK's ``ConsoleSpanExporter`` prints it."""
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("context"), Mapping)
        and "span_id" in value["context"]
        and "start_time" in value
    )


def console_span(value: Mapping[str, Any]) -> Span:
    """One span printed by ``ConsoleSpanExporter`` (``ReadableSpan.to_json``).

    Raises:
        ValueError: a time or id is not in that layout.
    """
    context = value["context"]
    attrs = value.get("attributes")
    resource = (value.get("resource") or {}).get("attributes")
    events = [
        Event(str(e.get("name", "")), dict(e.get("attributes") or {}))
        for e in value.get("events") or []
        if isinstance(e, Mapping)
    ]
    return Span(
        _hex_id(context.get("trace_id")) or "",
        _hex_id(context.get("span_id")) or "?",
        _hex_id(value.get("parent_id")),
        _iso_nanos(value.get("start_time")),
        _iso_nanos(value.get("end_time")),
        dict(attrs) if isinstance(attrs, Mapping) else {},
        events,
        dict(resource) if isinstance(resource, Mapping) else {},
    )


# -- prompt identity -------------------------------------------------------------------------


def _identity(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The promptgov identity attributes of one span or resource, when it names a prompt."""
    if not isinstance(attrs.get(_NAME), str):
        return None
    return {k: attrs[k] for k in _IDENTITY_KEYS if attrs.get(k) is not None}


@dataclass
class IdentityResolver:
    """Finds each model-call span's prompt identity across every span read so far.

    Remembers, for every span, its parent and (when it has one) its identity: a few dozen
    bytes per span, so a trace file's spans can arrive in any order.
    """

    sources: Sequence[IdentitySource] = IDENTITY_SOURCES
    _parents: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _identities: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def see(self, span: Span) -> None:
        """Remember where ``span`` sits in its trace and whether it names a prompt."""
        key = (span.trace_id, span.span_id)
        self._parents[key] = span.parent_id
        ident = _identity(span.attributes)
        if ident is not None and "ancestors" in self.sources:
            self._identities[key] = ident

    def resolve(self, span: Span, *, final: bool) -> dict[str, Any] | None | Literal[False]:
        """The identity attributes of ``span`` by the configured sources; None when it has
        none; False when an ancestor not yet read may still hold it (``final`` settles it)."""
        for source in self.sources:
            if source == "span":
                found = _identity(span.attributes)
            elif source == "resource":
                found = _identity(span.resource)
            else:
                ancestor = self._ancestor_identity(span)
                if ancestor is False and not final:
                    return False
                found = ancestor or None
            if found is not None:
                return found
        return None

    def _ancestor_identity(self, span: Span) -> dict[str, Any] | None | Literal[False]:
        """The nearest ancestor's identity; False when the chain reaches an unread span."""
        parent, seen = span.parent_id, 0
        while parent is not None and seen < 1000:  # a cycle in hostile input stops here
            key = (span.trace_id, parent)
            if key in self._identities:
                return self._identities[key]
            if key not in self._parents:
                return False
            parent, seen = self._parents[key], seen + 1
        return None


# -- span → record fields --------------------------------------------------------------------


def _message_text(message: Any) -> str | None:
    """The text of one chat message: ``content`` as a string or as text parts."""
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else message.get("parts")
    if isinstance(parts, list):
        texts = [
            str(p.get("content", p.get("text", "")))
            for p in parts
            if isinstance(p, Mapping) and p.get("type", "text") == "text"
        ]
        return "".join(texts)
    return None


def _maybe_json(value: Any) -> Any:
    """JSON text decoded, anything else as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _messages_text(value: Any) -> str | None:
    """A list of output messages (``gen_ai.output.messages``, ``gen_ai.completion``) →
    their text; a string that is not such a list is the text itself."""
    decoded = _maybe_json(value)
    if (
        isinstance(decoded, list)
        and decoded
        and all(isinstance(m, Mapping) and ("role" in m or "parts" in m) for m in decoded)
    ):
        return "".join(t for m in decoded if (t := _message_text(m)) is not None)
    return value if isinstance(value, str) else None


def _choice_text(attrs: Mapping[str, Any]) -> str | None:
    """A ``gen_ai.choice`` event: ``{index, finish_reason, message: {content}}``, its body
    as attributes (nested or flattened as ``message.content``) or under ``body``."""
    body = _maybe_json(attrs.get("body", attrs))
    if not isinstance(body, Mapping):
        return None
    message = _maybe_json(body.get("message"))
    if isinstance(message, Mapping):
        return _message_text(message)
    flat = body.get("message.content")
    return flat if isinstance(flat, str) else None


def output_text(attrs: Mapping[str, Any], events: Sequence[Event]) -> str | None:
    """The output text of a model-call span, from whichever convention its producer used."""
    if isinstance(attrs.get("promptgov.output"), str):
        return str(attrs["promptgov.output"])
    for key in ("gen_ai.output.messages", "gen_ai.completion"):
        if attrs.get(key) is not None and (text := _messages_text(attrs[key])) is not None:
            return text
    if isinstance(attrs.get("gen_ai.completion.0.content"), str):  # OpenLLMetry's flat form
        return str(attrs["gen_ai.completion.0.content"])
    choices = [e for e in events if e.name == "gen_ai.choice"]
    choices.sort(key=_choice_index)
    for event in choices:
        if (text := _choice_text(event.attributes)) is not None:
            return text
    for event in events:  # gen_ai.client.inference.operation.details, gen_ai.content.completion
        for key in ("gen_ai.output.messages", "gen_ai.completion"):
            value = event.attributes.get(key)
            if value is not None and (text := _messages_text(value)) is not None:
                return text
    return None


def _choice_index(event: Event) -> int:
    """A choice's ``index``, on the event or (log records) in its body; first when unset."""
    body = _maybe_json(event.attributes.get("body"))
    index = body.get("index") if isinstance(body, Mapping) else event.attributes.get("index")
    return index if isinstance(index, int) else 0


def _finish_reason(attrs: Mapping[str, Any], events: Sequence[Event]) -> Any:
    finish = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(finish, list):
        return finish[0] if finish else None
    if finish is not None:
        return finish
    for event in events:
        if event.name == "gen_ai.choice":
            body = _maybe_json(event.attributes.get("body", event.attributes))
            if isinstance(body, Mapping) and body.get("finish_reason") is not None:
                return body["finish_reason"]
    return None


def span_record(span: Span, identity: Mapping[str, Any]) -> dict[str, Any]:
    """Map one model-call span and its prompt identity onto record fields (validated later).

    Raises:
        ValueError: ``promptgov.prompt.variables`` is not JSON.
    """
    attrs, start, end = span.attributes, span.start_ns, span.end_ns
    variables = identity.get("promptgov.prompt.variables")
    if isinstance(variables, str):
        variables = json.loads(variables)
    resource = span.resource
    data = {
        "time": datetime.fromtimestamp(start / 1e9, UTC) if start else None,
        "prompt": identity.get(_NAME),
        "version": identity.get("promptgov.prompt.version"),
        "sha256": identity.get("promptgov.prompt.sha256"),
        "env": attrs.get("promptgov.env")
        or identity.get("promptgov.env")
        or resource.get("deployment.environment.name")
        or resource.get("deployment.environment"),
        "id": span.span_id,
        "model_requested": attrs.get("gen_ai.request.model"),
        "model_returned": attrs.get("gen_ai.response.model"),
        "variables": variables,
        "variables_sha256": identity.get("promptgov.prompt.variables_sha256"),
        "output": output_text(attrs, span.events),
        "latency_ms": (end - start) / 1e6 if start and end else None,
        "tokens_in": attrs.get(
            "gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens")
        ),
        "tokens_out": attrs.get(
            "gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens")
        ),
        "cost": attrs.get("promptgov.cost"),
        "finish_reason": _finish_reason(attrs, span.events),
        "feedback_score": attrs.get("promptgov.feedback_score"),
    }
    return {k: v for k, v in data.items() if v is not None}
