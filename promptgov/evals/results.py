"""Result records of an eval run, shaped as promptfoo's ``EvaluateSummaryV3``.

One :class:`EvalResult` per (test, prompt, provider) cell, one :class:`PromptColumn` per
prompt × provider column with its metrics, and the :class:`EvalSummary` that reporters write
and the CLI turns into an exit code.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import math
import os
import platform
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from typing import Any

from .assertions.interface import GradingResult
from .providers.interface import ProviderResponse, TokenUsage

__all__ = [
    "DEFAULT_FAILED_TEST_EXIT_CODE",
    "EvalResult",
    "EvalStats",
    "EvalSummary",
    "FailureReason",
    "PromptColumn",
    "PromptMetrics",
]

#: promptfoo's exit code when the pass rate is under ``PROMPTFOO_PASS_RATE_THRESHOLD``.
DEFAULT_FAILED_TEST_EXIT_CODE = 100


class FailureReason(enum.IntEnum):
    """promptfoo's ``ResultFailureReason``."""

    #: The test passed, or failed without an assertion verdict (no output).
    NONE = 0
    #: An assertion (or the test's threshold) failed.
    ASSERT = 1
    #: The provider, a template or an assertion threw: the test could not be graded.
    ERROR = 2


def _clean_number(value: float) -> float | int | None:
    """A number as JavaScript writes it: NaN/Infinity as null, 1.0 as 1."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def _details() -> dict[str, int]:
    """promptfoo's ``completionDetails``: promptgov's providers report none of these."""
    return dict.fromkeys(
        (
            "reasoning",
            "acceptedPrediction",
            "rejectedPrediction",
            "cacheReadInputTokens",
            "cacheCreationInputTokens",
        ),
        0,
    )


def _counts(usage: TokenUsage) -> dict[str, Any]:
    return {
        "prompt": usage.prompt,
        "completion": usage.completion,
        "cached": usage.cached,
        "total": usage.total,
        "numRequests": usage.num_requests,
        "completionDetails": _details(),
    }


def _usage_dict(usage: TokenUsage, assertions: TokenUsage | None = None) -> dict[str, Any]:
    """promptfoo's full ``TokenUsage``: counts, ``completionDetails`` and the graders'
    ``assertions`` usage (promptfoo's ``createEmptyTokenUsage`` shape)."""
    return {**_counts(usage), "assertions": _counts(assertions or TokenUsage())}


def grading_usage(tokens: TokenUsage | None) -> TokenUsage:
    """What a grading's ``tokensUsed`` adds to a row's ``assertions`` usage.

    promptfoo (``accumulateGradingRequest``) counts no request for a grading that reports
    zero requests and no tokens (deterministic assertions), one for a grading without
    ``tokensUsed``.
    """
    if tokens is None:
        return TokenUsage(num_requests=1)
    fresh = tokens.total > 0 or tokens.prompt + tokens.completion > 0
    requests = (1 if fresh else 0) if tokens.num_requests == 0 else tokens.num_requests
    return dataclasses.replace(tokens, num_requests=requests)


def add_usage(target: TokenUsage, more: TokenUsage) -> None:
    target.total += more.total
    target.prompt += more.prompt
    target.completion += more.completion
    target.cached += more.cached
    target.num_requests += more.num_requests


@dataclass
class EvalResult:
    """One graded cell: a test's vars run through one prompt on one provider."""

    prompt_idx: int
    test_idx: int
    prompt_id: str
    prompt_label: str
    #: The rendered prompt sent to the provider (empty when rendering failed).
    prompt_raw: str
    provider_id: str
    provider_label: str
    vars: dict[str, Any]
    test_case: dict[str, Any]
    success: bool = False
    score: float = 0.0
    failure_reason: FailureReason = FailureReason.NONE
    error: str | None = None
    named_scores: dict[str, float] = field(default_factory=dict)
    named_score_weights: dict[str, float] = field(default_factory=dict)
    grading: GradingResult | None = None
    response: ProviderResponse | None = None
    latency_ms: float = 0.0
    cost: float | None = None
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    description: str | None = None
    repeat_index: int = 0
    prompt_config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: promptfoo's per-result ``id`` (a UUID), the same in every output file of the run.
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def output(self) -> Any:
        """The provider's (transformed) output, None for errors."""
        return self.response.output if self.response is not None else None

    @property
    def assertion_usage(self) -> TokenUsage:
        """The graders' token usage (promptfoo's ``tokenUsage.assertions``)."""
        return grading_usage(self.grading.tokens_used) if self.grading is not None else TokenUsage()

    def grading_dict(self) -> dict[str, Any] | None:
        """The ``gradingResult`` object, with promptfoo's ``namedScoreWeights``."""
        if self.grading is None:
            return None
        out = self.grading.to_dict()
        out["score"] = _clean_number(out["score"])
        out["namedScores"] = dict(self.grading.named_scores)
        if self.named_score_weights:
            out["namedScoreWeights"] = dict(self.named_score_weights)
        return out

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's ``EvaluateResult`` JSON (``EvalResult.toEvaluateResult``)."""
        out: dict[str, Any] = {
            "cost": _clean_number(self.cost) if self.cost is not None else 0,
            "gradingResult": self.grading_dict(),
            "id": self.id,
            "latencyMs": round(self.latency_ms),
            "namedScores": {k: _clean_number(v) for k, v in self.named_scores.items()},
            "prompt": {
                "raw": self.prompt_raw,
                "label": self.prompt_label,
                "config": self.prompt_config,
            },
            "promptId": self.prompt_id,
            "promptIdx": self.prompt_idx,
            "provider": {"id": self.provider_id, "label": self.provider_label},
            "score": _clean_number(self.score),
            "success": self.success,
            "testCase": self.test_case,
            "testIdx": self.test_idx,
            "tokenUsage": _usage_dict(self.token_usage, self.assertion_usage),
            "vars": self.vars,
            "metadata": self.metadata,
            "failureReason": int(self.failure_reason),
        }
        if self.error is not None:
            out["error"] = self.error
        if self.response is not None:
            out["response"] = _response_dict(self.response)
            # promptfoo merges the response's metadata into the row's, with its file metadata.
            out["metadata"] = {
                **self.metadata,
                **self.response.metadata,
                "_promptfooFileMetadata": {},
            }
        return out


def _response_dict(r: ProviderResponse) -> dict[str, Any]:
    """The ``response`` as the provider's own object, with what the run settled overlaid.

    A provider that keeps its response document (``ProviderResponse.fields``: a python
    script's returned dict, echo's object) is written with exactly its keys, as promptfoo
    writes it; others get the modelled keys.
    """
    if r.fields is not None:
        out = dict(r.fields)
        if "output" in out or r.error is None:
            out["output"] = r.output
        if "tokenUsage" in out:
            out["tokenUsage"] = _usage_dict(r.token_usage)
        if "metadata" in out:
            out["metadata"] = r.metadata
        if r.error is not None:
            out["error"] = r.error
        if "cached" in out or r.cached:
            out["cached"] = r.cached
        return out
    response: dict[str, Any] = {
        "output": r.output,
        "cached": r.cached,
        "tokenUsage": _usage_dict(r.token_usage),
    }
    if r.raw is not None:
        response["raw"] = r.raw
    if r.cost is not None:
        response["cost"] = _clean_number(r.cost)
    if r.finish_reason is not None:
        response["finishReason"] = r.finish_reason
    if r.error is not None:
        response["error"] = r.error
    response["metadata"] = r.metadata
    return response


@dataclass
class PromptMetrics:
    """Per-column sums, as in promptfoo's ``prompts[].metrics``."""

    score: float = 0.0
    test_pass_count: int = 0
    test_fail_count: int = 0
    test_error_count: int = 0
    assert_pass_count: int = 0
    assert_fail_count: int = 0
    total_latency_ms: float = 0.0
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    named_scores: dict[str, float] = field(default_factory=dict)
    named_scores_count: dict[str, int] = field(default_factory=dict)
    named_score_weights: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    #: The graders' usage over the column (``tokenUsage.assertions``).
    assertion_usage: TokenUsage = field(default_factory=TokenUsage)

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's camelCase JSON."""
        return {
            "score": _clean_number(self.score),
            "testPassCount": self.test_pass_count,
            "testFailCount": self.test_fail_count,
            "testErrorCount": self.test_error_count,
            "assertPassCount": self.assert_pass_count,
            "assertFailCount": self.assert_fail_count,
            "totalLatencyMs": round(self.total_latency_ms),
            "tokenUsage": _usage_dict(self.token_usage, self.assertion_usage),
            "namedScores": {k: _clean_number(v) for k, v in self.named_scores.items()},
            "namedScoresCount": dict(self.named_scores_count),
            "namedScoreWeights": {k: _clean_number(v) for k, v in self.named_score_weights.items()},
            "cost": _clean_number(self.cost),
        }


@dataclass
class PromptColumn:
    """One prompt × provider column of the results table."""

    id: str
    raw: str
    label: str
    provider: str
    metrics: PromptMetrics = field(default_factory=PromptMetrics)

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's ``CompletedPrompt`` JSON."""
        return {
            "id": self.id,
            "raw": self.raw,
            "label": self.label,
            "provider": self.provider,
            "metrics": self.metrics.to_dict(),
        }


@dataclass
class EvalStats:
    """Counts over every result (promptfoo's ``stats``)."""

    successes: int = 0
    failures: int = 0
    errors: int = 0
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    #: The graders' usage over the run (``tokenUsage.assertions``).
    assertion_usage: TokenUsage = field(default_factory=TokenUsage)

    @property
    def total(self) -> int:
        """Every graded cell: successes, failures and errors."""
        return self.successes + self.failures + self.errors

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's ``stats`` JSON."""
        return {
            "successes": self.successes,
            "failures": self.failures,
            "errors": self.errors,
            "tokenUsage": _usage_dict(self.token_usage, self.assertion_usage),
        }


@dataclass
class EvalSummary:
    """Everything one run produced; ``to_v3_dict()`` is promptfoo's output file."""

    eval_id: str
    timestamp: str
    results: list[EvalResult]
    prompts: list[PromptColumn]
    stats: EvalStats
    config: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    duration_ms: float = 0.0
    #: The config's ``env:`` (it can set the pass-rate threshold and exit code).
    env: dict[str, str] = field(default_factory=dict)
    #: Which engine produced the results: ``native`` or ``promptfoo``.
    engine: str = "native"
    #: How the run was made (promptfoo's ``runtimeOptions``: concurrency, repeat, cache…).
    runtime_options: dict[str, Any] = field(default_factory=dict)

    @property
    def var_names(self) -> list[str]:
        """Every variable name the results carry, in order of first use (promptfoo's ``vars``)."""
        names: dict[str, None] = {}
        for r in self.results:
            names.update(dict.fromkeys(r.vars))
        return list(names)

    @property
    def pass_rate(self) -> float:
        """Successes ÷ (successes + failures + errors) × 100; NaN when nothing ran."""
        total = self.stats.total
        return self.stats.successes / total * 100 if total else math.nan

    def exit_code(self, environ: Mapping[str, str] | None = None) -> int:
        """promptfoo's exit code: 100 (or ``PROMPTFOO_FAILED_TEST_EXIT_CODE``) when the pass
        rate is under ``PROMPTFOO_PASS_RATE_THRESHOLD`` (default 100), else 0.

        The config's ``env:`` overrides the process environment, as in promptfoo.
        """
        env = {**(os.environ if environ is None else environ), **self.env}
        threshold = _env_float(env.get("PROMPTFOO_PASS_RATE_THRESHOLD"), 100.0)
        code = _env_int(env.get("PROMPTFOO_FAILED_TEST_EXIT_CODE"), DEFAULT_FAILED_TEST_EXIT_CODE)
        rate = self.pass_rate
        if not math.isnan(rate) and rate < threshold:
            return code
        return 0

    def add_result_stats(self) -> None:
        """Recompute ``stats`` from ``results``."""
        stats = EvalStats()
        for r in self.results:
            if r.success:
                stats.successes += 1
            elif r.failure_reason == FailureReason.ERROR:
                stats.errors += 1
            else:
                stats.failures += 1
            add_usage(stats.token_usage, r.token_usage)
            add_usage(stats.assertion_usage, r.assertion_usage)
        self.stats = stats

    def record_output_paths(self, paths: list[str]) -> None:
        """Record the output files asked for on the command line as the config's
        ``outputPath``, as promptfoo does with ``-o`` (they replace the config's own)."""
        self.config = {**self.config, "outputPath": list(paths)}

    def provenance(self) -> dict[str, Any]:
        """The output's ``metadata``: what promptfoo's ``createOutputMetadata`` records, with
        promptgov's version and Python's in place of promptfoo's and Node's."""
        return {
            "promptgovVersion": _own_version(),
            "pythonVersion": platform.python_version(),
            "platform": sys.platform,
            "arch": _NODE_ARCH.get(platform.machine().lower(), platform.machine().lower()),
            "exportedAt": _now(),
            "evaluationCreatedAt": self.timestamp,
            "engine": self.engine,
        }

    def to_v3_dict(self) -> dict[str, Any]:
        """promptfoo's output JSON (``results.version == 3``), as ``createOutputData`` lays it out."""
        duration = round(self.duration_ms)
        out: dict[str, Any] = {
            "evalId": self.eval_id,
            "results": {
                "version": 3,
                "timestamp": self.timestamp,
                "prompts": [p.to_dict() for p in self.prompts],
                "results": [r.to_dict() for r in self.results],
                "stats": {
                    **self.stats.to_dict(),
                    "durationMs": duration,
                    "evaluationDurationMs": duration,
                },
            },
            "config": self.config,
            "shareableUrl": None,
            "metadata": self.provenance(),
        }
        names = self.var_names
        if names:
            out["vars"] = names
        if self.runtime_options:
            out["runtimeOptions"] = self.runtime_options
        return out


#: Python's ``platform.machine()`` spelled as Node's ``os.arch()``.
_NODE_ARCH = {
    "x86_64": "x64",
    "amd64": "x64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "ia32",
    "i686": "ia32",
    "armv7l": "arm",
    "ppc64le": "ppc64",
    "s390x": "s390x",
}


def _own_version() -> str:
    try:
        return _metadata.version("promptgov")
    except _metadata.PackageNotFoundError:
        return "0+unknown"


def _now() -> str:
    """An ISO timestamp in milliseconds with ``Z``, as JavaScript's ``toISOString``."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _env_float(value: str | None, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        parsed = float(value.strip())
    except ValueError:
        return default
    return parsed if math.isfinite(parsed) else default


def _env_int(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(float(value.strip()))
    except ValueError:
        return default
