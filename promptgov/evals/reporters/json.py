"""promptfoo's v3 output JSON and its one-result-per-line JSONL variant."""

from __future__ import annotations

import json

from ..results import EvalSummary
from ._base import Reporter


class JsonReporter(Reporter):
    """promptfoo's ``EvaluateSummaryV3``: ``{evalId, results: {version: 3, …}, config}``."""

    extension = ".json"

    def render(self, summary: EvalSummary) -> str:
        return json.dumps(summary.to_v3_dict(), indent=2, ensure_ascii=False, default=str) + "\n"


class JsonlReporter(Reporter):
    """One ``EvaluateResult`` JSON object per line, as promptfoo's ``.jsonl`` output."""

    extension = ".jsonl"

    def render(self, summary: EvalSummary) -> str:
        return "".join(
            json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n" for r in summary.results
        )
