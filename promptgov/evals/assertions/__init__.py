"""promptfoo-compatible assertions: parse an ``assert:`` entry and grade one output against it.

Each family lives in its own private module; this module holds the registry that maps a
promptfoo assertion type to its handler. A handler sees the ``not-`` prefix itself (through
``ctx.spec.negated``), because promptfoo's failure reasons say "to not contain…", and returns
the final verdict. :func:`evaluate_assertion` adds what is common to every type: the
``weight: 0`` rule and the ``assertion`` echo.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidFile
from ..types import AssertionContext, AssertionError_, AssertionSpec, GradingResult
from . import _text

__all__ = [
    "KNOWN_ASSERTION_TYPES",
    "assertion_from_config",
    "evaluate_assertion",
]

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
}

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
    outcome = handler(ctx)
    result: GradingResult = await outcome if inspect.isawaitable(outcome) else outcome
    if result.assertion is None:
        result.assertion = dict(spec.raw) if spec.raw else _spec_to_dict(spec)
    if spec.weight == 0:
        result.passed = True
    return result


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
