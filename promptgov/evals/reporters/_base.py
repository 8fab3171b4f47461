"""The reporter interface."""

from __future__ import annotations

import abc

from ..results import EvalResult, EvalSummary, FailureReason


class Reporter(abc.ABC):
    """Turns an :class:`EvalSummary` into the text of one output file."""

    #: The file extension this reporter writes, with its dot.
    extension: str

    @abc.abstractmethod
    def render(self, summary: EvalSummary) -> str:
        """The complete file content."""


def status(result: EvalResult) -> str:
    """PASS, FAIL or ERROR, as promptfoo's tables print a result."""
    if result.success:
        return "PASS"
    return "ERROR" if result.failure_reason == FailureReason.ERROR else "FAIL"


def output_text(result: EvalResult) -> str:
    """The output as text (JSON for structured outputs), empty for errors."""
    import json

    out = result.output
    if out is None:
        return ""
    return out if isinstance(out, str) else json.dumps(out, ensure_ascii=False)
