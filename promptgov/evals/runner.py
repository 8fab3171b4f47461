"""Running a loaded config: build promptfoo's eval steps, call providers, grade, score, sum up.

The order of steps, the ``promptIdx``/``testIdx`` numbering, the scoring of a test from its
assertions (weighted mean, ``threshold``, ``weight: 0``, ``assert-set``, named metrics) and
the per-prompt metrics with ``derivedMetrics`` all follow promptfoo 0.123's evaluator. Calls
run on one asyncio loop, at most ``max_concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as _dt
import glob as _glob
import json
import math
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidFile
from . import _scripts, js
from ._transform import apply_transform
from .assertions.interface import AssertionContext, AssertionSpec, GradingResult
from .config import EvalConfig, Prompt, ProviderEntry, TestCase
from .errors import EvalError
from .js import _mathexpr
from .providers.interface import CallContext, Provider, ProviderError, ProviderResponse, TokenUsage
from .results import (
    EvalResult,
    EvalStats,
    EvalSummary,
    FailureReason,
    PromptColumn,
    PromptMetrics,
    add_usage,
)
from .templating import TemplateError, js_str, render, render_prompt

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "ProgressCallback",
    "RunOptions",
    "run_eval",
    "run_eval_async",
]

#: promptfoo's default ``maxConcurrency``.
DEFAULT_MAX_CONCURRENCY = 4

#: Called after each result with (done, total, result).
ProgressCallback = Callable[[int, int, EvalResult], None]


@dataclass(frozen=True)
class RunOptions:
    """How to run: the CLI flags, overriding the config's ``evaluateOptions``."""

    max_concurrency: int | None = None
    no_cache: bool = False
    repeat: int | None = None
    delay_ms: int | None = None
    timeout_ms: int | None = None
    progress: ProgressCallback | None = None
    #: The environment to read (``env.X`` in templates, provider keys); default ``os.environ``.
    environ: Mapping[str, str] | None = None


# --------------------------------------------------------------------------- steps


@dataclass
class _Test:
    """A test after defaultTest merging, before variable expansion."""

    vars: dict[str, Any]
    asserts: list[AssertionSpec]
    threshold: float | None
    options: dict[str, Any]
    metadata: dict[str, Any]
    description: str | None
    provider: Any
    provider_output: Any
    prompts: list[str] | None
    providers: list[str] | None
    raw: dict[str, Any]


@dataclass
class _Column:
    prompt_idx: int
    prompt: Prompt
    entry: ProviderEntry
    provider: Provider


@dataclass
class _Step:
    index: int
    column: _Column
    test: _Test
    vars: dict[str, Any]
    test_idx: int
    repeat_index: int
    prefix: str
    suffix: str


def _merge_default(test: TestCase | _Test, default: TestCase | None) -> _Test:
    """promptfoo's ``prepareTestCaseForEval`` + ``prepareTestVariables``."""
    d = default
    options = {**(d.options if d else {}), **test.options}
    asserts = list(test.asserts)
    if d is not None and options.get("disableDefaultAsserts") is not True:
        asserts = [*d.asserts, *asserts]
    return _Test(
        vars={**(d.vars if d else {}), **test.vars},
        asserts=asserts,
        threshold=test.threshold if test.threshold is not None else (d.threshold if d else None),
        options=options,
        metadata={**(d.metadata if d else {}), **test.metadata},
        description=test.description,
        provider=test.provider if test.provider is not None else (d.provider if d else None),
        provider_output=test.provider_output,
        prompts=test.prompts if test.prompts is not None else (d.prompts if d else None),
        providers=test.providers if test.providers is not None else (d.providers if d else None),
        raw=test.raw,
    )


