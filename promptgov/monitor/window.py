"""Time windows and the constant-memory accumulator that summarises the records inside one.

:class:`WindowStats` sees each record once and keeps, whatever the number of records:

* exact counts — records, outputs, refusals, valid-JSON outputs, finish reasons, returned
  model ids (distinct values capped, the tail pooled);
* exact sums per numeric feature, so mean ratios are exact;
* a uniform random sample (reservoir, Li's Algorithm L) of at most ``sample_size`` rows of the
  numeric features, stored column-wise in ``array('d')`` (8 bytes a value, NaN = missing),
  for the distribution tests; a uniform subsample keeps KS and Mann–Whitney valid;
* optionally a uniform sample of at most ``text_sample_size`` output texts, for embeddings.

No record and no text beyond those samples is held, so a million records cost what a
hundred thousand do.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from promptgov.monitor.features import is_json, is_refusal
from promptgov.monitor.policy import format_duration, parse_duration
from promptgov.monitor.records import ProductionRecord

__all__ = ["FEATURES", "TimeWindow", "WindowStats", "default_windows"]

#: Numeric features sampled per record, in column order.
FEATURES = ("output_chars", "tokens_out", "tokens_in", "latency_ms", "cost")
_MAX_CATEGORIES = 200
_OTHER = "(other)"
_NAN = math.nan
_JSON_START = frozenset("{[` \t\r\n")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open time interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a timezone (use datetime.now(UTC))")

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when < self.end

    @property
    def length(self) -> timedelta:
        """``end - start`` (zero or negative means the window is empty)."""
        return self.end - self.start

    @classmethod
    def ending(cls, end: datetime, length: str | timedelta) -> TimeWindow:
        """The window of ``length`` (``"24h"``) that ends at ``end``."""
        return cls(end - parse_duration(length), end)

    def to_dict(self) -> dict[str, str]:
        """ISO times and the length as ``1d12h``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "length": format_duration(self.length),
        }


def default_windows(
    promoted_at: datetime,
    now: datetime,
    *,
    reference: str | timedelta = "3d",
    recent: str | timedelta = "24h",
) -> tuple[TimeWindow, TimeWindow]:
    """Reference = the first ``reference`` after promotion; recent = the last ``recent``.

    The reference is cut where the recent window starts so the two never share records
    (a version promoted yesterday has a short or empty reference, and says so).
    """
    recent_window = TimeWindow.ending(now, recent)
    ref_end = min(promoted_at + parse_duration(reference), recent_window.start)
    return TimeWindow(promoted_at, max(ref_end, promoted_at)), recent_window


class _Reservoir:
    """Slot decisions of Li's Algorithm L: which items of a stream to keep, uniformly.

    The caller keeps the first ``size`` items, then asks :meth:`replace` only for the item
    whose index equals ``next`` — every other item is skipped without a random draw.
    """

    __slots__ = ("size", "next", "_w", "_rng")

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self._rng = rng
        self._w = math.exp(math.log(rng.random() or 1e-300) / size)
        self.next = size + self._skip()

    def _skip(self) -> int:
        """Items to pass over before the next one kept (geometric with parameter ``w``)."""
        w = min(self._w, 1.0 - 2**-53)  # w rounds to 1.0 only for astronomically rare draws
        return int(math.log(self._rng.random() or 1e-300) / math.log1p(-w))

    def replace(self, index: int) -> int:
        """The slot item ``index`` (== ``next``) overwrites; moves ``next`` on."""
        slot = self._rng.randrange(self.size)
        self._w *= math.exp(math.log(self._rng.random() or 1e-300) / self.size)
        self.next = index + 1 + self._skip()
        return slot


