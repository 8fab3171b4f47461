"""A Markdown summary for pull requests and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import math

from ..results import EvalSummary
from ._base import Reporter, status

#: At most this many failing results are listed.
MAX_LISTED_FAILURES = 50


class MarkdownReporter(Reporter):
    """Totals, a per-prompt table and the failing tests with their reasons."""

    extension = ".md"

    def render(self, summary: EvalSummary) -> str:
        s = summary.stats
        rate = summary.pass_rate
        rate_s = "n/a" if math.isnan(rate) else f"{rate:.2f}%"
        title = summary.description or "Eval results"
        out = [
            f"## {_cell(title)}",
            "",
            f"**{s.successes} passed, {s.failures} failed, {s.errors} errors** "
            f"— pass rate {rate_s} ({s.total} results, {summary.duration_ms / 1000:.2f}s)",
            "",
            "| Provider | Prompt | Pass | Fail | Error | Score |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for p in summary.prompts:
            m = p.metrics
            n = m.test_pass_count + m.test_fail_count + m.test_error_count
            avg = m.score / n if n else 0.0
            out.append(
                f"| {_cell(p.provider)} | {_cell(p.label, 60)} | {m.test_pass_count} | "
                f"{m.test_fail_count} | {m.test_error_count} | {avg:.3f} |"
            )
        failing = [r for r in summary.results if not r.success]
        if failing:
            out += [
                "",
                "### Failures",
                "",
                "| Test | Prompt | Status | Reason |",
                "| ---: | ---: | --- | --- |",
            ]
            for r in failing[:MAX_LISTED_FAILURES]:
                out.append(
                    f"| {r.test_idx} | {r.prompt_idx} | {status(r)} | {_cell(r.error or '', 200)} |"
                )
            if len(failing) > MAX_LISTED_FAILURES:
                out.append(f"\n…and {len(failing) - MAX_LISTED_FAILURES} more.")
        return "\n".join(out) + "\n"


def _cell(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
