"""The native engine against real promptfoo 0.123.1 results recorded in ``conformance/``.

Each ``conformance/<case>/expected.json`` was produced by ``conformance/record.py`` running
promptfoo itself on the case's ``promptfooconfig.yaml`` (see ``conformance/RECORDED.md``).
The native engine must reproduce every result's success, score (±0.001), failure reason and
named scores, each prompt column's counts, the stats, and the exit code; a config promptfoo
refuses before running a test (``refused``) the native engine refuses too, as bad input.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from promptgov.errors import PromptGovError
from promptgov.evals import RunOptions, load_config, run_eval

CASES = sorted(p.parent for p in (Path(__file__).parent / "conformance").glob("*/expected.json"))


def _close(a: float | None, b: float | None) -> bool:
    # promptfoo writes NaN and Infinity as null in its JSON.
    if a is None or b is None:
        other = b if a is None else a
        return other is None or (isinstance(other, float) and not math.isfinite(other))
    return abs(a - b) <= 0.001


def _named_close(got: dict[str, float], want: dict[str, float]) -> bool:
    return got.keys() == want.keys() and all(_close(got[k], want[k]) for k in want)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_native_engine_matches_promptfoo(case: Path) -> None:
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    if "refused" in expected:
        # promptfoo stopped before any test: so does the native engine, with a bad-input error.
        with pytest.raises(PromptGovError) as caught:
            cfg = load_config(case / "promptfooconfig.yaml", environ={"PATH": os.environ["PATH"]})
            run_eval(cfg, RunOptions(no_cache=True, environ={"PATH": os.environ["PATH"]}))
        assert caught.value.exit_code == 2 and expected["exitCode"] != 0, caught.value.message
        return
    cfg = load_config(case / "promptfooconfig.yaml", environ={"PATH": os.environ["PATH"]})
    summary = run_eval(cfg, RunOptions(no_cache=True, environ={"PATH": os.environ["PATH"]}))
    got = sorted(summary.results, key=lambda r: (r.test_idx, r.prompt_idx))
    assert [(r.test_idx, r.prompt_idx) for r in got] == [
        (e["testIdx"], e["promptIdx"]) for e in expected["results"]
    ]
    for r, e in zip(got, expected["results"], strict=True):
        where = f"{case.name} test {r.test_idx} prompt {r.prompt_idx}: {r.error}"
        assert r.success == e["success"], where
        assert int(r.failure_reason) == e["failureReason"], where
        assert _close(r.score, e["score"]), f"{where}: score {r.score} != {e['score']}"
        assert _named_close(r.named_scores, e["namedScores"]), (
            f"{where}: {r.named_scores} != {e['namedScores']}"
        )
    for column, e in zip(summary.prompts, expected["prompts"], strict=True):
        m = column.metrics
        assert column.provider == e["provider"]
        assert (m.test_pass_count, m.test_fail_count, m.test_error_count) == (
            e["testPassCount"],
            e["testFailCount"],
            e["testErrorCount"],
        ), column.label
        assert _named_close(m.named_scores, e["namedScores"]), (
            f"{column.label}: {m.named_scores} != {e['namedScores']}"
        )
    stats = summary.stats
    assert (stats.successes, stats.failures, stats.errors) == (
        expected["stats"]["successes"],
        expected["stats"]["failures"],
        expected["stats"]["errors"],
    )
    assert summary.exit_code({}) == expected["exitCode"]
