"""The runner: promptfoo's ordering, scoring, errors vs failures, concurrency and timeouts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from promptgov.evals import FailureReason, RunOptions, load_config, run_eval
from promptgov.evals.providers.interface import (
    CallContext,
    Provider,
    ProviderError,
    ProviderResponse,
)


class SleepyProvider(Provider):
    """Answers after a fixed delay and records the peak number of calls in flight."""

    def __init__(self, delay_s: float) -> None:
        super().__init__("sleepy")
        self.delay_s = delay_s
        self.in_flight = 0
        self.peak = 0

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.delay_s)
        self.in_flight -= 1
        return ProviderResponse(output=prompt)


class FailingProvider(Provider):
    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        raise ProviderError("upstream said 503")


def _cfg(tmp_path: Path, **overrides: Any):
    base: dict[str, Any] = {"prompts": ["Hi {{name}}"], "providers": ["echo"]}
    base.update(overrides)
    return load_config(base, base_dir=tmp_path)


def test_prompt_columns_put_all_prompts_of_provider_zero_first(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        prompts=["A {{name}}", "B {{name}}"],
        providers=["echo", {"id": "echo", "label": "two"}],
        tests=[{"vars": {"name": "x"}}],
    )
    summary = run_eval(cfg)
    assert [(r.prompt_idx, r.prompt_raw, r.provider_label) for r in summary.results] == [
        (0, "A x", ""),
        (1, "B x", ""),
        (2, "A x", "two"),
        (3, "B x", "two"),
    ]
    assert [p.provider for p in summary.prompts] == ["echo", "echo", "two", "two"]


def test_array_vars_expand_and_repeat_counts_test_indices(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, tests=[{"vars": {"name": ["a", "b"]}}, {"vars": {"name": [1, "c"]}}])
    summary = run_eval(cfg, RunOptions(repeat=2))
    assert [(r.test_idx, r.prompt_raw) for r in summary.results] == [
        (0, "Hi a"),
        (1, "Hi b"),
        (2, "Hi a"),
        (3, "Hi b"),
        (4, "Hi 1,c"),
        (5, "Hi 1,c"),
    ]


def test_weighted_score_threshold_and_weight_zero(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        tests=[
            {
                "vars": {"name": "Ann"},
                "assert": [
                    {"type": "contains", "value": "Ann", "weight": 3, "metric": "m"},
                    {"type": "contains", "value": "zzz", "metric": "m"},
                    {"type": "contains", "value": "qqq", "weight": 0, "metric": "z"},
                ],
            },
            {
                "vars": {"name": "Bo"},
                "threshold": 0.7,
                "assert": [
                    {"type": "contains", "value": "Bo", "weight": 3},
                    {"type": "contains", "value": "zzz"},
                ],
            },
        ],
    )
    first, second = run_eval(cfg).results
    assert (first.success, first.score, first.failure_reason) == (False, 0.75, FailureReason.ASSERT)
    assert first.named_scores == {"m": 0.75, "z": 0.0}
    assert first.grading is not None and first.grading.component_results[2].passed is True
    assert (second.success, second.score) == (True, 0.75)
    assert second.grading is not None
    assert second.grading.reason == "Aggregate score 0.75 ≥ 0.7 threshold"


def test_provider_error_is_an_error_not_a_failure(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        providers=[FailingProvider("failing")],
        tests=[{"vars": {"name": "x"}, "assert": [{"type": "contains", "value": "x"}]}],
    )
    summary = run_eval(cfg)
    (result,) = summary.results
    assert (result.failure_reason, result.error, result.response) == (
        FailureReason.ERROR,
        "upstream said 503",
        None,
    )
    assert (summary.stats.errors, summary.exit_code({})) == (1, 100)


def test_template_error_in_assertion_value_is_an_error(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        tests=[
            {"vars": {"name": "x"}, "assert": [{"type": "contains", "value": "{{ nope | trim }}"}]}
        ],
    )
    (result,) = run_eval(cfg).results
    assert result.failure_reason == FailureReason.ERROR
    assert "Template render error" in (result.error or "")


def test_concurrency_limit_is_respected(tmp_path: Path) -> None:
    provider = SleepyProvider(0.02)
    cfg = _cfg(
        tmp_path, providers=[provider], tests=[{"vars": {"name": str(i)}} for i in range(40)]
    )
    started = time.perf_counter()
    summary = run_eval(cfg, RunOptions(max_concurrency=8))
    elapsed = time.perf_counter() - started
    assert provider.peak == 8
    assert summary.stats.successes == 40
    assert elapsed < 40 * 0.02  # parallel, not serial


def test_timeout_makes_an_error_result(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        providers=[SleepyProvider(1.0)],
        tests=[{"vars": {"name": "x"}}],
        evaluateOptions={"timeoutMs": 50},
    )
    (result,) = run_eval(cfg).results
    assert result.failure_reason == FailureReason.ERROR
    # promptfoo's words: its message, then String() of the Error it raced the step with.
    assert result.error == "Evaluation timed out after 50ms: Error: Evaluation timed out after 50ms"
    assert (result.latency_ms, result.prompt_raw) == (50.0, "Hi {{name}}")


def test_progress_callback_sees_every_result(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    cfg = _cfg(tmp_path, tests=[{"vars": {"name": str(i)}} for i in range(5)])
    run_eval(cfg, RunOptions(progress=lambda done, total, _r: seen.append((done, total))))
    assert seen == [(i, 5) for i in range(1, 6)]


def test_derived_metrics_and_pass_rate_exit_codes(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        tests=[
            {
                "vars": {"name": "a"},
                "assert": [{"type": "contains", "value": "a", "metric": "hit"}],
            },
            {
                "vars": {"name": "b"},
                "assert": [{"type": "contains", "value": "a", "metric": "hit"}],
            },
        ],
        derivedMetrics=[
            {"name": "rate", "value": "hit / __count"},
            {"name": "ghost", "value": "missing + 1"},
        ],
    )
    summary = run_eval(cfg)
    assert summary.prompts[0].metrics.named_scores == {"hit": 1.0, "rate": 0.5, "ghost": 0}
    assert summary.pass_rate == 50.0
    assert summary.exit_code({}) == 100
    assert summary.exit_code({"PROMPTFOO_PASS_RATE_THRESHOLD": "50"}) == 0
    assert summary.exit_code({"PROMPTFOO_FAILED_TEST_EXIT_CODE": "3"}) == 3


def test_config_env_sets_the_pass_rate_threshold(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        env={"PROMPTFOO_PASS_RATE_THRESHOLD": 0},
        tests=[{"vars": {"name": "b"}, "assert": [{"type": "contains", "value": "a"}]}],
    )
    assert run_eval(cfg).exit_code({}) == 0


def test_run_eval_works_inside_a_running_loop(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, tests=[{"vars": {"name": "x"}}])

    async def inner() -> int:
        return run_eval(cfg).stats.successes

    assert asyncio.run(inner()) == 1


def test_the_default_grader_is_one_per_run_and_closed_with_it(tmp_path: Path) -> None:
    """An 'Event loop is closed' traceback after a first eval run. Every
    model-graded assertion built a default grader of its own and never closed it, so each
    left a connection open when the run's loop ended."""
    from tests.stub_servers import stub_server

    with stub_server(reply=lambda body: '{"pass": true, "score": 1, "reason": "ok"}') as stub:
        cfg = _cfg(
            tmp_path,
            env={"OPENAI_BASE_URL": stub.openai_url, "OPENAI_API_KEY": "test"},
            tests=[
                {"vars": {"name": str(i)}, "assert": [{"type": "llm-rubric", "value": "polite"}]}
                for i in range(6)
            ],
        )
        summary = run_eval(cfg, RunOptions(max_concurrency=1))
        assert summary.stats.successes == 6 and stub.count == 6
        assert stub.connections == 1  # one grader, its connection kept alive across calls
        deadline = time.monotonic() + 5
        while stub.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stub.open_connections == 0  # closed by the run, not left to the GC
