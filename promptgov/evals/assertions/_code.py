"""Code assertions: ``python`` in the engine's Python workers, ``javascript`` on its Node worker.

promptfoo starts a Python process per python assertion; here each runs in a long-lived worker
process of :func:`promptgov.evals.pyworker.current`, where inline code is compiled once per
distinct source and ``file://`` modules are imported once per path (module-level state is
therefore shared between calls in a worker, where promptfoo would re-import). Arguments and
results go through a JSON round trip, so a script sees exactly the values promptfoo would pass
it and a result that JSON cannot carry fails as it would there. Code that does not return in
time has its worker killed, and the row is an ERROR.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from .. import js, pyworker
from ..errors import EvalError, PythonTimeout
from ..js._jsvalue import json_parse, json_stringify
from ..providers.interface import TokenUsage
from ._text import invariant
from .interface import AssertionContext, AssertionError_, AssertionSpec, GradingResult

# --- shared: the context scripts receive, and promptfoo's result normalisation -------------


def script_context(ctx: AssertionContext) -> dict[str, Any]:
    """The ``context`` argument promptfoo passes to python/javascript assertions."""
    response = ctx.response
    provider_response: dict[str, Any] = {"output": response.output}
    if response.error is not None:
        provider_response["error"] = response.error
    provider_response["tokenUsage"] = response.token_usage.to_dict()
    if response.cost is not None:
        provider_response["cost"] = response.cost
    if response.cached:
        provider_response["cached"] = True
    if response.finish_reason is not None:
        provider_response["finishReason"] = response.finish_reason
    if response.metadata:
        provider_response["metadata"] = response.metadata
    out: dict[str, Any] = {
        "prompt": ctx.prompt,
        "vars": dict(ctx.vars),
        "test": dict(ctx.test),
        "providerResponse": provider_response,
    }
    if ctx.provider is not None:
        out["provider"] = {"id": ctx.provider.id, "label": ctx.provider.label}
    if ctx.spec.config:
        out["config"] = ctx.spec.config
    if response.metadata:
        out["metadata"] = response.metadata
    return out


def _json_copy(value: Any) -> Any:
    """Values as the other side of promptfoo's JSON hop sees them (NaN and Infinity → null)."""
    return json.loads(
        json.dumps(value, ensure_ascii=False, default=str),
        parse_constant=_null_constant,
        parse_int=_js_int,
    )


def _null_constant(_name: str) -> None:
    return None


def _js_int(text: str) -> int | float:
    number = int(text)
    return number if abs(number) <= 2**53 else float(number)


def _is_grading_result(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("pass"), bool)
        and isinstance(obj.get("score"), int | float)
        and not isinstance(obj.get("score"), bool)
        and isinstance(obj.get("reason"), str)
        and (obj.get("namedScores") is None or isinstance(obj.get("namedScores"), dict))
        and (obj.get("componentResults") is None or isinstance(obj.get("componentResults"), list))
    )


