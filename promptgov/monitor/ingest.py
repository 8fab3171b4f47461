"""Reading production call records from JSON, JSONL and OpenTelemetry GenAI span exports.

:func:`read_records` returns an :class:`IngestReport` that is lazy: iterating it reads each
file once, front to back, and yields the matching :class:`ProductionRecord` objects, so a
JSONL file of any size streams in constant memory. Its counters (malformed records with file
and line, records of other prompts or versions, ignored non-GenAI spans) are complete once
the iteration ends. Nothing malformed aborts the read, and nothing is dropped silently.

The format of each file is sniffed, not taken from its name:

* JSONL — one JSON value per line: a record, ``{"records": [...]}``, or an OTLP export
  (``{"resourceSpans": [...]}``, as the OpenTelemetry collector's file exporter writes);
* a JSON document — an array of records, ``{"records": [...]}`` or an OTLP JSON export.
  A truncated array still yields every complete record before the cut.

Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

from pydantic import ValidationError

from promptgov.errors import InputError, InvalidFile, NotFound
from promptgov.monitor.records import ProductionRecord

__all__ = ["MAX_MALFORMED_DETAILS", "FileSummary", "IngestReport", "Malformed", "read_records"]

#: Malformed records listed one by one; beyond this only the count grows (memory bound).
MAX_MALFORMED_DETAILS = 1000
#: Distinct "other prompt@version" keys counted one by one; the rest are pooled.
_MAX_OTHER_KEYS = 1000
_OTHER_KEY = "(other prompts)"
_SNIFF_BYTES = 1 << 12
_BLANK = b"\xef\xbb\xbf \t\r\n"
# The bound core validator: the model classmethod adds ~1 µs of Python per line.
_validate_json = ProductionRecord.__pydantic_validator__.validate_json
_validate = ProductionRecord.model_validate


class Malformed(NamedTuple):
    """One record promptgov could not read, and why."""

    file: str
    line: int
    reason: str


@dataclass
class FileSummary:
    """What one file contributed."""

    path: str
    format: str
    records: int = 0
    malformed: int = 0


def _reason(exc: ValidationError) -> str:
    """The first validation problem in one line, e.g. ``latency_ms: Input should be ≥ 0``."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})"
    loc = ".".join(str(p) for p in first["loc"]) or "record"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{loc}: {first['msg']}{more}"


