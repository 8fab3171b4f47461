"""JUnit XML: one ``testsuite`` per prompt column, one ``testcase`` per test, for CI dashboards."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

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
                f"  <testsuite name={_attr(f'[{column.provider}] {column.label}')} "
                f'tests="{len(results)}" failures="{failures}" errors="{errors}" '
                f'time="{time_s:.3f}">'
            )
            for r in results:
                name = r.description or ", ".join(f"{k}={_short(v)}" for k, v in r.vars.items())
                name = name or f"test {r.test_idx}"
                lines.append(
                    f"    <testcase name={_attr(f'#{r.test_idx} {name}')} "
                    f'classname={_attr(column.provider)} time="{r.latency_ms / 1000:.3f}">'
                )
                if r.failure_reason == FailureReason.ERROR:
                    lines.append(f"      <error message={_attr(_short(r.error or '', 500))}/>")
                elif not r.success:
                    body = output_text(r)
                    lines.append(
                        f"      <failure message={_attr(_short(r.error or '', 500))}>"
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


#: What XML 1.0 forbids (``Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
#: [#x10000-#x10FFFF]``), plus DEL, exactly as pytest's ``junitxml.bin_xml_escape``.
_ILLEGAL_XML = re.compile(
    "[^\u0009\u000a\u000d\u0020-\u007e\u0080-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"#x{code:02X}" if code <= 0xFF else f"#x{code:04X}"


def _xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry shown as ``#xNN``, as pytest does.

    A single U+0001 in a model's output would otherwise make the whole file unreadable to
    every JUnit consumer.
    """
    return _ILLEGAL_XML.sub(_visible, text)


def _attr(value: str) -> str:
    """A quoted attribute value that any XML 1.0 parser accepts."""
    return quoteattr(_xml_safe(value))


def _escape(text: str) -> str:
    """Element text that any XML 1.0 parser accepts."""
    return escape(_xml_safe(text))
