"""JUnit XML: one ``testsuite`` per prompt column, one ``testcase`` per test, for CI dashboards."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from ..results import EvalSummary, FailureReason
from ._base import Reporter, output_text


class JUnitReporter(Reporter):
    """Failures are ``<failure>``, errors ``<error>``; times are in seconds."""

    extension = ".xml"

    def render(self, summary: EvalSummary) -> str:
        stats = summary.stats
        seconds = summary.duration_ms / 1000
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<testsuites name="promptgov" tests="{stats.total}" failures="{stats.failures}" '
            f'errors="{stats.errors}" time="{seconds:.3f}">',
        ]
        for idx, column in enumerate(summary.prompts):
            results = [r for r in summary.results if r.prompt_idx == idx]
            failures = sum(
                1 for r in results if not r.success and r.failure_reason != FailureReason.ERROR
            )
            errors = sum(1 for r in results if r.failure_reason == FailureReason.ERROR)
            time_s = sum(r.latency_ms for r in results) / 1000
            lines.append(
                f"  <testsuite name={quoteattr(f'[{column.provider}] {column.label}')} "
                f'tests="{len(results)}" failures="{failures}" errors="{errors}" '
                f'time="{time_s:.3f}">'
            )
            for r in results:
                name = r.description or ", ".join(f"{k}={_short(v)}" for k, v in r.vars.items())
                name = name or f"test {r.test_idx}"
                lines.append(
                    f"    <testcase name={quoteattr(f'#{r.test_idx} {name}')} "
                    f'classname={quoteattr(column.provider)} time="{r.latency_ms / 1000:.3f}">'
                )
                if r.failure_reason == FailureReason.ERROR:
                    lines.append(f"      <error message={quoteattr(_short(r.error or '', 500))}/>")
                elif not r.success:
                    body = output_text(r)
                    lines.append(
                        f"      <failure message={quoteattr(_short(r.error or '', 500))}>"
                        f"{_escape(body)}</failure>"
                    )
                lines.append("    </testcase>")
            lines.append("  </testsuite>")
        lines.append("</testsuites>")
        return "\n".join(lines) + "\n"


def _short(value: object, limit: int = 80) -> str:
    from ..templating import js_str

    text = js_str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
