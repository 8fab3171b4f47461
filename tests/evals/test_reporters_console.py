"""The failing results a terminal lists after the counts, as promptfoo's [FAIL] cells say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptgov.evals import load_config, run_eval
from promptgov.evals.reporters.console import CELL_MAX, failure_lines


def _summary(tmp_path: Path, tests: list[dict[str, Any]], provider: Any = "echo") -> Any:
    cfg = load_config(
        {"prompts": ["Hi {{name}}"], "providers": [provider], "tests": tests}, base_dir=tmp_path
    )
    return run_eval(cfg)


def test_each_failing_assertion_is_listed_with_its_reason(tmp_path: Path) -> None:
    summary = _summary(
        tmp_path,
        [
            {"vars": {"name": "Ann"}, "assert": [{"type": "contains", "value": "Ann"}]},
            {
                "description": "wrong name",
                "vars": {"name": "Bo"},
                "assert": [
                    {"type": "contains", "value": "Ann"},
                    {"type": "icontains", "value": "hi"},
                    {"type": "equals", "value": {"a": 1}},
                ],
            },
        ],
    )
    assert failure_lines(summary) == [
        "Failures (1 of 2 results):",
        "[FAIL] wrong name · Hi {{name}} · echo",
        '  contains "Ann": Expected output to contain "Ann"',
        '  equals {"a": 1}: Expected output "Hi Bo" to equal "{"a":1}"',
    ]


def test_a_test_without_description_is_named_by_its_vars_and_verbose_adds_output(
    tmp_path: Path,
) -> None:
    summary = _summary(
        tmp_path, [{"vars": {"name": "Bo"}, "assert": [{"type": "contains", "value": "Ann"}]}]
    )
    lines = failure_lines(summary, verbose=True)
    assert lines[1] == "[FAIL] name=Bo · Hi {{name}} · echo"
    assert lines[-1] == "  output: Hi Bo"


def test_errors_show_the_error_and_no_output(tmp_path: Path) -> None:
    summary = _summary(
        tmp_path,
        [{"vars": {"name": "Bo"}, "assert": [{"type": "contains", "value": "Bo"}]}],
        provider={"id": "exec:false", "label": "broken"},
    )
    assert failure_lines(summary, verbose=True)[1:] == [
        "[ERROR] name=Bo · Hi {{name}} · broken",
        "  error: Command failed: false (exit 1)",
        "  output: (none)",
    ]


def test_long_outputs_are_cut_and_at_most_25_results_listed(tmp_path: Path) -> None:
    name = "x" * 400
    tests = [
        {"vars": {"name": f"{name}{i}"}, "assert": [{"type": "contains", "value": "zz"}]}
        for i in range(30)
    ]
    lines = failure_lines(_summary(tmp_path, tests), verbose=True)
    outputs = [line for line in lines if line.startswith("  output: ")]
    assert len(outputs) == 25
    assert all(len(line) == len("  output: ") + CELL_MAX and line.endswith("…") for line in outputs)
    assert lines[-1] == "… and 5 more failing results, in the output file."


def test_nothing_is_listed_when_everything_passed(tmp_path: Path) -> None:
    summary = _summary(
        tmp_path, [{"vars": {"name": "Ann"}, "assert": [{"type": "contains", "value": "Ann"}]}]
    )
    assert failure_lines(summary, verbose=True) == []
