"""``--engine promptfoo``: hand a config to a real promptfoo install and read its results back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, InvalidFile, NotFound
from .assertions.interface import GradingResult
from .providers.interface import ProviderResponse, TokenUsage
from .results import EvalResult, EvalStats, EvalSummary, FailureReason, PromptColumn, PromptMetrics

__all__ = ["find_promptfoo", "run_promptfoo", "summary_from_v3"]

#: Keeps promptfoo quiet and offline about itself.
_QUIET_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "PROMPTFOO_DISABLE_SHARING": "1",
}


def find_promptfoo(environ: Mapping[str, str] | None = None) -> str | None:
    """The ``promptfoo`` executable on PATH, or None."""
    env = os.environ if environ is None else environ
    return shutil.which("promptfoo", path=env.get("PATH"))


#: How long a whole ``promptfoo eval`` may run (``$PROMPTGOV_PROMPTFOO_TIMEOUT_S``).
DEFAULT_PROMPTFOO_TIMEOUT_S = 3600.0


def _timeout_s(env: Mapping[str, str]) -> float:
    raw = env.get("PROMPTGOV_PROMPTFOO_TIMEOUT_S")
    try:
        value = float(raw) if raw else DEFAULT_PROMPTFOO_TIMEOUT_S
    except ValueError:
        raise InvalidFile(
            f"PROMPTGOV_PROMPTFOO_TIMEOUT_S={raw!r} is not a number of seconds."
        ) from None
    if not value > 0:
        raise InvalidFile(f"PROMPTGOV_PROMPTFOO_TIMEOUT_S={raw!r} must be positive.")
    return value


def run_promptfoo(
    config: str | Path,
    *,
    no_cache: bool = False,
    max_concurrency: int | None = None,
    repeat: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> EvalSummary:
    """Run ``promptfoo eval`` on ``config`` and return its results as an :class:`EvalSummary`.

    promptfoo's own exit code (100 for failed tests) is not an error here: the summary
    carries the verdict.

    Raises:
        NotFound: no ``promptfoo`` on PATH, or the config does not exist.
        InvalidFile: promptfoo rejected the config (its message is included).
    """
    env = {**(os.environ if environ is None else environ), **_QUIET_ENV}
    exe = find_promptfoo(env)
    if exe is None:
        raise NotFound(
            "--engine promptfoo: no 'promptfoo' on PATH; install it or use --engine native"
        )
    path = Path(config)
    if not path.is_file():
        raise NotFound(f"config file not found: {path}")
    with tempfile.TemporaryDirectory(prefix="promptgov-pf-") as tmp:
        out = Path(tmp) / "out.json"
        cmd = [exe, "eval", "-c", str(path), "-o", str(out), "--no-table", "--no-progress-bar"]
        if no_cache:
            cmd.append("--no-cache")
        if max_concurrency:
            cmd += ["-j", str(max_concurrency)]
        if repeat:
            cmd += ["--repeat", str(repeat)]
        limit = _timeout_s(env)
        # Its own session, so a timeout stops promptfoo and every process it started.
        with subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        ) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise InputError(
                    f"promptfoo did not finish {path} within {limit:g}s; raise "
                    "PROMPTGOV_PROMPTFOO_TIMEOUT_S or make the suite smaller."
                ) from None
        if not out.is_file():
            tail = (stderr or stdout).strip().splitlines()[-5:]
            raise InvalidFile(f"promptfoo could not run {path}: " + " / ".join(tail))
        data = json.loads(out.read_text(encoding="utf-8"))
    return summary_from_v3(data)


def _usage(data: Mapping[str, Any] | None) -> TokenUsage:
    d = data or {}
    return TokenUsage(
        total=int(d.get("total") or 0),
        prompt=int(d.get("prompt") or 0),
        completion=int(d.get("completion") or 0),
        cached=int(d.get("cached") or 0),
        num_requests=int(d.get("numRequests") or 0),
    )


def _grading(data: Mapping[str, Any] | None) -> GradingResult | None:
    if not data:
        return None
    return GradingResult(
        passed=bool(data.get("pass")),
        score=float(data.get("score") or 0),
        reason=str(data.get("reason") or ""),
        named_scores=dict(data.get("namedScores") or {}),
        component_results=[
            g for g in (_grading(c) for c in data.get("componentResults") or []) if g is not None
        ],
        assertion=data.get("assertion"),
        metadata=dict(data.get("metadata") or {}),
    )


def _result(r: Mapping[str, Any]) -> EvalResult:
    response = r.get("response")
    prompt = r.get("prompt") or {}
    provider = r.get("provider") or {}
    grading = r.get("gradingResult")
    return EvalResult(
        prompt_idx=int(r.get("promptIdx") or 0),
        test_idx=int(r.get("testIdx") or 0),
        prompt_id=str(r.get("promptId") or ""),
        prompt_label=str(prompt.get("label") or ""),
        prompt_raw=str(prompt.get("raw") or ""),
        provider_id=str(provider.get("id") or ""),
        provider_label=str(provider.get("label") or ""),
        vars=dict(r.get("vars") or {}),
        test_case=dict(r.get("testCase") or {}),
        success=bool(r.get("success")),
        score=float(r.get("score") or 0),
        failure_reason=FailureReason(int(r.get("failureReason") or 0)),
        error=r.get("error"),
        named_scores=dict(r.get("namedScores") or {}),
        named_score_weights=dict((grading or {}).get("namedScoreWeights") or {}),
        grading=_grading(grading),
        response=ProviderResponse(
            output=response.get("output"),
            error=response.get("error"),
            token_usage=_usage(response.get("tokenUsage")),
            cost=response.get("cost"),
            cached=bool(response.get("cached")),
            metadata=dict(response.get("metadata") or {}),
            raw=response.get("raw"),
        )
        if isinstance(response, Mapping)
        else None,
        latency_ms=float(r.get("latencyMs") or 0),
        cost=r.get("cost"),
        token_usage=_usage(r.get("tokenUsage")),
        description=(r.get("testCase") or {}).get("description"),
        metadata=dict(r.get("metadata") or {}),
    )


def _column(p: Mapping[str, Any]) -> PromptColumn:
    m = p.get("metrics") or {}
    return PromptColumn(
        id=str(p.get("id") or ""),
        raw=str(p.get("raw") or ""),
        label=str(p.get("label") or ""),
        provider=str(p.get("provider") or ""),
        metrics=PromptMetrics(
            score=float(m.get("score") or 0),
            test_pass_count=int(m.get("testPassCount") or 0),
            test_fail_count=int(m.get("testFailCount") or 0),
            test_error_count=int(m.get("testErrorCount") or 0),
            assert_pass_count=int(m.get("assertPassCount") or 0),
            assert_fail_count=int(m.get("assertFailCount") or 0),
            total_latency_ms=float(m.get("totalLatencyMs") or 0),
            token_usage=_usage(m.get("tokenUsage")),
            named_scores=dict(m.get("namedScores") or {}),
            named_scores_count=dict(m.get("namedScoresCount") or {}),
            named_score_weights=dict(m.get("namedScoreWeights") or {}),
            cost=float(m.get("cost") or 0),
        ),
    )


def summary_from_v3(data: Mapping[str, Any]) -> EvalSummary:
    """Read promptfoo's v3 output JSON into the engine's records.

    Raises:
        InvalidFile: the document is not a v3 output (no ``results.results`` list).
    """
    body = data.get("results")
    if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
        raise InvalidFile("not a promptfoo v3 output: 'results.results' is missing")
    results = sorted(
        (_result(r) for r in body["results"]), key=lambda r: (r.test_idx, r.prompt_idx)
    )
    config = data.get("config") or {}
    env = {str(k): str(v) for k, v in (config.get("env") or {}).items()}
    summary = EvalSummary(
        eval_id=str(data.get("evalId") or ""),
        timestamp=str(body.get("timestamp") or ""),
        results=results,
        prompts=[_column(p) for p in body.get("prompts") or []],
        stats=EvalStats(),
        config=dict(config),
        description=config.get("description"),
        duration_ms=float((body.get("stats") or {}).get("durationMs") or 0),
        env=env,
        engine="promptfoo",
    )
    summary.add_result_stats()
    return summary
