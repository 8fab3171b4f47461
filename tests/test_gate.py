"""The eval gate: arithmetic on hand-built promptfoo v3 results, regressions, config, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats as st

from promptgov.errors import InvalidFile
from promptgov.gate import (
    GateConfig,
    GateReport,
    GateRules,
    RegressionRules,
    evaluate_gate,
    rows_from_v3,
)
from promptgov.model import GateVerdict

from .conftest import run_cli, snapshot

NO_REGRESSION = RegressionRules(
    max_pass_rate_drop=None, max_metric_drop=None, max_cost_increase=None
)


def result(
    desc: str,
    ok: bool = True,
    *,
    error: bool = False,
    cost: float | None = None,
    latency: float | None = None,
    provider: str = "openai:chat:gpt-4o-mini",
    scores: dict[str, float] | None = None,
    failed_metrics: tuple[str, ...] = (),
    vars: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One result row in promptfoo v3 shape (failureReason 1 = assertion, 2 = error)."""
    components = [
        {
            "pass": m not in failed_metrics,
            "score": 0.0 if m in failed_metrics else 1.0,
            "assertion": {"type": "contains", "value": "x", "metric": m},
        }
        for m in sorted({*(scores or {}), *failed_metrics})
    ]
    row: dict[str, Any] = {
        "promptIdx": 0,
        "testCase": {"description": desc, "vars": vars or {"case": desc}},
        "vars": vars or {"case": desc},
        "provider": {"id": provider, "label": "model"},
        "success": ok and not error,
        "score": 1.0 if ok and not error else 0.0,
        "namedScores": scores or {},
        "gradingResult": {"pass": ok, "componentResults": components},
        "failureReason": 2 if error else (0 if ok else 1),
    }
    if error:
        row["error"] = "provider timed out"
    if cost is not None:
        row["cost"] = cost
    if latency is not None:
        row["latencyMs"] = latency
    return row


