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
  A truncated array still yields every complete record before the cut;
* JSON objects one after another — what the OpenTelemetry SDK's ``ConsoleSpanExporter``
  prints (one pretty-printed object per span) or concatenated records;
* binary — an OTLP protobuf ``ExportTraceServiceRequest``, alone or as the collector's
  file exporter writes them (each prefixed by its 4-byte big-endian length).

Spans are mapped onto records by :mod:`promptgov.monitor.spans`, which also finds the
prompt identity of a model call on an ancestor span or the resource.

OpenTelemetry *log records* (:mod:`promptgov.monitor.otel_logs`: OTLP JSON or protobuf logs,
``ConsoleLogExporter`` output) are read from the same paths: GenAI instrumentations send a
call's output as log records in the span's context. Files holding log records are read
first and their ``gen_ai.*`` records kept by (trace id, span id), so each model-call span
finds its content whichever file and order it came in; records that join no model-call span
are counted (``unjoined_log_records``), never dropped silently.

Files ending in ``.gz`` are decompressed on the fly.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

from pydantic import ValidationError

from promptgov.errors import InputError, InvalidFile, NotFound
from promptgov.monitor.otel_logs import (
    LogEvent,
    console_log,
    is_console_log,
    is_genai_event,
    otlp_json_logs,
    otlp_protobuf_logs,
)
from promptgov.monitor.records import ProductionRecord
from promptgov.monitor.spans import (
    IDENTITY_SOURCES,
    Event,
    IdentityResolver,
    IdentitySource,
    Span,
    console_span,
    is_console_span,
    is_model_call,
    otlp_json_spans,
    otlp_protobuf_spans,
    span_record,
)

__all__ = ["MAX_MALFORMED_DETAILS", "FileSummary", "IngestReport", "Malformed", "read_records"]

