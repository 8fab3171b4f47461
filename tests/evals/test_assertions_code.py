"""python and javascript assertions: the result contract, in-process Python, one Node worker."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from promptgov.evals import js
from promptgov.evals.assertions import (
    assertion_from_config,
    close_javascript_worker,
    evaluate_assertion,
)
from promptgov.evals.assertions.interface import AssertionContext, AssertionError_, GradingResult
from promptgov.evals.providers.interface import ProviderResponse


def _ctx(raw: dict[str, Any], output: Any, base_dir: str = ".", **kw: Any) -> AssertionContext:
    return AssertionContext(
        spec=assertion_from_config(raw),
        output=output,
        vars=kw.pop("vars", {"text": output}),
        prompt=kw.pop("prompt", str(output)),
        response=ProviderResponse(output=output),
        provider=None,
        latency_ms=1.0,
        base_dir=base_dir,
    )


def grade(raw: dict[str, Any], output: Any, base_dir: str = ".", **kw: Any) -> GradingResult:
    async def go() -> GradingResult:
        try:
            return await evaluate_assertion(_ctx(raw, output, base_dir, **kw))
        finally:
            await close_javascript_worker()

    return asyncio.run(go())


# --- python -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "passed", "score"),
    [
        ("'ok' in output", True, 1.0),
        ("1.5", True, 1.5),  # scores above 1 are kept
        ("0", False, 0.0),
        ("'true'", True, 1.0),
        ("{'pass': True, 'score': 0.3, 'reason': 'low'}", True, 0.3),
    ],
)
def test_inline_python_results(code: str, passed: bool, score: float) -> None:
    result = grade({"type": "python", "value": code}, "all ok")
    assert (result.passed, result.score) == (passed, score)


def test_python_that_raises_fails_with_the_error() -> None:
    result = grade({"type": "python", "value": "1 / 0"}, "x")
    assert (result.passed, result.score) == (False, 0.0)
    assert result.reason.startswith("Python code execution failed: ZeroDivisionError")


def test_python_returning_none_fails() -> None:
    result = grade({"type": "python", "value": "None"}, "x")
    assert not result.passed and "must return a boolean, number" in result.reason


def test_python_threshold_applies_to_numbers_and_results() -> None:
    low = grade({"type": "python", "value": "0.4", "threshold": 0.5}, "x")
    assert (low.passed, low.score, low.reason) == (False, 0.4, "Python code returned false\n0.4")
    graded = grade(
        {
            "type": "python",
            "value": "{'pass': True, 'score': 0.3, 'reason': 'r'}",
            "threshold": 0.5,
        },
        "x",
    )
    assert not graded.passed
    assert graded.reason == "Python score 0.3 is less than threshold 0.5: r"


def test_multiline_python_body_with_snake_case_result() -> None:
    code = (
        "words = output.split()\n"
        "return {'pass_': True, 'score': 0.5, 'reason': 'w', 'named_scores': {'n': len(words)}}\n"
    )
    result = grade({"type": "python", "value": code}, "two words")
    assert (result.passed, result.score, result.named_scores) == (True, 0.5, {"n": 2.0})


def test_not_python_inverts() -> None:
    result = grade({"type": "not-python", "value": "output == 'x'"}, "x")
    assert (result.passed, result.reason) == (False, "Python code returned true\noutput == 'x'")


def test_inline_code_runs_in_a_worker_and_is_compiled_once_per_source() -> None:
    code = (
        "import os\n"
        "main.calls = getattr(main, 'calls', 0) + 1\n"
        f"return {{'pass': os.getpid() != {os.getpid()}, 'score': main.calls, 'reason': 'r'}}\n"
    )
    first = grade({"type": "python", "value": code}, "x")
    second = grade({"type": "python", "value": code}, "x")
    assert (first.passed, first.score, second.score) == (True, 1.0, 2.0)


def test_python_file_assertions_and_module_cache(tmp_path: Path) -> None:
    script = tmp_path / "checks.py"
    script.write_text(
        "CALLS = []\n"
        "def get_assert(output, context):\n"
        "    CALLS.append(output)\n"
        "    reason = context['vars']['text']\n"
        "    return {'pass': 'ok' in output, 'score': len(CALLS), 'reason': reason}\n"
        "def broken(output, context):\n"
        "    raise ValueError('boom')\n",
        encoding="utf-8",
    )
    first = grade({"type": "python", "value": "file://checks.py"}, "ok", str(tmp_path))
    second = grade({"type": "python", "value": "file://checks.py"}, "ok", str(tmp_path))
    # One import serves both calls: module state is shared.
    assert (first.score, second.score, second.reason) == (1.0, 2.0, "ok")
    broken = grade({"type": "python", "value": "file://checks.py:broken"}, "x", str(tmp_path))
    assert not broken.passed and "ValueError: boom" in broken.reason


def test_python_sees_json_copies_of_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text(
        "def get_assert(output, context):\n"
        "    return isinstance(output, dict) and output['n'] == 1 and context['prompt'] == 'p'\n",
        encoding="utf-8",
    )
    result = grade(
        {"type": "python", "value": "file://c.py"}, {"n": 1.0}, str(tmp_path), prompt="p"
    )
    assert result.passed


# --- javascript ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "passed", "score"),
    [
        ("output.includes('there')", True, 1.0),
        ("const n = output.length; n > 3", True, 1.0),
        ("const words = output.split(' ');\nreturn words.length / 4;", True, 0.5),
        ("2.5", True, 2.5),
        ("context.vars.text === 'hello there' && context.prompt === 'hello there'", True, 1.0),
    ],
)
def test_inline_javascript(code: str, passed: bool, score: float) -> None:
    result = grade({"type": "javascript", "value": code}, "hello there")
    assert (result.passed, result.score) == (passed, score)


def test_javascript_that_throws_fails() -> None:
    result = grade({"type": "javascript", "value": "output.missing.property"}, "x")
    assert not result.passed
    assert result.reason.startswith("Custom function threw error: Cannot read properties")


def test_javascript_returning_a_string_fails() -> None:
    result = grade({"type": "javascript", "value": "'yes'"}, "x")
    assert "must return a boolean, number, or GradingResult" in result.reason


def test_javascript_file_exports(tmp_path: Path) -> None:
    (tmp_path / "check.js").write_text(
        "module.exports = (output) => ({pass: output.length > 3, score: 0.7, reason: 'len'});\n"
        "module.exports.exact = (output) => output === 'exact';\n",
        encoding="utf-8",
    )
    result = grade({"type": "javascript", "value": "file://check.js"}, "abcd", str(tmp_path))
    assert (result.passed, result.score, result.reason) == (True, 0.7, "len")
    exact = grade({"type": "javascript", "value": "file://check.js:exact"}, "exact", str(tmp_path))
    assert exact.passed


def test_one_node_worker_serves_many_assertions() -> None:
    async def go() -> tuple[int, int, list[GradingResult]]:
        try:
            results = await asyncio.gather(
                *(
                    evaluate_assertion(_ctx({"type": "javascript", "value": f"{i} >= 0"}, "x"))
                    for i in range(50)
                )
            )
            pid = await js.worker_pid()
            again = await js.worker_pid()
            return pid, again, list(results)
        finally:
            await close_javascript_worker()

    pid, again, results = asyncio.run(go())
    assert pid == again
    assert all(r.passed for r in results)


def test_missing_node_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTGOV_NODE", os.path.join(os.sep, "nonexistent", "node"))
    with pytest.raises(AssertionError_, match="javascript assertions need Node.js"):
        grade({"type": "javascript", "value": "true"}, "x")