def v3(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A promptfoo v3 output document around ``rows``."""
    ok = sum(r["success"] for r in rows)
    err = sum(r["failureReason"] == 2 for r in rows)
    return {
        "evalId": "eval-test",
        "results": {
            "version": 3,
            "results": rows,
            "stats": {"successes": ok, "failures": len(rows) - ok - err, "errors": err},
        },
    }


def outcomes(passed: int, failed: int, **kw: Any) -> list[dict[str, Any]]:
    """``passed`` passing and ``failed`` failing rows with distinct descriptions."""
    return [result(f"t{i}", i < passed, **kw) for i in range(passed + failed)]


def gate(
    rows: list[dict[str, Any]], baseline: list[dict[str, Any]] | None = None, **rules: Any
) -> GateReport:
    """Evaluate ``rules`` (over the built-in defaults) on hand-built rows."""
    config = GateConfig.model_validate({"defaults": rules})
    return evaluate_gate(
        rows_from_v3(v3(rows)),
        config.rules(None, "prod"),
        env="prod",
        baseline=rows_from_v3(v3(baseline)) if baseline is not None else None,
        baseline_label="base" if baseline is not None else None,
    )


def check(report: Any, name: str) -> Any:
    matching = [c for c in report.checks if c.name == name]
    assert len(matching) == 1, [c.name for c in report.checks]
    return matching[0]


# --------------------------------------------------------------------------- reading results


def test_rows_from_v3_reads_what_the_gate_needs() -> None:
    rows = rows_from_v3(
        v3(
            [
                result("a", cost=0.5, latency=12, scores={"acc": 0.5}, failed_metrics=("safety",)),
                result("b", error=True, provider="anthropic:claude"),
            ]
        )
    )
    assert rows[0].description == "a" and rows[0].success and not rows[0].error
    assert rows[0].cost == 0.5 and rows[0].latency_ms == 12
    assert rows[0].named_scores == {"acc": 0.5}
    assert rows[0].failed_metrics == frozenset({"safety"})
    assert rows[0].provider == "openai:chat:gpt-4o-mini"
    assert rows[1].error and not rows[1].success and rows[1].provider == "anthropic:claude"


@pytest.mark.parametrize("doc", [{"x": 1}, {"results": 3}, [], {"results": {"results": {"a": 1}}}])
def test_rows_from_v3_refuses_other_documents(doc: Any) -> None:
    with pytest.raises(InvalidFile, match="results"):
        rows_from_v3(doc, "out.json")


# --------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("passed", "failed", "minimum", "status"),
    [(9, 1, 0.9, "pass"), (8, 2, 0.9, "fail"), (10, 0, 1.0, "pass"), (19, 1, 1.0, "fail")],
)
def test_min_pass_rate_on_each_side(passed: int, failed: int, minimum: float, status: str) -> None:
    report = gate(outcomes(passed, failed), min_pass_rate=minimum)
    c = check(report, "pass rate")
    assert c.status == status
    assert c.measured == pytest.approx(passed / (passed + failed))
    assert c.detail.startswith(f"{passed}/{passed + failed} passed")
    assert report.verdict is (GateVerdict.PASS if status == "pass" else GateVerdict.FAIL)
    assert report.exit_code == (0 if status == "pass" else 1)


@pytest.mark.parametrize(("count_errors", "status"), [(True, "fail"), (False, "pass")])
def test_errors_count_as_failures_or_are_left_out(count_errors: bool, status: str) -> None:
    rows = [*outcomes(8, 1), result("err", error=True)]
    report = gate(rows, min_pass_rate=0.88, errors_count_as_failures=count_errors)
    c = check(report, "pass rate")
    assert c.status == status
    assert c.measured == pytest.approx(0.8 if count_errors else 8 / 9, abs=1e-6)
    assert ("errors excluded" in c.detail) is (not count_errors)


def test_only_errors_with_errors_excluded_is_not_a_pass() -> None:
    report = gate(
        [result("e1", error=True), result("e2", error=True)], errors_count_as_failures=False
    )
    assert check(report, "pass rate").status == "fail"


@pytest.mark.parametrize(("minimum", "status"), [(0.75, "pass"), (0.76, "fail")])
def test_per_metric_minimum(minimum: float, status: str) -> None:
    rows = [result(f"t{i}", scores={"accuracy": s}) for i, s in enumerate([1.0, 0.5, 1.0, 0.5])]
    report = gate(rows, metrics={"accuracy": {"min": minimum}})
    c = check(report, "metric accuracy")
    assert (c.status, c.measured, c.threshold) == (status, 0.75, minimum)


def test_metric_no_result_reports_is_inconclusive() -> None:
    report = gate(outcomes(3, 0), metrics={"tone": {"min": 0.5}})
    assert check(report, "metric tone").status == "inconclusive"
    assert report.verdict is GateVerdict.INCONCLUSIVE and report.exit_code == 3


def test_critical_test_must_pass_even_when_the_rate_is_enough() -> None:
    rows = [result("refund request", False), *outcomes(9, 0)]
    report = gate(rows, min_pass_rate=0.9, critical_tests=["refund request"])
    assert check(report, "pass rate").status == "pass"
    c = check(report, "critical test 'refund request'")
    assert (c.status, c.measured) == ("fail", "0/1")
    assert report.verdict is GateVerdict.FAIL


def test_critical_test_passing_and_missing() -> None:
    rows = [result("refund request"), *outcomes(3, 0)]
    report = gate(rows, critical_tests=["refund request", "escalation"])
    assert check(report, "critical test 'refund request'").status == "pass"
    missing = check(report, "critical test 'escalation'")
    assert missing.status == "fail" and missing.detail == "no result with this description"


def test_critical_metric_fails_on_a_single_failed_assertion() -> None:
    rows = [result("ok", scores={"safety": 1.0}), result("bad", False, failed_metrics=("safety",))]
    report = gate(rows, min_pass_rate=0.5, critical_metrics=["safety"])
    c = check(report, "critical metric safety")
    assert (c.status, c.measured, c.detail) == ("fail", "1 failing", "bad")
    clean = gate([result("ok", scores={"safety": 1.0})], critical_metrics=["safety"])
    assert check(clean, "critical metric safety").status == "pass"


@pytest.mark.parametrize(("limit", "status"), [(0.002, "pass"), (0.0019, "fail")])
def test_max_mean_cost_per_call(limit: float, status: str) -> None:
    rows = [result(f"t{i}", cost=c) for i, c in enumerate([0.001, 0.002, 0.003])]
    c = check(gate(rows, max_cost_per_call=limit), "mean cost per call")
    assert c.status == status and c.measured == pytest.approx(0.002)


def test_cost_limit_without_reported_cost_is_inconclusive() -> None:
    c = check(gate(outcomes(3, 0), max_cost_per_call=0.01), "mean cost per call")
    assert c.status == "inconclusive" and c.detail == "no result reports a cost"


@pytest.mark.parametrize("offset", [0.0, -0.1])
def test_p95_latency_nearest_rank(offset: float) -> None:
    latencies = [float(x) for x in np.random.default_rng(7).permutation(np.arange(1, 41) * 10)]
    expected = float(np.percentile(latencies, 95, method="inverted_cdf"))  # nearest rank
    rows = [result(f"t{i}", latency=v) for i, v in enumerate(latencies)]
    c = check(gate(rows, max_p95_latency_ms=expected + offset), "p95 latency ms")
    assert c.measured == expected == 380.0
    assert c.status == ("pass" if offset == 0 else "fail")


def test_allowed_providers_are_glob_patterns() -> None:
    rows = [
        result("a"),
        result("b", provider="openai:chat:gpt-4o"),
        result("c", provider="ollama:llama3"),
    ]
    c = check(gate(rows, allowed_providers=["openai:*"]), "allowed providers")
    assert c.status == "fail" and c.detail == "ollama:llama3"
    ok = check(gate(rows, allowed_providers=["openai:*", "ollama:*"]), "allowed providers")
    assert ok.status == "pass"


@pytest.mark.parametrize(("n", "status"), [(2, "inconclusive"), (3, "pass")])
def test_min_results(n: int, status: str) -> None:
    report = gate(outcomes(n, 0), min_results=3)
    assert check(report, "min results").status == status
    assert report.exit_code == (3 if status == "inconclusive" else 0)


def test_fail_outweighs_inconclusive() -> None:
    report = gate(outcomes(1, 1), min_results=5)
    assert {"inconclusive", "fail"} <= {c.status for c in report.checks}
    assert report.verdict is GateVerdict.FAIL


def _cached(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    for row in rows[:n]:
        row["response"] = {"output": "x", "cached": True}
    return rows


@pytest.mark.parametrize(("cached", "status"), [(0, "pass"), (2, "pass"), (3, "fail"), (4, "fail")])
def test_evidence_mostly_from_the_response_cache_fails_by_default(cached: int, status: str) -> None:
    report = gate(_cached(outcomes(4, 0), cached))
    c = check(report, "cached answers")
    assert c.status == status and c.detail.startswith(f"{cached}/4 from the response cache")
    assert (report.verdict is GateVerdict.FAIL) == (status == "fail")


def test_a_policy_may_accept_cached_evidence() -> None:
    report = gate(_cached(outcomes(4, 0), 4), max_cached_fraction=1)
    assert check(report, "cached answers").status == "pass"
    assert report.verdict is GateVerdict.PASS


# --------------------------------------------------------------------------- regressions


def _fisher_p(bs: int, bn: int, cs: int, cn: int) -> float:
    return float(st.fisher_exact([[cs, cn - cs], [bs, bn - bs]], alternative="less").pvalue)


@pytest.mark.parametrize(
    ("current", "status"),
    [
        (30, "fail"),  # drop 0.25 > 0.1, p≈0.0005: significant
        (35, "fail"),  # drop 0.125 > 0.1, p≈0.027: significant at 0.05
        (36, "pass"),  # drop 0.1: at the limit
        (38, "pass"),
    ],
)
def test_pass_rate_regression_uses_fisher(current: int, status: str) -> None:
    report = gate(
        outcomes(current, 40 - current),
        outcomes(40, 0),
        min_pass_rate=0.0,
        regression={"max_pass_rate_drop": 0.1, "max_metric_drop": None, "max_cost_increase": None},
    )
    c = check(report, "regression: pass rate drop")
    p = _fisher_p(40, 40, current, 40)
    assert c.status == status
    assert c.measured == pytest.approx((40 - current) / 40)
    assert f"Fisher exact, n=40→40, p={p:.4g}" == c.detail


def test_pass_rate_drop_beyond_limit_but_not_significant_is_inconclusive() -> None:
    report = gate(
        outcomes(18, 2),
        outcomes(20, 0),
        min_pass_rate=0.0,
        regression={"max_pass_rate_drop": 0.0, "alpha": 0.05},
    )
    c = check(report, "regression: pass rate drop")
    p = _fisher_p(20, 20, 18, 20)
    assert p > 0.05
    assert c.status == "inconclusive" and c.detail.endswith(f"p={p:.4g}")
    assert report.verdict is GateVerdict.INCONCLUSIVE


def test_regression_with_too_few_samples_is_inconclusive() -> None:
    report = gate(outcomes(0, 4), outcomes(4, 0), min_pass_rate=0.0, regression={"min_samples": 5})
    c = check(report, "regression: pass rate drop")
    assert c.status == "inconclusive" and c.detail == "Fisher exact, n=4→4, p=n/a"
    assert report.exit_code == 3


def test_metric_regression_uses_mann_whitney() -> None:
    base = [result(f"t{i}", scores={"accuracy": 0.9 + i / 100}) for i in range(10)]
    worse = [result(f"t{i}", scores={"accuracy": 0.6 + i / 100}) for i in range(10)]
    slightly = [result(f"t{i}", scores={"accuracy": 0.88 + i / 100}) for i in range(10)]
    rules = {
        "regression": {
            "max_pass_rate_drop": None,
            "max_metric_drop": 0.05,
            "max_cost_increase": None,
        }
    }
    c = check(gate(worse, base, **rules), "regression: metric accuracy")
    p = float(
        st.mannwhitneyu(
            [0.9 + i / 100 for i in range(10)],
            [0.6 + i / 100 for i in range(10)],
            alternative="greater",
        ).pvalue
    )
    assert c.status == "fail" and c.measured == pytest.approx(0.3)
    assert c.detail == f"Mann-Whitney, n=10→10, p={p:.4g}"
    assert check(gate(slightly, base, **rules), "regression: metric accuracy").status == "pass"


@pytest.mark.parametrize(
    ("factor", "status"),
    [
        (2.5, "fail"),
        (1.3, "inconclusive"),
        (1.2, "pass"),
    ],  # +150 % significant; +30 % not; +20 % within
)
def test_cost_regression_is_relative_and_tested(factor: float, status: str) -> None:
    base_costs = [0.001 * (i + 1) for i in range(12)]
    base = [result(f"t{i}", cost=c) for i, c in enumerate(base_costs)]
    current = [result(f"t{i}", cost=c * factor) for i, c in enumerate(base_costs)]
    rules = {
        "regression": {
            "max_pass_rate_drop": None,
            "max_metric_drop": None,
            "max_cost_increase": 0.25,
        }
    }
    c = check(gate(current, base, **rules), "regression: cost increase")
    p = float(
        st.mannwhitneyu([x * factor for x in base_costs], base_costs, alternative="greater").pvalue
    )
    assert c.measured == pytest.approx(factor - 1)
    assert c.status == status
    assert c.detail == f"Mann-Whitney, n=12→12, p={p:.4g}"
    if status != "pass":
        assert (p <= 0.05) is (status == "fail")


def test_latency_regression_only_when_configured() -> None:
    base = [result(f"t{i}", latency=100 + i) for i in range(8)]
    slow = [result(f"t{i}", latency=300 + i) for i in range(8)]
    off = gate(slow, base)
    assert not [c for c in off.checks if c.name == "regression: latency increase"]
    on = gate(slow, base, regression={"max_latency_increase": 0.5})
    c = check(on, "regression: latency increase")
    p = float(
        st.mannwhitneyu(
            [300 + i for i in range(8)], [100 + i for i in range(8)], alternative="greater"
        ).pvalue
    )
    mean_b, mean_c = sum(100 + i for i in range(8)) / 8, sum(300 + i for i in range(8)) / 8
    assert c.measured == pytest.approx(mean_c / mean_b - 1, abs=1e-6)
    assert c.status == "fail" and p <= 0.05


def test_newly_failing_and_newly_passing_tests() -> None:
    base = [result("a"), result("b"), result("c", False), result("d")]
    cur = [result("a"), result("b", False), result("c"), result("e", False)]
    report = gate(cur, base, min_pass_rate=0.0)
    assert report.newly_failing == ["b"]
    assert report.newly_passing == ["c"]
    assert report.baseline_samples == 4
    md = report.to_markdown()
    assert "Newly failing: b" in md and "Newly passing: c" in md


def test_same_description_with_other_vars_is_another_test() -> None:
    base = [result("x", vars={"n": 1}), result("x", vars={"n": 2})]
    cur = [result("x", False, vars={"n": 1}), result("x", vars={"n": 2})]
    report = gate(cur, base, min_pass_rate=0.0)
    assert report.newly_failing == ["x"] and report.newly_passing == []


# --------------------------------------------------------------------------- config


def test_rules_merge_defaults_environment_and_prompt() -> None:
    config = GateConfig.model_validate(
        {
            "defaults": {
                "min_pass_rate": 0.9,
                "metrics": {"accuracy": {"min": 0.8}},
                "regression": {"alpha": 0.01},
            },
            "environments": {"prod": {"min_pass_rate": 0.95, "max_cost_per_call": 0.01}},
            "prompts": {"greet": {"all": {"min_results": 10}, "prod": {"min_pass_rate": 1.0}}},
        }
    )
    prod = config.rules("greet", "prod")
    assert prod.min_pass_rate == 1.0 and prod.min_results == 10 and prod.max_cost_per_call == 0.01
    assert prod.metrics is not None and prod.metrics["accuracy"].min == 0.8
    assert isinstance(prod.regression, RegressionRules)
    assert prod.regression.alpha == 0.01 and prod.regression.max_metric_drop == 0.05
    dev = config.rules("other", "dev")
    assert (dev.min_pass_rate, dev.min_results, dev.max_cost_per_call) == (0.9, 1, None)
    assert dev.errors_count_as_failures is True


def test_nested_rules_from_a_file_are_applied() -> None:
    """Metric minimums and regression settings given in the gate file take effect."""
    report = gate(
        [result(f"t{i}", scores={"accuracy": 0.5}) for i in range(6)],
        [result(f"t{i}", scores={"accuracy": 1.0}) for i in range(6)],
        metrics={"accuracy": {"min": 0.9}},
        regression={"max_metric_drop": 0.1, "max_pass_rate_drop": None, "max_cost_increase": None},
    )
    assert check(report, "metric accuracy").status == "fail"
    assert check(report, "regression: metric accuracy").status == "fail"


def test_gate_rules_reject_out_of_range_values() -> None:
    with pytest.raises(ValueError):
        GateRules(min_pass_rate=1.5)


# --------------------------------------------------------------------------- CLI, standalone


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc) if path.suffix == ".json" else yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("rows", "code", "verdict"),
    [
        (outcomes(10, 0), 0, "pass"),
        (outcomes(9, 1), 1, "fail"),
        (outcomes(2, 0), 3, "inconclusive"),
    ],
)
def test_gate_results_cli_exit_codes(
    tmp_path: Path, rows: list[Any], code: int, verdict: str
) -> None:
    out = _write(tmp_path / "out.json", v3(rows))
    gate_file = _write(
        tmp_path / "gate.yml", {"defaults": {"min_pass_rate": 0.95, "min_results": 3}}
    )
    res = run_cli(
        "gate", "--results", out, "--gate-file", gate_file, "--env", "prod", "--json", cwd=tmp_path
    )
    assert res.exit_code == code, res.stderr
    data = json.loads(res.stdout)
    assert data["verdict"] == verdict and data["samples"] == len(rows)


def test_gate_results_cli_uses_ci_gate_file_of_cwd_and_baseline(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    _write(tmp_path / "ci/eval-gate.yml", {"defaults": {"min_pass_rate": 0.5}})
    _write(tmp_path / "out.json", v3([result("a"), result("b", False)]))
    _write(tmp_path / "base.json", v3([result("a"), result("b")]))
    res = run_cli(
        "gate", "--results", "out.json", "--baseline-results", "base.json", "--json", cwd=tmp_path
    )
    data = json.loads(res.stdout)
    assert next(c for c in data["checks"] if c["name"] == "pass rate")["status"] == "pass"
    assert data["newly_failing"] == ["b"] and data["baseline_samples"] == 2
    # a pass-rate drop of 0.5 on 2 samples per side cannot be told apart from chance
    assert res.exit_code == 3 and data["verdict"] == "inconclusive"


def test_gate_results_cli_writes_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = _write(tmp_path / "out.json", v3(outcomes(1, 1)))
    (tmp_path / "defaults.yml").write_text("")  # an empty gate file: the built-in defaults
    res = run_cli(
        "gate", "--results", out, "--prompt", "greet", "--gate-file", "defaults.yml", cwd=tmp_path
    )
    assert res.exit_code == 1
    text = summary.read_text()
    assert "### Eval gate for greet → prod: **fail**" in text
    assert "| pass rate | ❌ fail | 1 | 0.5 | — |" in text


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            "defaults:\n  min_pass_rate: 1.5\n",
            "defaults.min_pass_rate: Input should be less than or equal to 1",
        ),
        ("defaults:\n  min_pass_rat: 1\n", "defaults.min_pass_rat: Extra inputs are not permitted"),
        ("defaults: [\n", "malformed YAML"),
        (
            "environments:\n  prod:\n    regression: {alpha: 2}\n",
            "environments.prod.regression.alpha",
        ),
    ],
)
def test_bad_gate_file_is_a_clear_error(tmp_path: Path, content: str, fragment: str) -> None:
    out = _write(tmp_path / "out.json", v3(outcomes(1, 0)))
    (tmp_path / "gate.yml").write_text(content)
    before = snapshot(tmp_path)
    res = run_cli("gate", "--results", out, "--gate-file", tmp_path / "gate.yml", cwd=tmp_path)
    assert res.exit_code == 2
    assert fragment in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    assert snapshot(tmp_path) == before


def test_results_file_that_is_not_v3_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "out.json").write_text("{not json")
    res = run_cli("gate", "--results", tmp_path / "out.json", cwd=tmp_path)
    assert res.exit_code == 2 and "is not valid JSON" in res.stderr
    res = run_cli("gate", cwd=tmp_path)
    assert res.exit_code == 2 and "give name@version, or --results out.json" in res.stderr


def test_math_sanity_of_fixtures() -> None:
    """The hand-built documents say what the tests assume (stats agree with rows)."""
    doc = v3([*outcomes(3, 2), result("e", error=True)])
    assert doc["results"]["stats"] == {"successes": 3, "failures": 2, "errors": 1}
    assert math.isclose(sum(r["success"] for r in doc["results"]["results"]) / 6, 0.5)


def test_gate_results_without_a_gate_file_is_refused_not_passed_on_defaults(
    tmp_path: Path,
) -> None:
    """'gate --results' with no gate file silently passed on the defaults."""
    out = _write(tmp_path / "out.json", v3(outcomes(3, 0)))
    before = snapshot(tmp_path)
    res = run_cli("gate", "--results", out, "--json", cwd=tmp_path)
    assert res.exit_code == 2
    message = (
        f"no gate file: none was named and there is no ci/eval-gate.yml in {tmp_path}; name "
        "one (an empty file gates on the built-in defaults: every test must pass)."
    )
    assert " ".join(res.stderr.split()) == f"error: {message}"
    assert json.loads(res.stdout) == {"error": message, "exit_code": 2, "kind": "NotFound"}
    assert snapshot(tmp_path) == before
