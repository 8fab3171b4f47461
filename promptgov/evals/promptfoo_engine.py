"""``--engine promptfoo``: hand a config to a real promptfoo install and read its results back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import InputError, InvalidFile, NotFound
from .assertions.interface import GradingResult
from .config.loader import load_yaml, read_text
from .config.model import PromptResolver
from .providers.interface import ProviderResponse, TokenUsage
from .results import EvalResult, EvalStats, EvalSummary, FailureReason, PromptColumn, PromptMetrics

__all__ = ["Engine", "find_promptfoo", "run_promptfoo", "summary_from_v3"]


class Engine(StrEnum):
    """Which engine runs a suite."""

    NATIVE = "native"
    """promptgov's own promptfoo-compatible engine (the default)."""
    PROMPTFOO = "promptfoo"
    """A real ``promptfoo`` on PATH, handed the same config."""

    @classmethod
    def named(cls, name: str) -> Engine:
        """The engine called ``name``.

        Raises:
            InputError: no engine has that name.
        """
        try:
            return cls(name)
        except ValueError:
            names = ", ".join(e.value for e in cls)
            raise InputError(f"unknown engine {name!r}; use one of: {names}.") from None


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
    prompt_resolver: PromptResolver | None = None,
) -> EvalSummary:
    """Run ``promptfoo eval`` on ``config`` and return its results as an :class:`EvalSummary`.

    promptfoo's own exit code (100 for failed tests) is not an error here: the summary
    carries the verdict. With ``prompt_resolver``, every ``prompts:`` entry it resolves
    (``promptgov://NAME``) is handed to promptfoo as a prompt file holding the resolved
    text, under the resolved label; the rewritten config sits beside ``config`` for the
    run only, so its relative paths mean what they mean in ``config``.

    Raises:
        NotFound: no ``promptfoo`` on PATH, or the config does not exist.
        InvalidFile: promptfoo rejected the config (its message is included).
    """
    env = {**(os.environ if environ is None else environ), **_QUIET_ENV}
    exe = find_promptfoo(env)
    if exe is None:
        raise NotFound(
            "promptfoo engine: no 'promptfoo' on PATH; install it or use the native engine",
            cli_hint="Or use --engine native.",
        )
    path = Path(config)
    if not path.is_file():
        raise NotFound(f"config file not found: {path}")
    with tempfile.TemporaryDirectory(prefix="promptgov-pf-") as tmp:
        original: Any = None
        run_config = path
        if prompt_resolver is not None:
            run_config, original = _materialise(path, prompt_resolver, Path(tmp))
        try:
            data = _run(exe, path, run_config, Path(tmp), env, no_cache, max_concurrency, repeat)
        finally:
            if run_config != path:
                run_config.unlink(missing_ok=True)
    if original is not None and isinstance(data.get("config"), dict):
        data["config"]["prompts"] = original  # the suite's own entries, not the temp files
    return summary_from_v3(data)


def _materialise(path: Path, resolver: PromptResolver, tmp: Path) -> tuple[Path, Any]:
    """``path`` with each resolved prompt as a file under ``tmp``, written beside ``path``.

    Returns the rewritten config's path and the original ``prompts`` value.
    """
    where = str(path)
    data = load_yaml(read_text(path, where), where)
    if not isinstance(data, dict):
        raise InvalidFile(f"{where}: a promptfoo config is a mapping.")
    original = data.get("prompts")
    if isinstance(original, str):
        entries: list[Any] = [original]
    elif isinstance(original, Mapping):  # {path: label}
        entries = [{"id": k, "label": v} for k, v in original.items()]
    else:
        entries = list(original or [])
    rewritten: list[Any] = []
    for entry in entries:
        ref = entry.get("id") or entry.get("raw") if isinstance(entry, Mapping) else entry
        resolved = resolver(ref) if isinstance(ref, str) else None
        if resolved is None:
            rewritten.append(entry)
            continue
        for prompt in resolved:
            # .md: promptfoo keeps the file's text as it is (.txt would split it on '---').
            file = tmp / f"prompt-{len(rewritten)}.md"
            file.write_text(prompt.raw, encoding="utf-8")
            item: dict[str, Any] = {"id": f"file://{file}", "label": prompt.label}
            if isinstance(entry, Mapping) and entry.get("config"):
                item["config"] = entry["config"]
            rewritten.append(item)
    data["prompts"] = rewritten
    run_config = path.with_name(f".promptgov-run-{uuid.uuid4().hex[:12]}{path.suffix or '.yaml'}")
    text = json.dumps(data, ensure_ascii=False, default=str)  # JSON is YAML: one writer for both
    try:
        run_config.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the promptfoo config beside {path}: {exc.strerror or exc}"
        ) from exc
    return run_config, original


def _run(
    exe: str,
    path: Path,
    run_config: Path,
    tmp: Path,
    env: dict[str, str],
    no_cache: bool,
    max_concurrency: int | None,
    repeat: int | None,
) -> dict[str, Any]:
    """promptfoo's v3 output of ``run_config``, run in its directory."""
    out = tmp / "out.json"
    cmd = [exe, "eval", "-c", run_config.name, "-o", str(out), "--no-table", "--no-progress-bar"]
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
        cwd=run_config.parent,
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
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


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
            fields=dict(response),
        )
        if isinstance(response, Mapping)
        else None,
        latency_ms=float(r.get("latencyMs") or 0),
        cost=r.get("cost"),
        token_usage=_usage(r.get("tokenUsage")),
        description=(r.get("testCase") or {}).get("description"),
        metadata=dict(r.get("metadata") or {}),
        id=str(r.get("id") or uuid.uuid4()),
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
        runtime_options=dict(data.get("runtimeOptions") or {}),
    )
    summary.add_result_stats()
    return summary