class WindowStats:
    """Everything the drift checks need from one window, accumulated one record at a time."""

    def __init__(self, *, sample_size: int = 20_000, text_sample_size: int = 0, seed: int = 0):
        rng = random.Random(seed)
        self.n = 0
        self.outputs = 0
        self.refusals = 0
        self.json_valid = 0
        self.finish_reasons: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self._first = _LATEST
        self._last = _EARLIEST
        self.sums = [0.0] * len(FEATURES)
        self.counts = [0] * len(FEATURES)
        self._columns = [array("d") for _ in FEATURES]
        self._rows = _Reservoir(sample_size, rng)
        self.sample_size = sample_size
        self._texts: list[str] = []
        self._text_rows = _Reservoir(text_sample_size, rng) if text_sample_size else None

    def add(self, record: ProductionRecord) -> None:
        """Fold one record into the window (O(1) time and memory).

        Unrolled by hand: this runs once per log line, and a million lines must take seconds.
        """
        index = self.n
        self.n = index + 1
        when = record.time
        if when < self._first:
            self._first = when
        if when > self._last:
            self._last = when
        output = record.output
        finish = record.finish_reason
        if is_refusal(output, finish):
            self.refusals += 1
        chars: int | None = None
        if output is not None:
            chars = len(output)
            self.outputs += 1
            head = output[:1]
            if (head in _JSON_START or head.isspace()) and is_json(output):
                self.json_valid += 1
            texts = self._text_rows
            if texts is not None:
                i = self.outputs - 1
                if i < texts.size:
                    self._texts.append(output)
                elif i == texts.next:
                    self._texts[texts.replace(i)] = output
        if finish is not None:
            _count(self.finish_reasons, finish)
        model = record.model_returned
        if model is not None:
            _count(self.models, model)
        t_out, t_in, latency, cost = (
            record.tokens_out,
            record.tokens_in,
            record.latency_ms,
            record.cost,
        )
        sums, counts = self.sums, self.counts
        if chars is not None:
            sums[0] += chars
            counts[0] += 1
        if t_out is not None:
            sums[1] += t_out
            counts[1] += 1
        if t_in is not None:
            sums[2] += t_in
            counts[2] += 1
        if latency is not None:
            sums[3] += latency
            counts[3] += 1
        if cost is not None:
            sums[4] += cost
            counts[4] += 1
        rows = self._rows
        if index >= rows.size and index != rows.next:
            return
        values = (chars, t_out, t_in, latency, cost)
        if index < rows.size:
            for col, v in zip(self._columns, values, strict=True):
                col.append(_NAN if v is None else v)
        else:
            slot = rows.replace(index)
            for col, v in zip(self._columns, values, strict=True):
                col[slot] = _NAN if v is None else v

    def extend(self, records: Any) -> WindowStats:
        """Add every record of an iterable; returns self for chaining."""
        for record in records:
            self.add(record)
        return self

    def sample(self, feature: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The sampled values of ``feature`` (one of :data:`FEATURES`), missing ones left out."""
        col = np.frombuffer(self._columns[FEATURES.index(feature)], dtype=np.float64)
        return col[~np.isnan(col)].copy()

    def mean(self, feature: str) -> float | None:
        """The exact mean of ``feature`` over every record that has it."""
        i = FEATURES.index(feature)
        return self.sums[i] / self.counts[i] if self.counts[i] else None

    def count(self, feature: str) -> int:
        """How many records carry ``feature``."""
        return self.counts[FEATURES.index(feature)]

    @property
    def first(self) -> datetime | None:
        """Time of the earliest record, None when empty."""
        return self._first if self.n else None

    @property
    def last(self) -> datetime | None:
        """Time of the latest record, None when empty."""
        return self._last if self.n else None

    @property
    def texts(self) -> list[str]:
        """The uniform sample of output texts (empty unless ``text_sample_size`` was set)."""
        return list(self._texts)

    def summary(self) -> dict[str, Any]:
        """Counts, time span and the returned model ids (most calls first), for reports."""
        return {
            "records": self.n,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "sampled": min(self.n, self.sample_size),
            "models": dict(self.models.most_common()),
        }


def _count(counter: Counter[str], key: str) -> None:
    """Count ``key``, pooling new keys past the cap so hostile logs cannot grow memory."""
    if key not in counter and len(counter) >= _MAX_CATEGORIES:
        key = _OTHER
    counter[key] += 1