@dataclass
class IngestReport:
    """Records read from log files, with an honest account of what was not used.

    Iterate it (once) to stream the matching records; the counters are final afterwards.
    """

    paths: tuple[Path, ...]
    prompt: str | None = None
    version: str | None = None
    sha256: str | None = None
    env: str | None = None
    #: The first :data:`MAX_MALFORMED_DETAILS` unreadable records as (file, line, reason).
    malformed: list[Malformed] = field(default_factory=list)
    #: Every unreadable record, including those past the detail limit.
    malformed_count: int = 0
    #: Well-formed records left out because they belong elsewhere, keyed "prompt@version".
    skipped_other: Counter[str] = field(default_factory=Counter)
    #: OpenTelemetry spans without any ``gen_ai.*`` attribute (HTTP, DB spans…).
    ignored_spans: int = 0
    #: Well-formed records read, matching or not.
    read: int = 0
    #: Records yielded: well-formed and matching the filters.
    accepted: int = 0
    files: list[FileSummary] = field(default_factory=list)
    _started: bool = field(default=False, repr=False)

    def __iter__(self) -> Iterator[ProductionRecord]:
        """Stream matching records from every file, in order; a second iteration is refused."""
        if self._started:
            raise InputError("these log records were already read; call read_records() again")
        self._started = True
        for path in self.paths:
            yield from self._read_file(path)

    @property
    def records(self) -> Iterator[ProductionRecord]:
        """The same stream as iterating the report."""
        return iter(self)

    @property
    def skipped_count(self) -> int:
        """Records of other prompts, versions, hashes or environments."""
        return sum(self.skipped_other.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for reports and ``--json`` output."""
        return {
            "files": [vars(f) for f in self.files],
            "read": self.read,
            "accepted": self.accepted,
            "malformed_count": self.malformed_count,
            "malformed": [m._asdict() for m in self.malformed],
            "skipped_other": dict(self.skipped_other),
            "ignored_spans": self.ignored_spans,
        }

    # -- one file ---------------------------------------------------------------------------

    def _read_file(self, path: Path) -> Iterator[ProductionRecord]:
        """Stream the records of ``path``; a damaged or unreadable file is one clear error."""
        try:
            yield from self._stream_file(path)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise InvalidFile(
                f"{path} is not a readable gzip file ({exc}); re-export it, or pass the "
                "uncompressed log."
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc

    def _stream_file(self, path: Path) -> Iterator[ProductionRecord]:
        """Sniff the format of ``path`` and stream its records."""
        summary = FileSummary(str(path), "empty")
        self.files.append(summary)
        with _open(path) as fh:
            head = fh.read(_SNIFF_BYTES).lstrip(_BLANK)
            if not head:
                return
            fh.seek(0)
            if head[:1] == b"[" or (head[:1] == b"{" and not _first_line_complete(fh)):
                summary.format = "json"
                fh.seek(0)
                yield from self._read_document(fh.read(), summary)
            else:
                summary.format = "jsonl"
                fh.seek(0)
                yield from self._read_lines(fh, summary)

    def _read_lines(self, fh: IO[bytes], summary: FileSummary) -> Iterator[ProductionRecord]:
        """JSONL: validate each line straight from bytes (parse + check in one pass)."""
        for lineno, line in enumerate(fh, 1):
            try:
                record = _validate_json(line)
            except ValidationError as exc:
                if not line.strip():
                    continue
                yield from self._read_line_container(line, lineno, exc, summary)
                continue
            summary.records += 1
            if self._keep(record):
                yield record

    def _read_line_container(
        self, line: bytes, lineno: int, exc: ValidationError, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """A JSONL line that is not a record may still hold records (OTLP, ``records``)."""
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            self._bad(summary, lineno, _reason(exc))
            return
        if isinstance(value, dict) and ("resourceSpans" in value or "records" in value):
            yield from self._read_value(value, lineno, summary)
        else:
            self._bad(summary, lineno, _reason(exc))

    def _read_document(self, data: bytes, summary: FileSummary) -> Iterator[ProductionRecord]:
        """A whole JSON document: an array (element by element, so a cut keeps the rest) or
        an object."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            self._bad(summary, line, f"not UTF-8 text (byte {exc.start})")
            return
        start = len(text) - len(text.lstrip())
        if text[start] == "[":
            yield from self._read_array(text, start, summary)
            return
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            self._bad(summary, exc.lineno, f"not valid JSON ({exc.msg})")
            return
        except RecursionError:
            self._bad(summary, 1, "JSON nested too deeply")
            return
        yield from self._read_value(value, text.count("\n", 0, start) + 1, summary)

    def _read_array(
        self, text: str, start: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """Decode array elements one at a time, tracking line numbers."""
        decoder = json.JSONDecoder()
        pos, line, n = start + 1, 1 + text.count("\n", 0, start), len(text)

        def skip(p: int) -> int:
            while p < n and text[p] in " \t\r\n":
                p += 1
            return p

        while True:
            nxt = skip(pos)
            line += text.count("\n", pos, nxt)
            pos = nxt
            if pos < n and text[pos] == "]":
                return
            try:
                value, end = decoder.raw_decode(text, pos)
            except (json.JSONDecodeError, RecursionError) as exc:
                if isinstance(exc, RecursionError):
                    self._bad(summary, line, "JSON nested too deeply; the rest is unread")
                    return
                self._bad(summary, exc.lineno, f"not valid JSON ({exc.msg}); the rest is unread")
                return
            yield from self._read_one(value, line, summary, where="")
            line += text.count("\n", pos, end)
            pos = skip(end)
            line += text.count("\n", end, pos)
            if pos < n and text[pos] == ",":
                pos += 1
            elif pos < n and text[pos] == "]":
                return
            else:
                self._bad(summary, line, "not valid JSON (expected ',' or ']'); the rest is unread")
                return

    def _read_value(
        self, value: Any, line: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """A decoded JSON object: a ``records`` container, an OTLP export or one record."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from self._read_one(item, line, summary, where=f"[{i}] ")
        elif isinstance(value, dict) and "resourceSpans" in value:
            yield from self._read_otlp(value, line, summary)
        elif isinstance(value, dict) and "records" in value:
            items = value["records"]
            if not isinstance(items, list):
                self._bad(summary, line, "records: expected a list of records")
                return
            for i, item in enumerate(items):
                yield from self._read_one(item, line, summary, where=f"records[{i}] ")
        else:
            yield from self._read_one(value, line, summary, where="")

    def _read_otlp(
        self, doc: Mapping[str, Any], line: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """OTLP JSON: every span with ``gen_ai.*`` attributes becomes a record."""
        for span, resource in _otlp_spans(doc):
            if span is None:
                self._bad(summary, line, "resourceSpans: not the OTLP JSON layout")
                continue
            attrs = _attributes(span.get("attributes"))
            if not any(key.startswith("gen_ai.") for key in attrs):
                self.ignored_spans += 1
                continue
            span_id = span.get("spanId") or "?"
            try:
                data = _span_record(span, attrs, resource)
            except (TypeError, ValueError, OverflowError, OSError, RecursionError) as exc:
                self._bad(summary, line, f"span {span_id}: {exc}")
                continue
            yield from self._read_one(data, line, summary, where=f"span {span_id}: ")

    def _read_one(
        self, value: Any, line: int, summary: FileSummary, *, where: str
    ) -> Iterator[ProductionRecord]:
        """Validate one decoded record and apply the filters."""
        try:
            record = _validate(value)
        except ValidationError as exc:
            self._bad(summary, line, where + _reason(exc))
            return
        summary.records += 1
        if self._keep(record):
            yield record

    # -- bookkeeping -------------------------------------------------------------------------

    def _keep(self, record: ProductionRecord) -> bool:
        """Count the record and say whether it matches the prompt/version/hash/env filters."""
        self.read += 1
        if (
            (self.prompt is None or record.prompt == self.prompt)
            and (self.version is None or record.version == self.version)
            and (self.sha256 is None or record.sha256 == self.sha256)
            and (self.env is None or record.env is None or record.env == self.env)
        ):
            self.accepted += 1
            return True
        key = f"{record.prompt}@{record.version}"
        if self.sha256 is not None and record.sha256 != self.sha256:
            key += f" sha256={(record.sha256 or 'none')[:12]}"
        if self.env is not None and record.env not in (None, self.env):
            key += f" env={record.env}"
        if key not in self.skipped_other and len(self.skipped_other) >= _MAX_OTHER_KEYS:
            key = _OTHER_KEY
        self.skipped_other[key] += 1
        return False

    def _bad(self, summary: FileSummary, line: int, reason: str) -> None:
        """Count one malformed record; keep its details while under the limit."""
        summary.malformed += 1
        self.malformed_count += 1
        if len(self.malformed) < MAX_MALFORMED_DETAILS:
            self.malformed.append(Malformed(summary.path, line, reason[:300]))


def _open(path: Path) -> IO[bytes]:
    """Open a log file for binary reading, decompressing ``.gz``."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _first_line_complete(fh: IO[bytes]) -> bool:
    """True when the first non-blank line parses as JSON alone: the file is JSONL."""
    for line in fh:
        if line.strip(_BLANK):
            try:
                json.loads(line)
            except (ValueError, RecursionError):
                return False
            return True
    return False


# -- OpenTelemetry -------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    """Decode an OTLP ``AnyValue`` (int64 arrives as a string in OTLP JSON)."""
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


def _otlp_spans(
    doc: Mapping[str, Any],
) -> Iterator[tuple[Mapping[str, Any] | None, dict[str, Any]]]:
    """(span, resource attributes) for every span; (None, {}) marks a broken container."""
    resource_spans = doc.get("resourceSpans")
    if not isinstance(resource_spans, list):
        yield None, {}
        return
    for rs in resource_spans:
        if not isinstance(rs, Mapping):
            yield None, {}
            continue
        resource = _attributes((rs.get("resource") or {}).get("attributes"))
        scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", []))
        for scope in scopes if isinstance(scopes, list) else [None]:
            spans = scope.get("spans") if isinstance(scope, Mapping) else None
            if not isinstance(spans, list):
                yield None, {}
                continue
            for span in spans:
                yield (span if isinstance(span, Mapping) else None), resource


def _output_text(attrs: Mapping[str, Any], span: Mapping[str, Any]) -> str | None:
    """The output text of a GenAI span, from whichever convention the exporter used."""
    if isinstance(attrs.get("promptgov.output"), str):
        return str(attrs["promptgov.output"])
    messages = attrs.get("gen_ai.output.messages")
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return messages
    if isinstance(messages, list):
        texts = [
            str(part.get("content", ""))
            for msg in messages
            if isinstance(msg, Mapping)
            for part in (msg.get("parts") or [])
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        ]
        return "".join(texts)
    if isinstance(attrs.get("gen_ai.completion"), str):
        return str(attrs["gen_ai.completion"])
    for event in span.get("events") or []:
        if isinstance(event, Mapping):
            completion = _attributes(event.get("attributes")).get("gen_ai.completion")
            if isinstance(completion, str):
                return completion
    return None


def _unix_nano(value: Any) -> int | None:
    """OTLP times are uint64 nanoseconds, sent as strings in JSON."""
    return None if value in (None, "", 0, "0") else int(value)


def _span_record(
    span: Mapping[str, Any], attrs: Mapping[str, Any], resource: Mapping[str, Any]
) -> dict[str, Any]:
    """Map one GenAI span onto the record fields (validation happens afterwards)."""
    start, end = _unix_nano(span.get("startTimeUnixNano")), _unix_nano(span.get("endTimeUnixNano"))
    finish = attrs.get("gen_ai.response.finish_reasons")
    variables = attrs.get("promptgov.prompt.variables")
    if isinstance(variables, str):
        variables = json.loads(variables)
    data = {
        "time": datetime.fromtimestamp(start / 1e9, UTC) if start else None,
        "prompt": attrs.get("promptgov.prompt.name"),
        "version": attrs.get("promptgov.prompt.version"),
        "sha256": attrs.get("promptgov.prompt.sha256"),
        "env": attrs.get("promptgov.env")
        or resource.get("deployment.environment.name")
        or resource.get("deployment.environment"),
        "id": span.get("spanId"),
        "model_requested": attrs.get("gen_ai.request.model"),
        "model_returned": attrs.get("gen_ai.response.model"),
        "variables": variables,
        "variables_sha256": attrs.get("promptgov.prompt.variables_sha256"),
        "output": _output_text(attrs, span),
        "latency_ms": (end - start) / 1e6 if start and end else None,
        "tokens_in": attrs.get(
            "gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens")
        ),
        "tokens_out": attrs.get(
            "gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens")
        ),
        "cost": attrs.get("promptgov.cost"),
        "finish_reason": finish[0] if isinstance(finish, list) and finish else finish,
        "feedback_score": attrs.get("promptgov.feedback_score"),
    }
    return {k: v for k, v in data.items() if v is not None}


def read_records(
    paths: Iterable[str | Path] | str | Path,
    *,
    prompt: str | None = None,
    version: str | None = None,
    sha256: str | None = None,
    env: str | None = None,
) -> IngestReport:
    """Prepare to stream the records of ``prompt`` (and ``version``/``sha256``/``env``) from logs.

    Nothing is read until the report is iterated. Records without an ``env`` are kept when
    an ``env`` filter is given (many applications do not log it).

    Raises:
        NotFound: a path does not exist.
        InputError: a path is a directory, not a log file.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    resolved = tuple(Path(p) for p in paths)
    for path in resolved:
        if path.is_dir():
            raise InputError(
                f"{path} is a directory: pass the log files in it (e.g. {path}/*.jsonl)"
            )
        if not path.is_file():
            raise NotFound(
                f"log file {path} does not exist: check the path.", cli_hint="See --logs."
            )
    return IngestReport(resolved, prompt=prompt, version=version, sha256=sha256, env=env)
