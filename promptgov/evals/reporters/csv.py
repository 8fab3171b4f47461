"""The results table as CSV, in promptfoo 0.123.1's column layout (``streamEvalCsv``).

A ``Description`` column when any test has one, one column per variable, then for each
prompt column: ``[provider] label`` (the output), ``Status``, ``Score``, ``Named Scores``,
one ``Metric: <name>`` per metric the column recorded, ``Grader Reason`` and ``Comment``.
Cells a spreadsheet would run as a formula are prefixed with ``'`` unless
``PROMPTFOO_DISABLE_CSV_FORMULA_ESCAPING`` is set (the config's ``env:`` first).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..js._jsvalue import js_number, js_number_of, js_string, json_stringify
from ..results import EvalResult, EvalSummary, FailureReason
from ._base import Reporter

#: ``getEnvBool``'s true spellings.
_TRUE = frozenset({"1", "true", "yes", "yup", "yeppers"})


class CsvReporter(Reporter):
    """promptfoo's CSV export: one row per test, seven or more columns per prompt column."""

    extension = ".csv"

    def render(self, summary: EvalSummary) -> str:
        var_names = summary.var_names
        metrics = [_metric_names(p.metrics.named_scores_count) for p in summary.prompts]
        described = any(r.test_case.get("description") for r in summary.results)
        rows: dict[int, list[EvalResult | None]] = {}
        for r in summary.results:
            cells = rows.setdefault(r.test_idx, [None] * len(summary.prompts))
            if 0 <= r.prompt_idx < len(cells):
                cells[r.prompt_idx] = r
        header: list[Any] = ["Description"] if described else []
        header += var_names
        for column, names in zip(summary.prompts, metrics, strict=True):
            shown = f"[{column.provider}] {column.label}" if column.provider else column.label
            header += [shown, "Status", "Score", "Named Scores"]
            header += [f"Metric: {n}" for n in names]
            header += ["Grader Reason", "Comment"]
        table = [header]
        for test_idx in sorted(rows):
            outputs = rows[test_idx]
            first = next(r for r in outputs if r is not None)
            test_vars = first.test_case.get("vars") or {}
            row: list[Any] = [first.test_case.get("description") or ""] if described else []
            row += [_var(test_vars, n) for n in var_names]
            for result, names in zip(outputs, metrics, strict=True):
                row += _cells(result, names)
            table.append(row)
        env = {**os.environ, **summary.env}
        escape = (env.get("PROMPTFOO_DISABLE_CSV_FORMULA_ESCAPING") or "").lower() not in _TRUE
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for line in table:
            writer.writerow([_cast(_formula_safe(c) if escape else c) for c in line])
        return buf.getvalue()


def _metric_names(counts: Mapping[str, int]) -> list[str]:
    """Metrics a row contributed to, ordered as ``localeCompare`` orders plain names."""
    return sorted(
        (n for n, c in counts.items() if c > 0), key=lambda n: (n.casefold(), n.swapcase())
    )


def _var(test_vars: Mapping[str, Any], name: str) -> str:
    """``String(value)``, empty for a variable the test does not set."""
    return "" if name not in test_vars else js_string(test_vars[name])


def _cells(r: EvalResult | None, metric_names: list[str]) -> list[Any]:
    if r is None:
        return [""] * (6 + len(metric_names))
    if r.success:
        status = "PASS"
    else:
        status = "FAIL" if r.failure_reason == FailureReason.ASSERT else "ERROR"
    output = r.output
    grading = r.grading
    return [
        output if output not in (None, "", 0, False) else "",
        status,
        _to_fixed(r.score),
        _named_scores(r.named_scores),
        *(_metric_value(r.named_scores.get(n)) for n in metric_names),
        (grading.reason if grading is not None else "") or "",
        "",
    ]


def _named_scores(scores: Mapping[str, float]) -> str:
    """``JSON.stringify`` of the scores rounded to two places; empty when there are none."""
    rounded = {
        k: float(_to_fixed(v))
        for k, v in scores.items()
        if isinstance(v, int | float) and not math.isnan(v)
    }
    return json_stringify(rounded) if rounded else ""


def _metric_value(value: float | None) -> str:
    return _to_fixed(value) if isinstance(value, int | float) and not math.isnan(value) else ""


def _to_fixed(value: float) -> str:
    """JavaScript's ``toFixed(2)``: ties away from zero on the exact binary value."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if abs(value) >= 1e21:
        return js_number(value)
    if value == 0:
        return "0.00"
    return str(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


_LEADING_SPACE = re.compile(r"^[\s\u200b\u200c\u200d]+")


def _formula_safe(cell: Any) -> Any:
    """promptfoo's ``escapeCsvFormula`` (CWE-1236) on string cells."""
    if not isinstance(cell, str) or not cell:
        return cell
    unpadded = _LEADING_SPACE.sub("", cell)
    if not unpadded:
        return cell
    first = unpadded[0]
    if first in "=@" or (first in "-+" and not _numeric(unpadded)):
        return f"'{cell}"
    return cell


def _numeric(text: str) -> bool:
    """``text.trim() !== '' && Number.isFinite(Number(text))``."""
    return text.strip() != "" and math.isfinite(js_number_of(text))


def _cast(cell: Any) -> str:
    """csv-stringify's default casts: objects as JSON, numbers as JavaScript prints them,
    booleans as ``1``/empty."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "1" if cell else ""
    if isinstance(cell, int | float):
        return js_number(cell)
    if cell is None:
        return ""
    return json_stringify(cell)