def _snake_to_camel(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for snake, camel in (
        ("pass_", "pass"),
        ("named_scores", "namedScores"),
        ("component_results", "componentResults"),
        ("tokens_used", "tokensUsed"),
    ):
        if snake in out and camel not in out:
            out[camel] = out[snake]
    if isinstance(out.get("componentResults"), list):
        out["componentResults"] = [
            _snake_to_camel(c) if isinstance(c, dict) else c for c in out["componentResults"]
        ]
    return out


def _grading_from_dict(obj: dict[str, Any]) -> GradingResult:
    named = obj.get("namedScores") or {}
    tokens = obj.get("tokensUsed")
    return GradingResult(
        passed=bool(obj["pass"]),
        score=float(obj["score"]),
        reason=str(obj.get("reason", "")),
        named_scores={str(k): float(v) for k, v in named.items() if isinstance(v, int | float)},
        tokens_used=TokenUsage(
            total=int(tokens.get("total", 0) or 0),
            prompt=int(tokens.get("prompt", 0) or 0),
            completion=int(tokens.get("completion", 0) or 0),
            cached=int(tokens.get("cached", 0) or 0),
            num_requests=int(tokens.get("numRequests", 0) or 0),
        )
        if isinstance(tokens, dict)
        else None,
        component_results=[
            _grading_from_dict(c)
            for c in obj.get("componentResults") or []
            if _is_grading_result(c)
        ],
        assertion=obj.get("assertion") if isinstance(obj.get("assertion"), dict) else None,
        metadata=dict(obj["metadata"]) if isinstance(obj.get("metadata"), dict) else {},
    )


def _with_suffix(reason: str, suffix: Any) -> str:
    return f"{reason}\n{suffix}" if isinstance(suffix, str) and suffix else reason


def _normalize(spec: AssertionSpec, result: Any, code_label: str, suffix: Any) -> GradingResult:
    """promptfoo's ``normalizeScriptAssertionResult``: bool, number or GradingResult, inverted."""
    inverse = spec.negated
    if isinstance(result, bool):
        passed = result != inverse
        return GradingResult(
            passed=passed,
            score=1.0 if passed else 0.0,
            reason="Assertion passed"
            if passed
            else _with_suffix(f"{code_label} returned {'true' if result else 'false'}", suffix),
        )
    if isinstance(result, int | float):
        raw = result > 0 if spec.threshold is None else result >= spec.threshold
        passed = raw != inverse
        return GradingResult(
            passed=passed,
            score=float(result),
            reason="Assertion passed"
            if passed
            else _with_suffix(f"{code_label} returned {'true' if raw else 'false'}", suffix),
        )
    graded = _grading_from_dict(result)
    passed = graded.passed != inverse
    if passed != graded.passed:
        graded.reason = (
            "Assertion passed"
            if passed
            else f"{code_label} returned {'true' if graded.passed else 'false'}"
        )
    graded.passed = passed
    return graded


def _normalize_script_result(spec: AssertionSpec, result: Any, suffix: Any) -> GradingResult:
    """promptfoo's ``normalizeScriptResult`` for Python results (strings, snake_case keys…).

    Raises:
        ValueError: the result is not a boolean, number or GradingResult.
    """
    lower = result.lower() if isinstance(result, str) else None
    if result is True or lower == "true":
        return _normalize(spec, True, "Python code", suffix)
    if result is False or lower == "false":
        return _normalize(spec, False, "Python code", suffix)
    if isinstance(result, str) and result.startswith("{"):
        try:
            parsed = json_parse(result)
        except ValueError as exc:
            raise ValueError(f"Invalid JSON: {exc} when parsing result: {result}") from None
        if not isinstance(parsed, dict):
            raise ValueError(
                "Python assertion must return a boolean, number, or {pass, score, reason} "
                f"object. Got instead: {result}"
            )
        result = parsed
    if isinstance(result, dict):
        mapped = _snake_to_camel(result)
        if not _is_grading_result(mapped):
            raise ValueError(
                "Python assertion must return a boolean, number, or {pass, score, reason} "
                f"object. Got instead:\n{json.dumps(mapped, indent=2)}"
            )
        if spec.threshold is not None and mapped["score"] < spec.threshold:
            mapped["pass"] = False
            message = f"Python score {mapped['score']} is less than threshold {spec.threshold}"
            mapped["reason"] = f"{message}: {mapped['reason']}" if mapped["reason"] else message
        return _normalize(spec, mapped, "Python code", suffix)
    score = _parse_float(result)
    if score is None:
        raise ValueError(
            "Python assertion must return a boolean, number, or {pass, score, reason} object. "
            f"Instead got:\n{result}"
        )
    return _normalize(spec, score, "Python code", suffix)


_FLOAT_PREFIX = re.compile(
    r"^[\t\n\v\f\r \u00a0\ufeff]*"
    r"([-+]?(?:Infinity|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))"
)


def _parse_float(value: Any) -> float | None:
    """JavaScript's ``Number.parseFloat(String(value))``; None for NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None if math.isnan(value) else float(value)
    text = (
        "null"
        if value is None
        else (json_stringify(value) if isinstance(value, list) else str(value))
    )
    if isinstance(value, list):
        text = ",".join("" if v is None else str(v) for v in value)
    m = _FLOAT_PREFIX.match(text)
    if not m:
        return None
    return float(m.group(1).replace("Infinity", "inf"))


# --- python -------------------------------------------------------------------------------


def build_python_script(code: str) -> str:
    """promptfoo's wrapper: a one-liner is ``return <expr>``, a block becomes ``main``'s body."""
    if "\n" in code:
        m = re.search(r"^(?![^\S\n]*$)[^\S\n]+", code, re.MULTILINE)
        indent = m.group(0) if m else "    "
        body = "\n".join(indent + line for line in code.split("\n"))
    else:
        body = f"    return {code}"
    return f"import json\n\ndef main(output, context):\n{body}\n"


def split_file_ref(value: str) -> tuple[str, str | None]:
    """``file://path.py:fn`` → (``path.py``, ``fn``)."""
    ref = value[len("file://") :]
    if ":" in ref:
        path, _, name = ref.partition(":")
        return path, name or None
    return ref, None


async def _run_in_worker(request: dict[str, Any], ctx: AssertionContext, what: str) -> Any:
    """Run a request in the run's pool; the JSON result as promptfoo's bridge parses it.

    Raises:
        _ScriptFailed: the script raised, could not load, or returned what JSON cannot carry.
        PythonTimeout: it did not return in time (the row becomes an ERROR).
    """
    reply = await pyworker.current().call(
        {**request, "args": _json_copy([ctx.output, script_context(ctx)]), "encode": "strict"},
        what=what,
        timeout_s=ctx.timeout_s,
    )
    if not reply.ok:
        if reply.stage == "encode":
            raise _ScriptFailed(
                f"ValueError: Invalid JSON returned by Python script: {reply.message}"
            )
        raise _ScriptFailed(reply.error)
    return json_parse(reply.value)


async def run_python_file(ctx: AssertionContext, value: str) -> Any:
    """Call ``get_assert`` (or the named function) of a ``file://`` script with promptfoo's args."""
    rel, name = split_file_ref(value)
    path = Path(ctx.base_dir) / rel
    function = name or "get_assert"
    try:
        return await _run_in_worker(
            {"path": str(path.resolve()), "function": function}, ctx, f"{rel}:{function}"
        )
    except _ScriptFailed as exc:
        raise _ScriptFailed(f"Error running Python script: {exc}") from None


class _ScriptFailed(EvalError):
    """A script raised: promptfoo reports it as a failed assertion, not an error."""


async def handle_python(ctx: AssertionContext) -> GradingResult:
    """``python``: inline code or a ``file://`` script returning bool, number or GradingResult."""
    value = ctx.spec.value
    invariant(isinstance(value, str), "python assertion must have a string value")
    assert isinstance(value, str)
    try:
        if value.startswith("file://"):
            result = await run_python_file(ctx, value)
        else:
            request = {"source": build_python_script(value), "function": "main"}
            try:
                result = await _run_in_worker(request, ctx, "the python assertion")
            except _ScriptFailed as exc:
                raise ValueError(str(exc)) from None
        return _normalize_script_result(ctx.spec, result, value)
    except _ScriptFailed as exc:
        return GradingResult(passed=False, score=0.0, reason=str(exc))
    except PythonTimeout:
        raise  # not the output's fault: the row is an ERROR
    except ValueError as exc:
        return GradingResult(passed=False, score=0.0, reason=f"Python code execution failed: {exc}")


# --- javascript ---------------------------------------------------------------------------

close_javascript_worker = js.close_worker


async def run_javascript_file(ctx: AssertionContext, value: str, args: list[Any]) -> Any:
    """Call a ``file://x.js[:fn]`` export in the worker; its error propagates (promptfoo throws)."""
    rel, name = split_file_ref(value)
    reply = await js.call_file(
        Path(ctx.base_dir) / rel,
        name,
        args,
        purpose="javascript assertions",
        timeout_s=ctx.timeout_s,
    )
    if not reply.ok:
        raise AssertionError_(reply.error)
    return reply.value


async def handle_javascript(ctx: AssertionContext) -> GradingResult:
    """``javascript``: inline code (an expression or a function body) or a ``file://`` export."""
    spec = ctx.spec
    value = spec.value
    invariant(isinstance(value, str), "javascript assertion must have a string value")
    assert isinstance(value, str)
    code = value.rstrip()
    args = _json_copy([ctx.output, script_context(ctx)])
    if code.startswith("file://"):
        result = await run_javascript_file(ctx, code, args)
        if not isinstance(result, bool | int | float | dict):
            # promptfoo's invariant throws inside its try: the assertion fails, not errors.
            return _js_threw(
                "Invariant failed: Javascript assertion script must return a boolean, number, "
                f"or object ({value})",
                code,
            )
        if not (isinstance(result, bool | int | float) or _is_grading_result(result)):
            return _js_threw(
                "Custom function must return a boolean, number, or GradingResult object. "
                f"Got type object: {json_stringify(result)}",
                code,
            )
        return _normalize(spec, result, "Custom function", code)
    reply = await js.run_assertion(code, args[0], args[1], timeout_s=ctx.timeout_s)
    if not reply.ok:
        return _js_threw(f"{reply.error}\nStack Trace: {reply.stack}", code)
    return _normalize(spec, reply.value, "Custom function", code)


def _js_threw(message: str, code: str) -> GradingResult:
    return GradingResult(
        passed=False,
        score=0.0,
        reason=_with_suffix(f"Custom function threw error: {message}", code),
    )


# --- script-valued assertion values -------------------------------------------------------


async def value_from_script(ctx: AssertionContext) -> tuple[bool, Any]:
    """Resolve a ``file://*.py|*.js`` value to what the script returns (``valueFromScript``).

    Returns (True, value) when the value named a script, (False, None) otherwise.

    Raises:
        _ScriptFailed: a Python script raised (the assertion fails).
        AssertionError_: a JavaScript script threw (the assertion errors).
    """
    value = ctx.spec.value
    if not isinstance(value, str) or not value.startswith("file://"):
        return False, None
    rel, _ = split_file_ref(value)
    if rel.endswith((".js", ".cjs", ".mjs", ".ts")):
        args = _json_copy([ctx.output, script_context(ctx)])
        return True, await run_javascript_file(ctx, value, args)
    if rel.endswith(".py"):
        return True, await run_python_file(ctx, value)
    return False, None


ScriptFailed = _ScriptFailed