def _scenario_tests(cfg: EvalConfig) -> list[_Test]:
    """promptfoo's ``mergeScenarioTest``: each data row crossed with each scenario test."""
    from .assertions import assertion_from_config

    out: list[_Test] = []
    d = cfg.default_test
    for s_idx, scenario in enumerate(cfg.scenarios):
        for data in scenario.config:
            data_asserts = [
                assertion_from_config(a, where=f"scenarios[{s_idx}].config.assert")
                for a in data.get("assert") or []
            ]
            for test in scenario.tests or [TestCase()]:
                merged_raw = {**(d.raw if d else {}), **data, **test.raw}
                threshold = test.threshold
                if threshold is None and isinstance(data.get("threshold"), int | float):
                    threshold = float(data["threshold"])
                out.append(
                    _Test(
                        vars={**(d.vars if d else {}), **(data.get("vars") or {}), **test.vars},
                        asserts=[*data_asserts, *test.asserts],
                        threshold=threshold,
                        options={
                            **(d.options if d else {}),
                            **(data.get("options") or {}),
                            **test.options,
                        },
                        metadata={
                            **(d.metadata if d else {}),
                            **(data.get("metadata") or {}),
                            **test.metadata,
                        },
                        description=test.description or data.get("description"),
                        provider=test.provider
                        if test.provider is not None
                        else data.get("provider"),
                        provider_output=test.provider_output
                        if test.provider_output is not None
                        else data.get("providerOutput"),
                        prompts=test.prompts,
                        providers=test.providers,
                        raw=merged_raw,
                    )
                )
    return out


def _var_combinations(vars_: Mapping[str, Any], base_dir: Path) -> list[dict[str, Any]]:
    """promptfoo's ``generateVarCombinations``: arrays of strings and file globs fan out."""
    combos: list[dict[str, Any]] = [{}]
    for key, value in vars_.items():
        if isinstance(value, str) and value.startswith("file://"):
            pattern = value[len("file://") :]
            found = sorted(_glob.glob(pattern, root_dir=str(base_dir), recursive=True))
            if not found:
                raise InvalidFile(f"vars.{key}: no files found at {pattern} in {base_dir}")
            values: list[Any] = [f"file://{p}" for p in found]
        elif isinstance(value, list):
            values = value if value and isinstance(value[0], str) else [value]
        else:
            values = [value]
        combos = [{**c, key: v} for c in combos for v in values]
    return combos


def _prompt_ref_matches(ref: str, prompt: Prompt) -> bool:
    label, pid = prompt.label, prompt.id
    if label == ref or (pid and pid == ref):
        return True
    if ref.endswith("*"):
        prefix = ref[:-1]
        if (label and label.startswith(prefix)) or (pid and pid.startswith(prefix)):
            return True
    return bool((label and label.startswith(f"{ref}:")) or (pid and pid.startswith(f"{ref}:")))


def _prompt_allowed(prompt: Prompt, allowed: list[str] | None) -> bool:
    if allowed is None:
        return True
    return any(_prompt_ref_matches(ref, prompt) for ref in allowed)


def _provider_allowed(column: _Column, allowed: list[str] | None) -> bool:
    if allowed is None:
        return True
    label, pid = column.entry.label, column.entry.id
    for ref in allowed:
        if (label and label == ref) or pid == ref:
            return True
        if ref.endswith("*") and (
            (label and label.startswith(ref[:-1])) or pid.startswith(ref[:-1])
        ):
            return True
        if (label and label.startswith(f"{ref}:")) or pid.startswith(f"{ref}:"):
            return True
    return False


def _build_steps(cfg: EvalConfig, columns: list[list[_Column]], repeat: int) -> list[_Step]:
    """Every (test × vars combination × repeat × provider × prompt) step, in promptfoo's order."""
    tests: list[_Test] = [_merge_default(t, cfg.default_test) for t in cfg.tests]
    if not cfg.tests and not cfg.scenarios:
        tests = [_merge_default(TestCase(), cfg.default_test)]
    tests.extend(_merge_default(t, cfg.default_test) for t in _scenario_tests(cfg))
    d_options = cfg.default_test.options if cfg.default_test else {}
    steps: list[_Step] = []
    test_idx = 0
    for test in tests:
        prefix = test.options.get("prefix") or d_options.get("prefix") or ""
        suffix = test.options.get("suffix") or d_options.get("suffix") or ""
        if test.options.get("disableVarExpansion"):
            combos = [test.vars]
        else:
            combos = _var_combinations(test.vars, cfg.base_dir)
        test_repeat = test.options.get("repeat")
        n_repeat = test_repeat if isinstance(test_repeat, int) and test_repeat > 0 else repeat
        for repeat_index in range(n_repeat):
            for combo in combos:
                for provider_columns in columns:
                    if provider_columns and not _provider_allowed(
                        provider_columns[0], test.providers
                    ):
                        continue
                    for column in provider_columns:
                        if not _prompt_allowed(column.prompt, test.prompts):
                            continue
                        steps.append(
                            _Step(
                                len(steps),
                                column,
                                test,
                                combo,
                                test_idx,
                                repeat_index,
                                prefix,
                                suffix,
                            )
                        )
                test_idx += 1
    return steps