#: Malformed records listed one by one; beyond this only the count grows (memory bound).
MAX_MALFORMED_DETAILS = 1000
#: Distinct "other prompt@version" keys counted one by one; the rest are pooled.
_MAX_OTHER_KEYS = 1000
_OTHER_KEY = "(other prompts)"
_SNIFF_BYTES = 1 << 12
#: Whitespace between concatenated JSON values, skipped without copying the rest of the text.
_SPACE = re.compile(r"\s*")
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
    #: OpenTelemetry spans that are not a GenAI model call (HTTP, DB, agent spans…).
    ignored_spans: int = 0
    #: Model-call spans with no prompt identity on themselves, an ancestor or the resource.
    unidentified_spans: int = 0
    #: OpenTelemetry log records read, and those that are not GenAI events (app logs).
    log_records: int = 0
    ignored_log_records: int = 0
    #: GenAI log records whose span is not a model-call span read here (or that name none).
    unjoined_log_records: int = 0
    #: Model-call spans with no output text on themselves or in a joined log record.
    spans_without_output: int = 0
    #: Where a span's prompt identity is looked for, in order (the drift policy's
    #: ``identity_from``).
    identity_from: tuple[IdentitySource, ...] = IDENTITY_SOURCES
    #: Well-formed records read, matching or not.
    read: int = 0
    #: Records yielded: well-formed and matching the filters.
    accepted: int = 0
    files: list[FileSummary] = field(default_factory=list)
    _started: bool = field(default=False, repr=False)
    _resolver: IdentityResolver = field(default_factory=IdentityResolver, repr=False)
    #: Model-call spans whose identity may sit on an ancestor not read yet.
    _pending: list[tuple[Span, FileSummary, int]] = field(default_factory=list, repr=False)
    #: GenAI log records by (trace id, span id), until their span takes them.
    _log_events: dict[tuple[str, str], list[Event]] = field(default_factory=dict, repr=False)
    #: While the files holding log records are read, every model-call span waits.
    _holding: bool = field(default=False, repr=False)

    def __iter__(self) -> Iterator[ProductionRecord]:
        """Stream matching records from every file, log-record files first; a second
        iteration is refused."""
        if self._started:
            raise InputError("these log records were already read; call read_records() again")
        self._started = True
        self._resolver = IdentityResolver(self.identity_from)
        with_logs = [p for p in self.paths if _holds_log_records(p)]
        self._holding = True
        for path in with_logs:
            yield from self._read_file(path)
        self._holding = False
        yield from self._settle(final=False)
        for path in self.paths:
            if path not in with_logs:
                yield from self._read_file(path)
                yield from self._settle(final=False)
        yield from self._settle(final=True)
        self.unjoined_log_records += sum(len(v) for v in self._log_events.values())
        self._log_events.clear()

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
            "unidentified_spans": self.unidentified_spans,
            "log_records": self.log_records,
            "ignored_log_records": self.ignored_log_records,
            "unjoined_log_records": self.unjoined_log_records,
            "spans_without_output": self.spans_without_output,
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[str]:
        """What was read but not used for a reason the user can fix (shown with results)."""
        out = []
        if self.unjoined_log_records:
            out.append(
                f"{self.unjoined_log_records} GenAI log records belong to no model-call span "
                "read: pass the span files exported with them (--logs)"
            )
        if self.spans_without_output:
            out.append(
                f"{self.spans_without_output} model-call spans carry no output text, so "
                "output checks skip them: pass the log records exported with them (--logs), "
                "or enable content capture in the instrumentation"
            )
        return out

    def unreadable(self) -> str | None:
        """Why nothing in the logs could be used although they were not empty, else None.

        Unreadable input is never the same answer as "no data yet": a caller turns this
        into an error rather than an inconclusive check.
        """
        if self.read or not (self.malformed_count or self.ignored_spans or self.log_records):
            return None
        names = ", ".join(f.path for f in self.files[:3]) + (
            f" and {len(self.files) - 3} more" if len(self.files) > 3 else ""
        )
        if self.malformed:
            m = self.malformed[0]
            why = f"{self.malformed_count} unreadable (first: {m.file} line {m.line}: {m.reason})"
        elif self.ignored_spans:
            why = f"{self.ignored_spans} spans, none a GenAI model call"
        else:
            why = (
                f"{self.log_records} log records ({self.unjoined_log_records} GenAI) and no "
                "model-call span they belong to; pass the span files too"
            )
        return (
            f"no production record could be read from {names}: {why}. Export GenAI spans "
            "or promptgov records (docs/monitoring.md lists the formats read)."
        )

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
            raw = fh.read(_SNIFF_BYTES)
            head = raw.lstrip(_BLANK)
            if not head:
                return
            fh.seek(0)
            if _binary(raw):
                summary.format = "otlp-protobuf"
                yield from self._read_protobuf(fh.read(), summary)
            elif head[:1] == b"[" or (head[:1] == b"{" and not _first_line_complete(fh)):
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
        if isinstance(value, dict) and (
            any(k in value for k in ("resourceSpans", "resourceLogs", "records"))
            or is_console_span(value)
            or is_console_log(value)
        ):
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
            if exc.msg == "Extra data":
                summary.format = "json-stream"
                yield from self._read_stream(text, start, summary)
                return
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

    def _read_stream(
        self, text: str, start: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """JSON values one after another (``ConsoleSpanExporter`` prints one per span)."""
        decoder = json.JSONDecoder()
        pos, line, n = start, 1 + text.count("\n", 0, start), len(text)
        while pos < n:
            try:
                value, end = decoder.raw_decode(text, pos)
            except (json.JSONDecodeError, RecursionError) as exc:
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                at = exc.lineno if isinstance(exc, json.JSONDecodeError) else line
                self._bad(summary, at, f"not valid JSON ({why}); the rest is unread")
                return
            yield from self._read_value(value, line, summary)
            space = _SPACE.match(text, end)  # \s* always matches
            nxt = space.end() if space else end
            line += text.count("\n", pos, nxt)
            pos = nxt

    def _read_protobuf(self, data: bytes, summary: FileSummary) -> Iterator[ProductionRecord]:
        """An OTLP protobuf export, or the collector's length-prefixed sequence of them."""
        frames = [data] if data[:1] != b"\x00" else list(_length_prefixed(data))
        for i, frame in enumerate(frames, 1):
            if frame is None:
                self._bad(summary, i, "OTLP protobuf: a length prefix runs past the end")
                return
            try:
                spans = list(otlp_protobuf_spans(frame))
            except ValueError as exc:
                try:
                    logs = list(otlp_protobuf_logs(frame))
                except ValueError:
                    self._bad(
                        summary,
                        i,
                        f"{exc}: the file is neither JSON, JSONL, console span output nor "
                        "OTLP protobuf spans or logs",
                    )
                    continue
                summary.format = "otlp-protobuf-logs"
                yield from self._read_logs(logs, i, summary)
                continue
            yield from self._read_spans(spans, i, summary)

    def _read_value(
        self, value: Any, line: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """A decoded JSON object: a ``records`` container, an OTLP export, a console span or
        one record."""
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from self._read_one(item, line, summary, where=f"[{i}] ")
        elif isinstance(value, dict) and "resourceSpans" in value:
            yield from self._read_spans(otlp_json_spans(value), line, summary)
        elif isinstance(value, dict) and "resourceLogs" in value:
            yield from self._read_logs(otlp_json_logs(value), line, summary)
        elif is_console_log(value):
            yield from self._read_logs([console_log(value)], line, summary)
        elif is_console_span(value):
            try:
                span = console_span(value)
            except (TypeError, ValueError, AttributeError) as exc:
                self._bad(summary, line, f"console span: {exc}")
                return
            yield from self._read_spans([span], line, summary)
        elif isinstance(value, dict) and "records" in value:
            items = value["records"]
            if not isinstance(items, list):
                self._bad(summary, line, "records: expected a list of records")
                return
            for i, item in enumerate(items):
                yield from self._read_one(item, line, summary, where=f"records[{i}] ")
        else:
            yield from self._read_one(value, line, summary, where="")

    def _read_spans(
        self, spans: Iterable[Span | None], line: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """Model-call spans become records once their prompt identity is known."""
        for span in spans:
            if span is None:
                self._bad(summary, line, "resourceSpans: not the OTLP JSON layout")
                continue
            self._resolver.see(span)
            if not is_model_call(span):
                self.ignored_spans += 1
                continue
            identity = self._resolver.resolve(span, final=False)
            if identity is False or self._holding:
                self._pending.append((span, summary, line))
                continue
            yield from self._span_to_record(span, identity, summary, line)

    def _read_logs(
        self, logs: Iterable[LogEvent | None], line: int, summary: FileSummary
    ) -> Iterator[ProductionRecord]:
        """Keep each GenAI log record for its span; the rest are counted, not used.

        A generator like the other readers (it yields nothing) so every layout dispatches
        the same way."""
        for log in logs:
            if log is None:
                self._bad(summary, line, "resourceLogs: not the OTLP JSON layout")
                continue
            self.log_records += 1
            if not is_genai_event(log.event):
                self.ignored_log_records += 1
            elif log.key is None:
                self.unjoined_log_records += 1
            else:
                self._log_events.setdefault(log.key, []).append(log.event)
        yield from ()

    def _settle(self, *, final: bool) -> Iterator[ProductionRecord]:
        """Records of held spans whose ancestors have been read (all of them when final)."""
        if self._holding:
            return
        pending, self._pending = self._pending, []
        for span, summary, line in pending:
            identity = self._resolver.resolve(span, final=final)
            if identity is False:
                self._pending.append((span, summary, line))
                continue
            yield from self._span_to_record(span, identity, summary, line)

    def _span_to_record(
        self, span: Span, identity: Mapping[str, Any] | None, summary: FileSummary, line: int
    ) -> Iterator[ProductionRecord]:
        """Validate one model-call span's record; a span naming no prompt is unreadable."""
        where = f"span {span.span_id}: "
        if identity is None:
            self.unidentified_spans += 1
            places = {"span": "the span", "ancestors": "a parent span", "resource": "the resource"}
            where_set = [places[s] for s in self.identity_from]
            self._bad(
                summary,
                line,
                f"{where}no prompt identity: set promptgov.prompt.name and "
                "promptgov.prompt.version on "
                + (", ".join(where_set[:-1]) + " or " if len(where_set) > 1 else "")
                + where_set[-1],
            )
            return
        joined = self._log_events.pop((span.trace_id, span.span_id), None)
        if joined:
            span = replace(span, events=[*span.events, *joined])
        try:
            data = span_record(span, identity)
        except (TypeError, ValueError, OverflowError, OSError, RecursionError) as exc:
            self._bad(summary, line, f"{where}{exc}")
            return
        if "output" not in data:
            self.spans_without_output += 1
        yield from self._read_one(data, line, summary, where=where)

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


def _binary(raw: bytes) -> bool:
    """Bytes no text log starts with (NUL or other control bytes): protobuf, not JSON."""
    return any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) for b in raw[:256])


def _length_prefixed(data: bytes) -> Iterator[bytes | None]:
    """Frames of ``<uint32 big-endian length><message>``; None marks a cut frame."""
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 4 + size > len(data):
            yield None
            return
        yield data[pos + 4 : pos + 4 + size]
        pos += 4 + size


#: What the head of a file holding OpenTelemetry log records contains.
_LOG_MARKERS = (b'"resourceLogs"', b'"observed_timestamp"')


def _holds_log_records(path: Path) -> bool:
    """Whether ``path`` holds OpenTelemetry log records (read first, for the join): OTLP
    JSON logs or console log output near its start, or protobuf that is a logs export."""
    try:
        with _open(path) as fh:
            raw = fh.read(_SNIFF_BYTES)
            if not _binary(raw):
                return any(marker in raw for marker in _LOG_MARKERS)
            data = raw + fh.read()
    except (OSError, EOFError, zlib.error):
        return False  # the read proper reports it
    frame = data if data[:1] != b"\x00" else next(iter(_length_prefixed(data)), None)
    if not frame:
        return False
    try:
        next(otlp_protobuf_spans(frame), None)
    except ValueError:
        try:
            next(otlp_protobuf_logs(frame), None)
        except ValueError:
            return False
        return True
    return False


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


def read_records(
    paths: Iterable[str | Path] | str | Path,
    *,
    prompt: str | None = None,
    version: str | None = None,
    sha256: str | None = None,
    env: str | None = None,
    identity_from: tuple[IdentitySource, ...] = IDENTITY_SOURCES,
) -> IngestReport:
    """Prepare to stream the records of ``prompt`` (and ``version``/``sha256``/``env``) from logs.

    Nothing is read until the report is iterated. Records without an ``env`` are kept when
    an ``env`` filter is given (many applications do not log it). ``identity_from`` says
    where a model-call span's prompt identity is looked for, in order.

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
    return IngestReport(
        resolved,
        prompt=prompt,
        version=version,
        sha256=sha256,
        env=env,
        identity_from=tuple(identity_from),
    )
