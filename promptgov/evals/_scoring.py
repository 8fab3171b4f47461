"""Scoring as promptfoo does it: a test from its assertions, a prompt column from its results.

:class:`Aggregate` is promptfoo's ``AssertionsResult`` (weighted mean, ``threshold``,
``weight: 0``, named metrics); :func:`summarise` sums results into per-column metrics and
re-evaluates ``derivedMetrics`` after each row, as ``updateDerivedMetrics`` does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from ._steps import Column
from .assertions.interface import GradingResult
from .config import EvalConfig
from .js import _mathexpr
from .providers.interface import TokenUsage
from .results import (
    EvalResult,
    FailureReason,
    PromptColumn,
    PromptMetrics,
    add_usage,
)
from .templating import TemplateError, js_str, render

__all__ = ["Aggregate", "render_metric", "summarise"]


class Aggregate:
    """promptfoo's ``AssertionsResult``: weighted mean, threshold, named metrics."""

    def __init__(self, threshold: float | None) -> None:
        self.threshold = threshold
        self.total_score = 0.0
        self.total_weight = 0.0
        self.failed_reason: str | None = None
        self.components: dict[int, GradingResult] = {}
        self.named: dict[str, float] = {}
        self.named_weights: dict[str, float] = {}

    def add(
        self,
        index: int,
        result: GradingResult,
        metric: str | None,
        weight: float,
        weights_in: Mapping[str, float] | None = None,
    ) -> None:
        self.total_score += result.score * weight
        self.total_weight += weight
        self.components[index] = result
        if metric:
            self.named[metric] = self.named.get(metric, 0.0) + result.score * weight
            self.named_weights[metric] = self.named_weights.get(metric, 0.0) + weight
        for name, score in result.named_scores.items():
            if name != metric:
                w = (weights_in or {}).get(name, 1.0) * weight
                self.named[name] = self.named.get(name, 0.0) + score * w
                self.named_weights[name] = self.named_weights.get(name, 0.0) + w
        if not result.passed:
            self.failed_reason = result.reason

    def result(self) -> tuple[GradingResult, dict[str, float]]:
        score = self.total_score / self.total_weight if self.total_weight > 0 else 0.0
        passed = self.failed_reason is None
        reason = self.failed_reason if self.failed_reason is not None else "All assertions passed"
        if self.threshold is not None and not math.isnan(self.threshold):
            passed = score >= self.threshold
            reason = (
                f"Aggregate score {score:.2f} {'≥' if passed else '<'} "
                f"{js_str(self.threshold)} threshold"
            )
        flat: list[GradingResult] = []
        for _, comp in sorted(self.components.items()):
            flat.append(comp)
            for sub in comp.component_results:
                if sub.assertion is None and comp.assertion is not None:
                    sub = dataclasses.replace(sub, assertion=comp.assertion)
                flat.append(sub)
        named = {
            k: (v / self.named_weights[k] if self.named_weights.get(k, 0) > 0 else 0.0)
            for k, v in self.named.items()
        }
        # promptfoo's AssertionsResult sums its components' tokensUsed (zeros if none).
        tokens = TokenUsage()
        for comp in self.components.values():
            if comp.tokens_used is not None:
                add_usage(tokens, comp.tokens_used)
        return (
            GradingResult(
                passed=passed,
                score=score,
                reason=reason,
                named_scores=named,
                tokens_used=tokens,
                component_results=flat,
            ),
            dict(self.named_weights),
        )


def render_metric(
    metric: str | None, vars_: Mapping[str, Any], env: Mapping[str, str]
) -> str | None:
    """Metric names are rendered with the test's vars; a failing render keeps the name."""
    if not metric:
        return metric
    try:
        return render(metric, vars_, env)
    except TemplateError:
        return metric


def _contributing(result: EvalResult, metric: str, env: Mapping[str, str]) -> int:
    grading = result.grading
    count = 0
    if grading is not None:
        for comp in grading.component_results:
            name = (comp.assertion or {}).get("metric")
            if render_metric(name, result.test_case.get("vars") or {}, env) == metric:
                count += 1
    return count or 1


def summarise(
    cfg: EvalConfig, columns: list[Column], results: list[EvalResult], env: Mapping[str, str]
) -> list[PromptColumn]:
    prompts = [
        PromptColumn(
            id=c.prompt.prompt_id,
            raw=c.prompt.raw,
            label=c.prompt.label,
            provider=c.entry.reported_key,
        )
        for c in columns
    ]
    counts = [0] * len(prompts)
    for r in results:
        m = prompts[r.prompt_idx].metrics
        counts[r.prompt_idx] += 1
        m.score += r.score
        for name, value in r.named_scores.items():
            n = _contributing(r, name, env)
            if name in r.named_score_weights:
                weight = r.named_score_weights[name]
                weighted = value * weight
            else:
                weight, weighted = float(n), value
            m.named_scores[name] = m.named_scores.get(name, 0.0) + weighted
            m.named_scores_count[name] = m.named_scores_count.get(name, 0) + n
            m.named_score_weights[name] = m.named_score_weights.get(name, 0.0) + weight
        if cfg.derived_metrics:
            _derive(m, cfg.derived_metrics, counts[r.prompt_idx])
        if r.success:
            m.test_pass_count += 1
        elif r.failure_reason == FailureReason.ERROR:
            m.test_error_count += 1
        else:
            m.test_fail_count += 1
        if r.grading is not None:
            for comp in r.grading.component_results:
                if comp.passed:
                    m.assert_pass_count += 1
                else:
                    m.assert_fail_count += 1
        m.total_latency_ms += r.latency_ms
        add_usage(m.token_usage, r.token_usage)
        add_usage(m.assertion_usage, r.assertion_usage)
        m.cost += r.cost or 0.0
    return prompts


def _derive(metrics: PromptMetrics, derived: list[dict[str, Any]], count: int) -> None:
    """promptfoo's ``updateDerivedMetrics``: formulas over the running sums, after each row."""
    scope: dict[str, Any] = {**metrics.named_scores, "__count": count}
    for item in derived:
        name = item["name"]
        metrics.named_scores.setdefault(name, 0.0)
        try:
            metrics.named_scores[name] = _mathexpr.evaluate(item["value"], scope)
        except _mathexpr.ExpressionError:
            continue
