"""The results table as CSV: one row per test, one column per variable and per prompt column."""

from __future__ import annotations

import csv
import io

from ..results import EvalSummary
from ._base import Reporter, output_text, status


class CsvReporter(Reporter):
    """promptfoo's table export: vars, then ``[provider] prompt`` cells with ``[PASS] output``."""

    extension = ".csv"

    def render(self, summary: EvalSummary) -> str:
        var_names: dict[str, None] = {}
        rows: dict[int, dict[int, str]] = {}
        row_vars: dict[int, dict[str, object]] = {}
        for r in summary.results:
            for name in r.vars:
                var_names[name] = None
            row_vars.setdefault(r.test_idx, r.vars)
            cell = output_text(r) if r.success else (r.error or output_text(r))
            rows.setdefault(r.test_idx, {})[r.prompt_idx] = f"[{status(r)}] {cell}"
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*var_names, *(f"[{p.provider}] {p.label}" for p in summary.prompts)])
        for test_idx in sorted(rows):
            vars_ = row_vars[test_idx]
            writer.writerow(
                [
                    *(_cell(vars_.get(n)) for n in var_names),
                    *(rows[test_idx].get(i, "") for i in range(len(summary.prompts))),
                ]
            )
        return buf.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False)
