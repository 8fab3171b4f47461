"""Running a loaded config: build promptfoo's eval steps, run each, score, sum up.

Each step is a pipeline of named stages — :meth:`_Run._render` → :meth:`_Run._call` →
:meth:`_Run._transform` → :meth:`_Run._grade` — that follows promptfoo 0.123's ``runEval``;
the steps and their order come from :mod:`._steps`, the scoring of a test from its
assertions and of a column from its rows from :mod:`._scoring`. Calls run on one asyncio
loop, at most ``max_concurrency`` at a time; inline JavaScript runs on the one Node worker
of :mod:`.js` and user Python in the worker processes of :mod:`.pyworker`, all stopped when
the run ends. A step that outlives ``timeoutMs`` (or ``PROMPTFOO_EVAL_TIMEOUT_MS``) is
cancelled, which kills whatever worker or command it was waiting on, and becomes the ERROR
row promptfoo writes for it.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as _dt
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidFile
from . import _scripts, js, pyworker
from ._provenance import output_config, runtime_options
from ._scoring import Aggregate, render_metric, summarise
from ._steps import Column, Step, build_steps, prompt_allowed
from ._transform import apply_transform
from .assertions.interface import AssertionContext, AssertionSpec, GradingResult
from .config import EvalConfig, Prompt, ProviderEntry
from .config.model import JsFunction
from .errors import EvalError, JavascriptError, TemplateError
from .js._jsvalue import json_stringify
from .providers.interface import CallContext, Provider, ProviderError, ProviderResponse, TokenUsage
from .results import (
    EvalResult,
    EvalStats,
    EvalSummary,
    FailureReason,
)
from .templating import Filters, finish_prompt, load_prompt_vars, render, render_prompt

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
    #: Who started the run, recorded as promptfoo's ``runtimeOptions.eventSource``.
    event_source: str = "library"


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
        # promptfoo: `options.timeoutMs || getEvalTimeoutMs()`; 0 means no step timeout.
        self.timeout_ms = _milliseconds(
            options.timeout_ms if options.timeout_ms is not None else ev.get("timeoutMs"),
            "evaluateOptions.timeoutMs",
        ) or _milliseconds(self.env.get("PROMPTFOO_EVAL_TIMEOUT_MS"), "PROMPTFOO_EVAL_TIMEOUT_MS")
        #: The same deadline for each provider call; None leaves the provider's default.
        self.timeout_s = self.timeout_ms / 1000 if self.timeout_ms else None
        #: The deadline for each piece of user code (Node, Python, regexes): the step's, else
        #: ``REQUEST_TIMEOUT_MS``; None leaves each boundary's 300 s default.
        request_ms = _milliseconds(self.env.get("REQUEST_TIMEOUT_MS"), "REQUEST_TIMEOUT_MS")
        self.code_timeout_s = self.timeout_s or (request_ms / 1000 if request_ms else None)
        repeat = options.repeat if options.repeat is not None else ev.get("repeat")
        self.repeat = int(repeat) if isinstance(repeat, int) and repeat > 0 else 1
        self.eval_id = (
            f"eval-{uuid.uuid4().hex[:3]}-{_dt.datetime.now().isoformat(timespec='seconds')}"
        )
        self.filters: Filters = {
            name: _filter_caller(name, fn, self.code_timeout_s)
            for name, fn in cfg.nunjucks_filters.items()
        }
        self.test_providers: dict[str, Provider] = {}
        self.owned: list[Provider] = []
        self.grader: Provider | None = None

    def runtime_options(self) -> dict[str, Any]:
        """What this run ran with, as promptfoo's ``runtimeOptions``."""
        ev = self.cfg.evaluate_options
        return runtime_options(
            ev,
            event_source=self.options.event_source,
            show_progress_bar=self.options.progress is not None,
            repeat=self.repeat,
            max_concurrency=self.concurrency,
            cache=False if self.options.no_cache else ev.get("cache", True) is not False,
            delay_ms=self.delay_ms,
        )

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

    def columns(self) -> list[list[Column]]:
        """Prompt × provider columns, all prompts of provider 0 first (promptfoo's order)."""
        out: list[list[Column]] = []
        idx = 0
        for entry in self.cfg.providers:
            provider = entry.instance if entry.instance is not None else self._load(entry.spec)
            if not provider.delay and self.delay_ms:
                provider.delay = self.delay_ms
            allowed = entry.prompts if entry.prompts is not None else provider.prompts
            row: list[Column] = []
            for prompt in self.cfg.prompts:
                if allowed is not None and not prompt_allowed(prompt, allowed):
                    continue
                row.append(Column(idx, prompt, entry, provider))
                idx += 1
            out.append(row)
        return out

    def _default_grader(self) -> Provider:
        """The run's one default grader, closed with the run's own providers.

        One per grading call, never closed, left its connections open when the run's
        loop ended: the ``Event loop is closed`` traceback.
        """
        if self.grader is None:
            from .providers import get_default_grader

            self.grader = get_default_grader(self.env, max_concurrency=self.concurrency)
            if self.grader is None:
                raise ProviderError(
                    "no grading provider configured: set options.provider or "
                    "defaultTest.options.provider for model-graded assertions"
                )
            self.owned.append(self.grader)
        return self.grader

    def _test_provider(self, spec: Any) -> Provider:
        if isinstance(spec, Provider):
            return spec
        key = json.dumps(spec, sort_keys=True, default=str)
        if key not in self.test_providers:
            self.test_providers[key] = self._load(spec)
        return self.test_providers[key]

    # ---- one step

    async def run_step(self, step: Step) -> EvalResult:
        """Run one step; every failure becomes an ERROR result, never an exception."""
        if self.timeout_ms > 0:
            try:
                return await asyncio.wait_for(self._run_step(step), self.timeout_ms / 1000)
            except TimeoutError:
                return self._timed_out(step)
        return await self._run_step(step)

    def _timed_out(self, step: Step) -> EvalResult:
        """promptfoo's row for a step past ``timeoutMs``: the raw prompt, the limit as latency."""
        result = self._blank(step, dict(step.vars))
        result.prompt_raw = step.prefix + step.column.prompt.raw + step.suffix
        result.latency_ms = float(self.timeout_ms)
        message = f"Evaluation timed out after {self.timeout_ms}ms"
        # promptfoo appends String(error) of the Error it rejected the race with.
        return self._error(result, f"{message}: Error: {message}")

    def _blank(self, step: Step, vars_: dict[str, Any]) -> EvalResult:
        column = step.column
        test_case = self._test_case_dict(step)
        return EvalResult(
            prompt_idx=column.prompt_idx,
            test_idx=step.test_idx,
            prompt_id=column.prompt.prompt_id,
            prompt_label=column.prompt.label,
            prompt_raw="",
            provider_id=column.entry.reported_id,
            provider_label=column.entry.label,
            vars=vars_,
            test_case=test_case,
            description=step.test.description,
            repeat_index=step.repeat_index,
            prompt_config=dict(column.prompt.config),
            metadata=dict(step.test.metadata),
        )

    def _test_case_dict(self, step: Step) -> dict[str, Any]:
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

    async def _run_step(self, step: Step) -> EvalResult:
        """One step as promptfoo's ``runEval`` runs it: render → call → transform → grade.

        Each stage raises an :class:`EvalError` for a failure that makes the row an ERROR;
        a provider's own ``error`` (or no output) ends the step with the response kept.
        """
        vars_ = copy.deepcopy(step.vars)
        result = self._blank(step, vars_)
        try:
            provider = self._step_provider(step)
        except InvalidFile as exc:
            return self._error(result, exc.message)
        try:
            rendered = await self._render(step, vars_, result)
            result.prompt_raw = rendered
            response = await self._call(step, provider, rendered, vars_, result)
            if self._settled_by_response(result, response):
                return result
            response = await self._transform(step, provider, response, vars_)
            result.response = response
            grading, weights = await self._grade(
                step, vars_, rendered, response, provider, result.latency_ms
            )
        except EvalError as exc:  # a template, provider, transform or assertion threw
            return self._error(result, str(exc))
        _record_grading(result, grading, weights)
        return result

    def _step_provider(self, step: Step) -> Provider:
        """The column's provider, or the test's own ``provider:`` (loaded once per spec)."""
        if step.test.provider is None:
            return step.column.provider
        return self._test_provider(step.test.provider)

    async def _render(self, step: Step, vars_: dict[str, Any], result: EvalResult) -> str:
        """Render the prompt (with the test's ``prefix``/``suffix``) as Nunjucks, or call it."""
        column = step.column
        prompt = column.prompt
        if prompt.js_function is not None:
            raw = step.prefix + prompt.raw + step.suffix
            load_prompt_vars(
                raw,
                vars_,
                base_dir=self.cfg.base_dir,
                run_script=self._var_script,
                run_js=self._var_js,
            )
            base, config = await _call_js_prompt(
                prompt, column.entry, vars_, timeout_s=self.code_timeout_s
            )
            if config:
                result.prompt_config = {**result.prompt_config, **config}
            return finish_prompt(base, vars_, self.env, self.filters)
        function = None
        if prompt.function is not None:
            prompt_fn = prompt.function
            context = {
                "vars": vars_,
                "provider": {"id": column.entry.id, "label": column.entry.label or None},
            }

            def function(v: dict[str, Any], _c: dict[str, Any] = context) -> Any:
                return prompt_fn(_c)

        return render_prompt(
            step.prefix + prompt.raw + step.suffix,
            vars_,
            env=self.env,
            base_dir=self.cfg.base_dir,
            prompt_function=function,
            run_script=self._var_script,
            filters=self.filters,
            run_js=self._var_js,
        )

    def _var_script(self, path: Path, name: str, prompt: str, variables: dict[str, Any]) -> Any:
        """A ``file://x.py`` variable's ``get_var``, in this run's Python workers."""
        return _scripts.call_in_worker_sync(
            path, "get_var", name, prompt, variables, timeout_s=self.code_timeout_s
        )

    def _var_js(self, path: Path, name: str, prompt: str, variables: dict[str, Any]) -> Any:
        """A ``file://x.js`` variable: its default export ``(name, prompt, vars)``, on the worker.

        Raises:
            TemplateError: the module cannot load, or its function threw or did not finish.
        """
        try:
            reply = js.invoke_export_sync(
                path,
                None,
                [name, prompt, variables],
                purpose="JavaScript variables",
                what="the variable's export",
                timeout_s=self.code_timeout_s,
            )
        except JavascriptError as exc:
            raise TemplateError(str(exc)) from exc
        if not reply.ok:
            raise TemplateError(f"Error running {path}: {reply.error}")
        return reply.value

    async def _call(
        self,
        step: Step,
        provider: Provider,
        rendered: str,
        vars_: dict[str, Any],
        result: EvalResult,
    ) -> ProviderResponse:
        """Call the provider (or take the test's ``providerOutput``) and record latency, cost."""
        started = time.perf_counter()
        if step.test.provider_output is not None:
            response = ProviderResponse(output=step.test.provider_output, cost=0.0)
        else:
            ctx = CallContext(
                vars=vars_,
                prompt_label=step.column.prompt.label,
                prompt_raw=step.column.prompt.raw,
                test=step.test.raw,
                timeout_s=self.timeout_s,
                no_cache=self.options.no_cache,
                repeat_index=step.repeat_index,
                test_idx=step.test_idx,
                evaluation_id=self.eval_id,
                prompt_idx=step.column.prompt_idx,
            )
            try:
                response = await provider.call(rendered, ctx)
            except ProviderError:
                result.latency_ms = (time.perf_counter() - started) * 1000
                # promptfoo records which provider threw on the row's metadata.
                result.metadata["errorContext"] = {
                    "providerId": step.column.entry.reported_id,
                    "providerLabel": step.column.entry.label,
                }
                raise
        latency = (time.perf_counter() - started) * 1000
        result.latency_ms = response.latency_ms if response.latency_ms is not None else latency
        result.cost = response.cost
        result.response = response
        result.token_usage = dataclasses.replace(response.token_usage)
        if not response.cached and provider.delay and provider.delay > 0:
            await asyncio.sleep(provider.delay / 1000)
        return response

    @staticmethod
    def _settled_by_response(result: EvalResult, response: ProviderResponse) -> bool:
        """A provider ``error`` is an ERROR row, no output a FAIL: nothing left to grade."""
        if response.error:
            result.error = response.error
            result.failure_reason = FailureReason.ERROR
            result.success = False
            return True
        if response.output is None:
            result.success = False
            result.score = 0.0
            result.error = "No output"
            return True
        return False

    async def _transform(
        self,
        step: Step,
        provider: Provider,
        response: ProviderResponse,
        vars_: dict[str, Any],
    ) -> ProviderResponse:
        """The provider's ``transform``, then the test's ``options.transform`` (or postprocess)."""
        label = step.column.prompt.label
        output = response.output
        if provider.transform:
            output = await apply_transform(
                provider.transform,
                output,
                {"vars": vars_, "prompt": {"label": label}},
                base_dir=self.cfg.base_dir,
                timeout_s=self.code_timeout_s,
            )
        transform = step.test.options.get("transform") or step.test.options.get("postprocess")
        if transform:
            output = await apply_transform(
                str(transform),
                output,
                {"vars": vars_, "prompt": {"label": label}, "metadata": response.metadata},
                base_dir=self.cfg.base_dir,
                timeout_s=self.code_timeout_s,
            )
        if output is response.output:
            return response
        return dataclasses.replace(response, output=output)

    # ---- grading

    async def _grade(
        self,
        step: Step,
        vars_: dict[str, Any],
        prompt: str,
        response: ProviderResponse,
        provider: Provider,
        latency_ms: float,
    ) -> tuple[GradingResult, dict[str, float]]:
        asserts = step.test.asserts
        if not asserts:
            no_asserts = GradingResult(
                passed=True, score=1.0, reason="No assertions", tokens_used=TokenUsage()
            )
            return no_asserts, {}
        main = Aggregate(step.test.threshold)
        pending: list[Awaitable[None]] = []
        sets: list[tuple[int, AssertionSpec, Aggregate]] = []
        for i, spec in enumerate(asserts):
            if spec.type == "assert-set":
                sub = Aggregate(spec.threshold)
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
            main.add(i, result, render_metric(spec.metric, vars_, self.env), spec.weight, weights)
        return main.result()

    async def _one(
        self,
        index: int,
        spec: AssertionSpec,
        into: Aggregate,
        step: Step,
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
                timeout_s=self.code_timeout_s,
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
            timeout_s=self.code_timeout_s,
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
        into.add(index, result, render_metric(spec.metric, vars_, self.env), spec.weight)

    def _grader_getter(self, step: Step) -> Callable[[Any], Provider]:
        def get(spec: Any) -> Provider:
            chosen = spec or step.test.options.get("provider")
            if chosen is None:
                return self._default_grader()
            return self._test_provider(chosen)

        return get


def _filter_caller(name: str, fn: JsFunction, timeout_s: float | None) -> Callable[..., Any]:
    """A ``nunjucksFilters`` entry as Jinja2 calls it: the JavaScript export, on the worker.

    Templates render synchronously, so the call blocks its thread for the filter's run (the
    worker answers in well under a millisecond; a hung filter is stopped at ``timeout_s``).
    """

    def call(*args: Any) -> Any:
        try:
            reply = js.invoke_export_sync(
                fn.path, None, args, purpose="Nunjucks filters", what=name, timeout_s=timeout_s
            )
        except JavascriptError as exc:
            raise TemplateError(f"Template render error: {exc}") from exc
        if not reply.ok:
            raise TemplateError(f"Template render error: filter {name}: {reply.error}")
        return None if reply.undefined else reply.value

    return call


async def _call_js_prompt(
    prompt: Prompt, entry: ProviderEntry, vars_: dict[str, Any], *, timeout_s: float | None
) -> tuple[str, dict[str, Any] | None]:
    """promptfoo's call of a JavaScript prompt function, and its reading of what it returned.

    The function sees ``{vars, provider: {id, label}, config}``; a string is the prompt, an
    object with ``prompt`` gives the prompt (and ``config`` to merge into the prompt's), any
    other object or array is the prompt as JSON; anything else is promptfoo's error.
    """
    assert prompt.js_function is not None
    provider = {"id": entry.id, **({"label": entry.label} if entry.label else {})}
    try:
        reply = await js.invoke_export(
            prompt.js_function.path,
            prompt.js_function.name,
            [{"vars": vars_, "provider": provider, "config": prompt.config}],
            purpose="JavaScript prompt functions",
            what="promptFunction",
            timeout_s=timeout_s,
        )
    except JavascriptError as exc:
        raise TemplateError(str(exc)) from exc
    if not reply.ok:
        raise TemplateError(reply.error)
    value = reply.value
    if isinstance(value, str) and not reply.undefined:
        return value, None
    if isinstance(value, dict):
        if "prompt" not in value:
            return json_stringify(value), None
        inner = value["prompt"]
        config = value.get("config")
        return (
            inner if isinstance(inner, str) else json_stringify(inner),
            config if isinstance(config, dict) else None,
        )
    if isinstance(value, list):
        return json_stringify(value), None
    if value is None and not reply.undefined:
        raise TemplateError("Cannot use 'in' operator to search for 'prompt' in null")
    raise TemplateError(f"Prompt function must return a string or object, got {js.js_type(reply)}")


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


def _record_grading(result: EvalResult, grading: GradingResult, weights: dict[str, float]) -> None:
    """Copy the test's verdict onto its row: pass/score/named scores, or the failure reason."""
    result.grading = grading
    result.named_score_weights = weights
    result.success = grading.passed
    result.score = grading.score
    result.named_scores = dict(grading.named_scores)
    if not grading.passed:
        result.error = grading.reason
        result.failure_reason = FailureReason.ASSERT


def _milliseconds(value: Any, name: str) -> int:
    """A time limit in ms from a config or environment value; 0 when absent.

    Raises:
        InvalidFile: the value is not a non-negative number.
    """
    if value is None or value == "":
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not 0 <= number < 2**53:
        raise InvalidFile(f"{name} must be a number of milliseconds, got {value!r}")
    return int(number)


# --------------------------------------------------------------------------- entry points


async def run_eval_async(cfg: EvalConfig, options: RunOptions | None = None) -> EvalSummary:
    """Run every step of ``cfg`` and return the summary (see :func:`run_eval`)."""
    options = options or RunOptions()
    run = _Run(cfg, options)
    started = time.perf_counter()
    timestamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # User Python of assertions and transforms runs in this run's own worker pool.
    with pyworker.run_scope(max_workers=run.concurrency, timeout_s=run.code_timeout_s):
        try:
            grid = run.columns()
            steps = build_steps(cfg, grid, run.repeat)
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
        prompts=summarise(cfg, columns, finished, run.env),
        stats=EvalStats(),
        config=output_config(cfg.raw, run.env),
        description=cfg.description,
        duration_ms=(time.perf_counter() - started) * 1000,
        env=dict(cfg.env),
        runtime_options=run.runtime_options(),
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
