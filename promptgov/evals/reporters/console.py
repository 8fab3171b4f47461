"""The failing results as a terminal lists them after the counts.

promptfoo's console table marks each failing cell ``[FAIL]`` (``[ERROR]`` when the test
could not be graded) with its reason, under a ``[provider] prompt`` header and beside the
test's vars, each cell cut at 250 characters and at most 25 rows. A list carries the same
facts without a table's wrapping in CI logs: one line per failing result naming the test,
prompt and provider, then one line per failing assertion with its reason, and with
``verbose`` the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..results import EvalResult, EvalSummary
from ._base import output_text, status

__all__ = ["CELL_MAX", "MAX_LISTED", "Failure", "failure_lines", "failures"]

#: promptfoo's ``tableCellMaxLength``: longer reasons and outputs are cut.
CELL_MAX = 250
#: promptfoo's table shows at most this many rows.
MAX_LISTED = 25


@dataclass(frozen=True)
class Failure:
    """One failing result: which test, prompt and provider, and why."""

    status: str
    """FAIL (an assertion failed) or ERROR (the test could not be graded)."""
    test: str
    prompt: str
    provider: str
    reasons: tuple[tuple[str, str], ...]
    """(assertion, reason) per failing assertion; ("error", message) for an error."""
    output: str


def failures(summary: EvalSummary) -> list[Failure]:
    """Every result that did not pass, in the run's order."""
    return [_failure(r) for r in summary.results if not r.success]


def failure_lines(
    summary: EvalSummary, *, verbose: bool = False, limit: int = MAX_LISTED
) -> list[str]:
    """The failures as plain lines (empty when everything passed); ``verbose`` adds outputs."""
    found = failures(summary)
    if not found:
        return []
    lines = [f"Failures ({len(found)} of {summary.stats.total} results):"]
    for f in found[:limit]:
        lines.append(f"[{f.status}] {f.test} · {f.prompt} · {f.provider}")
        lines.extend(f"  {assertion}: {reason}" for assertion, reason in f.reasons)
        if verbose:
            lines.append(f"  output: {f.output}" if f.output else "  output: (none)")
    if len(found) > limit:
        lines.append(f"… and {len(found) - limit} more failing results, in the output file.")
    return lines


def _failure(r: EvalResult) -> Failure:
    return Failure(
        status=status(r),
        test=_one_line(r.description or _vars(r.vars), 80),
        prompt=_one_line(r.prompt_label, 60),
        provider=r.provider_label or r.provider_id,
        reasons=_reasons(r),
        output=_one_line(output_text(r), CELL_MAX),
    )


def _reasons(r: EvalResult) -> tuple[tuple[str, str], ...]:
    grading = r.grading
    if status(r) == "ERROR" or grading is None:
        return (("error", _one_line(r.error or "no output", CELL_MAX)),)
    failed = [c for c in grading.component_results if not c.passed]
    if not failed:  # every assertion passed but the score missed the test's threshold
        return (("threshold", _one_line(grading.reason or r.error or "", CELL_MAX)),)
    return tuple(
        (_assertion(c.assertion), _one_line(c.reason or "failed", CELL_MAX)) for c in failed
    )


def _assertion(spec: dict[str, Any] | None) -> str:
    """``type value`` as written (``contains "Ann"``), the value cut short."""
    if not spec:
        return "assertion"
    kind = str(spec.get("type") or "assertion")
    value = spec.get("value")
    if value is None:
        return kind
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return f"{kind} {_one_line(shown, 80)}"


def _vars(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}" for k, v in values.items()
    )


def _one_line(text: str, limit: int) -> str:
    """Whitespace folded to single spaces, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
