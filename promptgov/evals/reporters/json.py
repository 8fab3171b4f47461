"""promptfoo's v3 output JSON and its one-result-per-line JSONL variant."""

from __future__ import annotations

import json
from typing import Any

from ..results import EvalSummary
from ._base import Reporter


class JsonReporter(Reporter):
    """promptfoo's ``EvaluateSummaryV3``: ``{evalId, results: {version: 3, …}, config}``."""

    extension = ".json"

    def render(self, summary: EvalSummary) -> str:
        return _layout(summary.to_v3_dict(), 0) + "\n"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _layout(value: Any, depth: int) -> str:
    """Objects indented by two spaces, each list item on one line.

    Readable, and fast: ``json.dumps(indent=…)`` falls back to the pure-Python encoder,
    which costs more than the whole eval on a large run; each list item here goes
    through the C encoder.
    """
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and value:
        body = ",\n".join(
            f"{inner}{_compact(str(k))}: {_layout(v, depth + 1)}" for k, v in value.items()
        )
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(inner + _compact(item) for item in value) + "\n" + pad + "]"
    return _compact(value)


class JsonlReporter(Reporter):
    """One ``EvaluateResult`` JSON object per line, as promptfoo's ``.jsonl`` output."""

    extension = ".jsonl"

    def render(self, summary: EvalSummary) -> str:
        return "".join(
            json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n" for r in summary.results
        )