# --------------------------------------------------------------------------- scoring


class _Aggregate:
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
        return (
            GradingResult(
                passed=passed,
                score=score,
                reason=reason,
                named_scores=named,
                component_results=flat,
            ),
            dict(self.named_weights),
        )


# --------------------------------------------------------------------------- the run


class _Run:
    """State of one run: providers, options, columns, results."""

    def __init__(self, cfg: EvalConfig, options: RunOptions) -> None:
        self.cfg = cfg
        self.options = options
        self.env = cfg.merged_env(options.environ)
        ev = cfg.evaluate_options
        self.delay_ms = int(
            options.delay_ms if options.delay_ms is not None else ev.get("delay") or 0
        )
        concurrency = options.max_concurrency or ev.get("maxConcurrency") or DEFAULT_MAX_CONCURRENCY
        self.concurrency = 1 if self.delay_ms > 0 else max(1, int(concurrency))
        timeout = options.timeout_ms if options.timeout_ms is not None else ev.get("timeoutMs")
        self.timeout_ms = int(timeout) if timeout else 0
        #: The same deadline for code run on Node; None leaves the boundary's default.
        self.timeout_s = self.timeout_ms / 1000 if self.timeout_ms else None
        repeat = options.repeat if options.repeat is not None else ev.get("repeat")
        self.repeat = int(repeat) if isinstance(repeat, int) and repeat > 0 else 1
        self.eval_id = (
            f"eval-{uuid.uuid4().hex[:3]}-{_dt.datetime.now().isoformat(timespec='seconds')}"
        )
        self.test_providers: dict[str, Provider] = {}
        self.owned: list[Provider] = []

    def _load(self, spec: Any) -> Provider:
        from .providers import load_provider

        try:
            provider = load_provider(
                spec, base_dir=self.cfg.base_dir, env=self.env, max_concurrency=self.concurrency
            )
        except ProviderError as exc:
            raise InvalidFile(f"provider {spec!r}: {exc}") from exc
        self.owned.append(provider)
        return provider

    def columns(self) -> list[list[_Column]]:
        """Prompt × provider columns, all prompts of provider 0 first (promptfoo's order)."""
        out: list[list[_Column]] = []
        idx = 0
        for entry in self.cfg.providers:
            provider = entry.instance if entry.instance is not None else self._load(entry.spec)
            if not provider.delay and self.delay_ms:
                provider.delay = self.delay_ms
            allowed = entry.prompts if entry.prompts is not None else provider.prompts
            row: list[_Column] = []
            for prompt in self.cfg.prompts:
                if allowed is not None and not _prompt_allowed(prompt, allowed):
                    continue
                row.append(_Column(idx, prompt, entry, provider))
                idx += 1
            out.append(row)
        return out

    def _test_provider(self, spec: Any) -> Provider:
        if isinstance(spec, Provider):
            return spec
        key = json.dumps(spec, sort_keys=True, default=str)
        if key not in self.test_providers:
            self.test_providers[key] = self._load(spec)
        return self.test_providers[key]

    # ---- one step

    async def run_step(self, step: _Step) -> EvalResult:
        """Run one step; every failure becomes an ERROR result, never an exception."""
        if self.timeout_ms > 0:
            try:
                return await asyncio.wait_for(self._run_step(step), self.timeout_ms / 1000)
            except TimeoutError:
                result = self._blank(step, dict(step.vars))
                result.latency_ms = float(self.timeout_ms)
                return self._error(result, f"Evaluation timed out after {self.timeout_ms}ms")
        return await self._run_step(step)

    def _blank(self, step: _Step, vars_: dict[str, Any]) -> EvalResult:
        column = step.column
        test_case = self._test_case_dict(step)
        return EvalResult(
            prompt_idx=column.prompt_idx,
            test_idx=step.test_idx,
            prompt_id=column.prompt.prompt_id,
            prompt_label=column.prompt.label,
            prompt_raw="",
            provider_id=column.entry.id,
            provider_label=column.entry.label,
            vars=vars_,
            test_case=test_case,
            description=step.test.description,
            repeat_index=step.repeat_index,
            prompt_config=dict(column.prompt.config),
            metadata=dict(step.test.metadata),
        )

    def _test_case_dict(self, step: _Step) -> dict[str, Any]:
        test = step.test
        out: dict[str, Any] = {}
        if test.description:
            out["description"] = test.description
        out["vars"] = step.vars
        out["assert"] = [a.raw or {"type": a.type, "value": a.value} for a in test.asserts]
        out["options"] = test.options
        out["metadata"] = test.metadata
        if test.threshold is not None:
            out["threshold"] = test.threshold
        if test.provider_output is not None:
            out["providerOutput"] = test.provider_output
        return out

    @staticmethod
    def _error(result: EvalResult, message: str) -> EvalResult:
        result.success = False
        result.score = 0.0
        result.failure_reason = FailureReason.ERROR
        result.error = message
        result.named_scores = {}
        result.named_score_weights = {}
        result.grading = None
        result.response = None
        result.token_usage = TokenUsage()
        return result

    async def _run_step(self, step: _Step) -> EvalResult:
        column = step.column
        vars_ = copy.deepcopy(step.vars)
        result = self._blank(step, vars_)
        provider = column.provider
        if step.test.provider is not None:
            try:
                provider = self._test_provider(step.test.provider)
            except InvalidFile as exc:
                return self._error(result, exc.message)
        prompt = column.prompt
        raw = step.prefix + prompt.raw + step.suffix
        try:
            function = None
            if prompt.function is not None:
                prompt_fn = prompt.function
                context = {
                    "vars": vars_,
                    "provider": {"id": column.entry.id, "label": column.entry.label or None},
                }

                def function(v: dict[str, Any], _c: dict[str, Any] = context) -> Any:
                    return prompt_fn(_c)

            rendered = render_prompt(
                raw,
                vars_,
                env=self.env,
                base_dir=self.cfg.base_dir,
                prompt_function=function,
                run_script=_run_var_script,
            )
        except (TemplateError, _scripts.ScriptError) as exc:
            return self._error(result, str(exc))
        result.prompt_raw = rendered
        started = time.perf_counter()
        if step.test.provider_output is not None:
            response = ProviderResponse(output=step.test.provider_output, cost=0.0)
        else:
            ctx = CallContext(
                vars=vars_,
                prompt_label=prompt.label,
                prompt_raw=prompt.raw,
                test=step.test.raw,
                timeout_s=self.timeout_ms / 1000 if self.timeout_ms else None,
                no_cache=self.options.no_cache,
                repeat_index=step.repeat_index,
                test_idx=step.test_idx,
                evaluation_id=self.eval_id,
            )
            try:
                response = await provider.call(rendered, ctx)
            except ProviderError as exc:
                result.latency_ms = (time.perf_counter() - started) * 1000
                return self._error(result, str(exc))
        latency = (time.perf_counter() - started) * 1000
        result.latency_ms = response.latency_ms if response.latency_ms is not None else latency
        result.cost = response.cost
        result.response = response
        result.token_usage = dataclasses.replace(response.token_usage)
        if not response.cached and provider.delay and provider.delay > 0:
            await asyncio.sleep(provider.delay / 1000)
        if response.error:
            result.error = response.error
            result.failure_reason = FailureReason.ERROR
            result.success = False
            return result
        if response.output is None:
            result.success = False
            result.score = 0.0
            result.error = "No output"
            return result
        try:
            output = response.output
            if provider.transform:
                output = await apply_transform(
                    provider.transform,
                    output,
                    {"vars": vars_, "prompt": {"label": prompt.label}},
                    base_dir=self.cfg.base_dir,
                    timeout_s=self.timeout_s,
                )
            transform = step.test.options.get("transform") or step.test.options.get("postprocess")
            if transform:
                output = await apply_transform(
                    str(transform),
                    output,
                    {
                        "vars": vars_,
                        "prompt": {"label": prompt.label},
                        "metadata": response.metadata,
                    },
                    base_dir=self.cfg.base_dir,
                    timeout_s=self.timeout_s,
                )
            if output is not response.output:
                response = dataclasses.replace(response, output=output)
                result.response = response
            grading, weights = await self._grade(
                step, vars_, rendered, response, provider, result.latency_ms
            )
        except EvalError as exc:  # an assertion threw, a transform failed…: an ERROR row
            result.latency_ms = result.latency_ms
            return self._error(result, str(exc))
        result.grading = grading
        result.named_score_weights = weights
        result.success = grading.passed
        result.score = grading.score
        result.named_scores = dict(grading.named_scores)
        if not grading.passed:
            result.error = grading.reason
            result.failure_reason = FailureReason.ASSERT
        return result

    # ---- grading

    async def _grade(
        self,
        step: _Step,
        vars_: dict[str, Any],
        prompt: str,
        response: ProviderResponse,
        provider: Provider,
        latency_ms: float,
    ) -> tuple[GradingResult, dict[str, float]]:
        asserts = step.test.asserts
        if not asserts:
            return GradingResult(passed=True, score=1.0, reason="No assertions"), {}
        main = _Aggregate(step.test.threshold)
        pending: list[Awaitable[None]] = []
        sets: list[tuple[int, AssertionSpec, _Aggregate]] = []
        for i, spec in enumerate(asserts):
            if spec.type == "assert-set":
                sub = _Aggregate(spec.threshold)
                sets.append((i, spec, sub))
                for j, child in enumerate(spec.children or []):
                    pending.append(
                        self._one(
                            j, child, sub, step, vars_, prompt, response, provider, latency_ms
                        )
                    )
            elif spec.type.startswith("select-") or spec.type == "max-score":
                continue
            else:
                pending.append(
                    self._one(i, spec, main, step, vars_, prompt, response, provider, latency_ms)
                )
        await asyncio.gather(*pending)
        for i, spec, sub in sets:
            result, weights = sub.result()
            result.metadata = {
                "assertionSet": {
                    "type": "assert-set",
                    **({"metric": spec.metric} if spec.metric else {}),
                }
            }
            main.add(i, result, _render_metric(spec.metric, vars_, self.env), spec.weight, weights)
        return main.result()

    async def _one(
        self,
        index: int,
        spec: AssertionSpec,
        into: _Aggregate,
        step: _Step,
        vars_: dict[str, Any],
        prompt: str,
        response: ProviderResponse,
        provider: Provider,
        latency_ms: float,
    ) -> None:
        from .assertions import evaluate_assertion

        rendered_value = _render_value(spec.value, vars_, self.env)
        rendered_spec = dataclasses.replace(spec, value=rendered_value)
        output = response.output
        if spec.transform:
            output = await apply_transform(
                spec.transform,
                output,
                {"vars": vars_, "prompt": {"label": prompt}},
                base_dir=self.cfg.base_dir,
                timeout_s=self.timeout_s,
            )
        ctx = AssertionContext(
            spec=rendered_spec,
            output=output,
            vars=vars_,
            prompt=prompt,
            response=response,
            provider=provider,
            latency_ms=latency_ms,
            base_dir=str(self.cfg.base_dir),
            get_grader=self._grader_getter(step),
            test=step.test.raw,
            timeout_s=self.timeout_s,
        )
        result = await evaluate_assertion(ctx)
        if spec.weight == 0:
            result.passed = True
        if (
            isinstance(rendered_value, str)
            and rendered_value != spec.value
            and "renderedAssertionValue" not in result.metadata
        ):
            result.metadata = {**result.metadata, "renderedAssertionValue": rendered_value}
        into.add(index, result, _render_metric(spec.metric, vars_, self.env), spec.weight)

    def _grader_getter(self, step: _Step) -> Callable[[Any], Provider]:
        def get(spec: Any) -> Provider:
            chosen = spec or step.test.options.get("provider")
            if chosen is None:
                from .providers import get_default_grader

                grader = get_default_grader(self.env)
                if grader is None:
                    raise ProviderError(
                        "no grading provider configured: set options.provider or "
                        "defaultTest.options.provider for model-graded assertions"
                    )
                return grader
            return self._test_provider(chosen)

        return get


