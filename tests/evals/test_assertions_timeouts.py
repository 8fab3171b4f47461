"""Assertions that never finish: a catastrophic regex, python code that never returns.

Reproductions ("Hanging evals"), each a real ``promptgov eval`` on real files.
Without ``timeoutMs`` the limit is ``REQUEST_TIMEOUT_MS`` (promptfoo's default for a call of
user code), set small here; the row is an ERROR and the process exits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptgov.evals.assertions import assertion_from_config, evaluate_assertion
from promptgov.evals.assertions.interface import AssertionContext, AssertionError_
from promptgov.evals.providers.interface import ProviderResponse

LIMIT = {"REQUEST_TIMEOUT_MS": "500"}


def test_catastrophic_regex_is_an_error_row_and_a_nested_repeat_just_fails(
    tmp_path: Path, procs
) -> None:
    (tmp_path / "c.yaml").write_text(
        "prompts: ['{{text}}']\nproviders: [echo]\ntests:\n"
        f"  - vars: {{text: '{'a' * 30}!'}}\n"
        "    assert: [{type: regex, value: '(a+)+$'}]\n"
        f"  - vars: {{text: '{'a' * 40}!'}}\n"
        "    assert: [{type: regex, value: '(a|aa)+$'}]\n"
    )
    run = procs.eval(tmp_path, env=LIMIT)
    assert run.returncode == 100, run.stderr
    # `(a+)+$` backtracks 2^30 times under Python's re; the regex engine answers at once.
    assert (run.row(0)["failureReason"], run.row(0)["error"]) == (
        1,
        'Expected output to match regex "(a+)+$"',
    )
    assert run.row(1)["failureReason"] == 2
    assert run.row(1)["error"] == (
        "regex /(a|aa)+$/ did not finish within 0.5s on this output (catastrophic "
        "backtracking): simplify the pattern, e.g. remove nested or overlapping repeats."
    )


def test_python_assertions_that_never_return_are_error_rows(tmp_path: Path, procs) -> None:
    (tmp_path / "checks.py").write_text(
        "import os\n\n"
        "def get_assert(output, context):\n"
        "    open('pids', 'a').write(f'{os.getpid()}\\n')\n"
        "    while True:\n"
        "        pass\n"
    )
    (tmp_path / "c.yaml").write_text(
        "prompts: ['{{text}}']\nproviders: [echo]\ntests:\n"
        "  - vars: {text: inline}\n"
        "    assert:\n"
        "      - type: python\n"
        "        value: \"open('pids', 'a').write(f'{__import__(\\\"os\\\").getpid()}\\\\n')"
        " and __import__('time').sleep(10**6)\"\n"
        "  - vars: {text: file}\n"
        "    assert: [{type: python, value: file://checks.py}]\n"
        "  - vars: {text: value}\n"
        "    assert: [{type: equals, value: file://checks.py}]\n"
        "  - vars: {text: fine}\n"
        "    assert: [{type: python, value: \"output == 'fine'\"}]\n"
    )
    run = procs.eval(tmp_path, env=LIMIT)
    assert run.returncode == 100, run.stderr
    for test_idx, what in (
        (0, "the python assertion"),
        (1, "checks.py:get_assert"),
        (2, "checks.py:get_assert"),
    ):
        row = run.row(test_idx)
        assert row["failureReason"] == 2, row
        assert row["error"] == (
            f"Python worker timed out after 500ms: {what} did not return, and its worker was stopped."
        )
    assert run.row(3)["success"] is True
    pids = procs.recorded(tmp_path / "pids")
    assert len(pids) == 3
    assert procs.survivors(pids) == []


def test_regex_timeout_is_capped_by_the_assertion_deadline() -> None:
    ctx = AssertionContext(
        spec=assertion_from_config({"type": "regex", "value": "(a|aa)+$"}),
        output="a" * 40 + "!",
        vars={},
        prompt="",
        response=ProviderResponse(),
        provider=None,
        latency_ms=0,
        timeout_s=0.2,
    )
    with pytest.raises(AssertionError_, match=r"did not finish within 0.2s"):
        asyncio.run(evaluate_assertion(ctx))
