"""promptfoo-compatible assertions: parse an ``assert:`` entry and grade one output against it.

Each family lives in its own private module; this module holds the registry that maps a
promptfoo assertion type to its handler. A handler sees the ``not-`` prefix itself (through
``ctx.spec.negated``), because promptfoo's failure reasons say "to not contain…", and returns
the final verdict. :func:`evaluate_assertion` adds what is common to every type: the
``weight: 0`` rule and the ``assertion`` echo.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import InvalidFile
from ..js._jsvalue import js_trim
from . import (
    _code,
    _model_graded,
    _runtime,
    _similarity,
    _structured,
    _text,
    _webhook,
)
from .interface import AssertionContext, AssertionError_, AssertionSpec, GradingResult

__all__ = [
    "KNOWN_ASSERTION_TYPES",
    "assertion_from_config",
    "close_javascript_worker",
    "evaluate_assertion",
]

close_javascript_worker = _code.close_javascript_worker

_Handler = Any  # Callable[[AssertionContext], GradingResult | Awaitable[GradingResult]]

_HANDLERS: dict[str, _Handler] = {
    "contains": _text.handle_contains,
    "contains-all": _text.handle_contains_all,
    "contains-any": _text.handle_contains_any,
    "equals": _text.handle_equals,
    "icontains": _text.handle_icontains,
    "icontains-all": _text.handle_icontains_all,
    "icontains-any": _text.handle_icontains_any,
    "starts-with": _text.handle_starts_with,
    "word-count": _text.handle_word_count,
    "regex": _text.handle_regex,
    "is-json": _structured.handle_is_json,
    "contains-json": _structured.handle_contains_json,
    "is-xml": _structured.handle_xml,
    "contains-xml": _structured.handle_xml,
    "is-sql": _structured.handle_is_sql,
    "levenshtein": _similarity.handle_levenshtein,
    "rouge-n": _similarity.handle_rouge_n,
    "bleu": _similarity.handle_bleu,
    "latency": _runtime.handle_latency,
    "cost": _runtime.handle_cost,
    "finish-reason": _runtime.handle_finish_reason,
    "is-refusal": _runtime.handle_is_refusal,
    "python": _code.handle_python,
    "javascript": _code.handle_javascript,
    "webhook": _webhook.handle_webhook,
    "llm-rubric": _model_graded.handle_llm_rubric,
    "model-graded-closedqa": _model_graded.handle_closed_qa,
    "factuality": _model_graded.handle_factuality,
    "model-graded-factuality": _model_graded.handle_factuality,
    "answer-relevance": _model_graded.handle_answer_relevance,
    "similar": _model_graded.handle_similar,
    "similar:cosine": _model_graded.handle_similar,
    "similar:dot": _model_graded.handle_similar,
    "similar:euclidean": _model_graded.handle_similar,
}

#: Types whose ``file://`` value is their own code, not a script computing the expected value.
_SCRIPT_TYPES = frozenset({"python", "javascript"})

#: Every assertion type this engine grades, with its ``not-`` forms; ``assert-set`` included.
KNOWN_ASSERTION_TYPES: frozenset[str] = frozenset(
    {*_HANDLERS, *(f"not-{t}" for t in _HANDLERS), "assert-set"}
)

#: Keys of an ``assert:`` entry that map to AssertionSpec fields; the rest stay in ``raw``.
_NUMBER = (int, float)


async def evaluate_assertion(ctx: AssertionContext) -> GradingResult:
    """Grade ``ctx.output`` against one assertion (``ctx.spec``, value already rendered).

    Returns the assertion's verdict with ``not-`` inversion applied and the ``weight: 0``
    rule (always passes) applied; the score is the handler's, unclamped.

    Raises:
        AssertionError_: the assertion *throws* in promptfoo (unknown type, an invalid value,
            ``cost`` without a provider cost, an invalid JSON schema…): the runner makes the
            whole result an ERROR.
    """
    spec = ctx.spec
    if spec.base_type == "assert-set":
        raise AssertionError_("assert-set is graded by the runner, child by child")
    handler = _HANDLERS.get(spec.base_type)
    if handler is None:
        raise AssertionError_(f"Unknown assertion type: {spec.type}")
    if spec.base_type not in _SCRIPT_TYPES:
        resolved = await _resolve_value(ctx)
        if isinstance(resolved, GradingResult):
            resolved.assertion = dict(spec.raw) if spec.raw else _spec_to_dict(spec)
            return resolved
        ctx = resolved
    outcome = handler(ctx)
    result: GradingResult = await outcome if inspect.isawaitable(outcome) else outcome
    if result.assertion is None:
        result.assertion = dict(spec.raw) if spec.raw else _spec_to_dict(spec)
    if spec.weight == 0:
        result.passed = True
    return result


async def _resolve_value(ctx: AssertionContext) -> AssertionContext | GradingResult:
    """promptfoo's value loading: ``file://`` scripts run, data files are read.

    A Python script that raises fails the assertion (returned as a GradingResult); a
    JavaScript script that throws, or a script returning a boolean or a GradingResult for a
    non-script assertion, makes it an error.
    """
    spec = ctx.spec
    value = spec.value
    if isinstance(value, str) and value.startswith("file://"):
        try:
            is_script, computed = await _code.value_from_script(ctx)
        except _code.ScriptFailed as exc:
            return GradingResult(passed=False, score=0.0, reason=str(exc))
        if is_script:
            kind = _script_result_kind(computed)
            if kind:
                raise AssertionError_(
                    f'Script for "{spec.type}" assertion returned a {kind}. Only '
                    "javascript/python/ruby assertion types can return "
                    f"{kind if kind == 'GradingResult' else kind + ' values'}. For other assertion "
                    "types, return the expected value (string, number, array, or object)."
                )
            return dataclasses.replace(ctx, spec=dataclasses.replace(spec, value=computed))
        return dataclasses.replace(
            ctx, spec=dataclasses.replace(spec, value=_read_file_value(ctx.base_dir, value))
        )
    if isinstance(value, list) and any(
        isinstance(v, str) and v.startswith("file://") for v in value
    ):
        items = [
            _read_file_value(ctx.base_dir, v)
            if isinstance(v, str) and v.startswith("file://")
            else v
            for v in value
        ]
        return dataclasses.replace(ctx, spec=dataclasses.replace(spec, value=items))
    return ctx


def _script_result_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict) and "pass" in value:
        return "GradingResult"
    return ""


def _read_file_value(base_dir: str, ref: str) -> Any:
    """promptfoo's ``processFileReference``: JSON/YAML files parsed, ``.txt`` trimmed."""
    path = Path(base_dir) / ref[len("file://") :]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AssertionError_(f"cannot read assertion value file {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        try:
            return _structured.load_yaml(text)
        except Exception as exc:  # noqa: BLE001 - any YAML problem is the file's
            raise AssertionError_(f"cannot parse assertion value file {path}: {exc}") from None
    if suffix == ".txt":
        return js_trim(text)
    raise AssertionError_(f"Unsupported file type: {path}")


def _spec_to_dict(spec: AssertionSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": spec.type}
    if spec.value is not None:
        out["value"] = spec.value
    if spec.threshold is not None:
        out["threshold"] = spec.threshold
    if spec.metric is not None:
        out["metric"] = spec.metric
    return out


def assertion_from_config(raw: Mapping[str, Any], *, where: str = "assert") -> AssertionSpec:
    """Parse one entry of a test's ``assert:`` list (``assert-set`` children included).

    The type is checked against :data:`KNOWN_ASSERTION_TYPES`; the value is kept as written
    (rendering it with the test's vars is the runner's job).

    Raises:
        InvalidFile: the entry is not a mapping, has no string ``type``, an unknown type, or a
            non-numeric ``threshold``/``weight``; the message names ``where``.
    """
    if not isinstance(raw, Mapping):
        raise InvalidFile(f"{where}: an assertion must be a mapping with a 'type', got {raw!r}")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidFile(f"{where}: an assertion needs a 'type' (e.g. 'contains')")
    if kind not in KNOWN_ASSERTION_TYPES:
        raise InvalidFile(
            f"{where}: unknown assertion type {kind!r}. "
            "Use one of promptfoo's types, e.g. contains, equals, regex, is-json, python."
        )
    threshold = raw.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, _NUMBER)
    ):
        raise InvalidFile(f"{where}.threshold: must be a number, got {threshold!r}")
    weight = raw.get("weight", 1)
    if weight is None:
        weight = 1
    if isinstance(weight, bool) or not isinstance(weight, _NUMBER):
        raise InvalidFile(f"{where}.weight: must be a number, got {weight!r}")
    metric = raw.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise InvalidFile(f"{where}.metric: must be a string, got {metric!r}")
    transform = raw.get("transform")
    if transform is not None and not isinstance(transform, str):
        raise InvalidFile(f"{where}.transform: must be a string of code, got {transform!r}")
    config = raw.get("config") or {}
    if not isinstance(config, Mapping):
        raise InvalidFile(f"{where}.config: must be a mapping, got {config!r}")
    children: list[AssertionSpec] | None = None
    if kind == "assert-set":
        items = raw.get("assert")
        if not isinstance(items, list) or not items:
            raise InvalidFile(f"{where}.assert: an assert-set needs a non-empty 'assert' list")
        children = [
            assertion_from_config(item, where=f"{where}.assert[{i}]")
            for i, item in enumerate(items)
        ]
        if any(c.type == "assert-set" for c in children):
            raise InvalidFile(f"{where}.assert: assert-sets cannot be nested")
    return AssertionSpec(
        type=kind,
        value=raw.get("value"),
        threshold=float(threshold) if threshold is not None else None,
        weight=float(weight),
        metric=metric,
        provider=raw.get("provider"),
        transform=transform,
        config=dict(config),
        children=children,
        raw=dict(raw),
    )