def _render_value(value: Any, vars_: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """Assertion values are Nunjucks templates too (``file://`` references excepted)."""
    if isinstance(value, str):
        return value if value.startswith("file://") else render(value, vars_, env)
    if isinstance(value, list):
        return [
            render(v, vars_, env) if isinstance(v, str) and not v.startswith("file://") else v
            for v in value
        ]
    return value


def _render_metric(
    metric: str | None, vars_: Mapping[str, Any], env: Mapping[str, str]
) -> str | None:
    """Metric names are rendered with the test's vars; a failing render keeps the name."""
    if not metric:
        return metric
    try:
        return render(metric, vars_, env)
    except TemplateError:
        return metric


def _run_var_script(path: Path, name: str, prompt: str, variables: dict[str, Any]) -> Any:
    return _scripts.call(path, "get_var", name, prompt, variables)


# --------------------------------------------------------------------------- metrics


def _contributing(result: EvalResult, metric: str, env: Mapping[str, str]) -> int:
    grading = result.grading
    count = 0
    if grading is not None:
        for comp in grading.component_results:
            name = (comp.assertion or {}).get("metric")
            if _render_metric(name, result.test_case.get("vars") or {}, env) == metric:
                count += 1
    return count or 1


def _summarise(
    cfg: EvalConfig, columns: list[_Column], results: list[EvalResult], env: Mapping[str, str]
) -> list[PromptColumn]:
    prompts = [
        PromptColumn(
            id=c.prompt.prompt_id, raw=c.prompt.raw, label=c.prompt.label, provider=c.entry.key
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


# --------------------------------------------------------------------------- entry points


async def run_eval_async(cfg: EvalConfig, options: RunOptions | None = None) -> EvalSummary:
    """Run every step of ``cfg`` and return the summary (see :func:`run_eval`)."""
    options = options or RunOptions()
    run = _Run(cfg, options)
    started = time.perf_counter()
    timestamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    try:
        grid = run.columns()
        steps = _build_steps(cfg, grid, run.repeat)
        results: list[EvalResult | None] = [None] * len(steps)
        total = len(steps)
        done = 0
        queue = iter(steps)

        async def worker() -> None:
            nonlocal done
            for step in queue:
                result = await run.run_step(step)
                results[step.index] = result
                done += 1
                if options.progress is not None:
                    options.progress(done, total, result)

        await asyncio.gather(*(worker() for _ in range(min(run.concurrency, max(total, 1)))))
    finally:
        for provider in run.owned:
            await provider.aclose()
        await js.close_worker()
    finished = [r for r in results if r is not None]
    columns = [c for row in grid for c in row]
    summary = EvalSummary(
        eval_id=run.eval_id,
        timestamp=timestamp,
        results=finished,
        prompts=_summarise(cfg, columns, finished, run.env),
        stats=EvalStats(),
        config=cfg.raw,
        description=cfg.description,
        duration_ms=(time.perf_counter() - started) * 1000,
        env=dict(cfg.env),
    )
    summary.add_result_stats()
    return summary


def run_eval(cfg: EvalConfig, options: RunOptions | None = None) -> EvalSummary:
    """Run a loaded config to completion and return its :class:`EvalSummary`.

    Provider failures, template errors and assertions that throw become ERROR results; the
    run itself only raises for configuration problems found while building steps (a
    provider that cannot be constructed, a ``file://`` variable glob that matches nothing).
    Safe to call from inside a running event loop (it then runs on a helper thread).

    Raises:
        InvalidFile: a configuration problem found when the run starts.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_eval_async(cfg, options))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(run_eval_async(cfg, options))
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="promptgov-eval")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: EvalSummary = box["value"]
    return result
