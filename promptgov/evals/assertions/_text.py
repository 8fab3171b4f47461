"""Plain-text assertions: equals, contains and its variants, starts-with, word-count, regex."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..js._jsregex import JsRegexError, js_regex_test
from ..js._jsvalue import (
    coerce_string,
    deep_equal,
    js_number_of,
    js_string,
    js_truthy,
    json_parse,
    json_stringify,
    split_js_whitespace,
)
from .interface import AssertionContext, AssertionError_, GradingResult

_MISSING = object()

#: The longest a ``regex`` match may run (less when the assertion's deadline is shorter). The
#: match holds the event loop, so a catastrophic pattern must not get the 300 s of user code.
REGEX_TIMEOUT_S = 10.0


def invariant(condition: Any, message: str) -> None:
    """promptfoo's ``invariant``: a broken precondition makes the assertion *throw* (an error)."""
    if not condition:
        raise AssertionError_(f"Invariant failed: {message}")


def verdict(passed: bool, reason: str) -> GradingResult:
    """A binary verdict: score 1 when it passes, 0 otherwise, and promptfoo's pass reason."""
    return GradingResult(
        passed=passed, score=1.0 if passed else 0.0, reason="Assertion passed" if passed else reason
    )


def raw_value(ctx: AssertionContext) -> Any:
    """The rendered value, or a sentinel when the config gave none (JavaScript ``undefined``)."""
    if ctx.spec.value is None and "value" not in ctx.spec.raw:
        return _MISSING
    return ctx.spec.value


def output_string(ctx: AssertionContext) -> str:
    """The output as promptfoo's ``coerceString`` sees it."""
    return coerce_string(ctx.output)


def _not(inverse: bool) -> str:
    return "not " if inverse else ""


def parse_comma_separated(value: str) -> list[str]:
    """Split a ``contains-any`` string on commas, honouring double-quoted fields."""
    results: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n:
            while i < n and value[i].isspace():
                i += 1
            if i < n and value[i] == ",":
                i += 1
                continue
            break
        if i >= n:
            break
        if value[i] == '"':
            i += 1
            field: list[str] = []
            terminated = False
            while i < n:
                ch = value[i]
                if ch == "\\" and i + 1 < n and value[i + 1] in '"\\':
                    field.append(value[i + 1])
                    i += 2
                elif ch == '"' and i + 1 < n and value[i + 1] == '"':
                    field.append('"')
                    i += 2
                elif ch == '"':
                    i += 1
                    terminated = True
                    break
                else:
                    field.append(ch)
                    i += 1
            invariant(terminated, "Unterminated quoted field in contains assertion value")
            results.append("".join(field))
            while i < n and value[i].isspace():
                i += 1
            invariant(
                i >= n or value[i] == ",",
                "Expected comma after quoted field in contains assertion value",
            )
        else:
            start = i
            while i < n and value[i] != ",":
                i += 1
            results.append(value[start:i].strip())
    return results


def _is_contains_value(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _contains(ctx: AssertionContext, fold: Callable[[str], str], name: str) -> GradingResult:
    value = raw_value(ctx)
    invariant(
        value is not _MISSING and _is_contains_value(value),
        f'"{name}" assertion type must have a string or number value',
    )
    inverse = ctx.spec.negated
    passed = (fold(js_string(value)) in fold(output_string(ctx))) != inverse
    return verdict(passed, f'Expected output to {_not(inverse)}contain "{js_string(value)}"')


def _identity(text: str) -> str:
    return text


def _lower(text: str) -> str:
    # JavaScript toLowerCase: full lowercase mapping, no case folding (ß stays ß).
    return text.lower()


def handle_contains(ctx: AssertionContext) -> GradingResult:
    """``contains``: the output includes the value (a string or a number)."""
    return _contains(ctx, _identity, "contains")


def handle_icontains(ctx: AssertionContext) -> GradingResult:
    """``icontains``: case-insensitive ``contains``, lower-casing both sides."""
    return _contains(ctx, _lower, "icontains")


def _list_value(ctx: AssertionContext, name: str) -> list[Any]:
    value = raw_value(ctx)
    invariant(
        value is not _MISSING and js_truthy(value), f'"{name}" assertion type must have a value'
    )
    if isinstance(value, str):
        value = parse_comma_separated(value)
    invariant(isinstance(value, list), f'"{name}" assertion type must have an array value')
    return list(value)


def _contains_any(ctx: AssertionContext, fold: Callable[[str], str], name: str) -> GradingResult:
    values = _list_value(ctx, name)
    out = fold(output_string(ctx))
    inverse = ctx.spec.negated
    passed = any(fold(js_string(v)) in out for v in values) != inverse
    joined = ", ".join("" if v is None else js_string(v) for v in values)
    return verdict(passed, f'Expected output to {_not(inverse)}contain one of "{joined}"')


def _contains_all(ctx: AssertionContext, fold: Callable[[str], str], name: str) -> GradingResult:
    values = _list_value(ctx, name)
    out = fold(output_string(ctx))
    inverse = ctx.spec.negated
    missing = [v for v in values if fold(js_string(v)) not in out]
    passed = (not missing) != inverse
    joined = ", ".join("" if v is None else js_string(v) for v in values)
    missed = ", ".join("" if v is None else js_string(v) for v in missing)
    return verdict(
        passed, f"Expected output to {_not(inverse)}contain all of [{joined}]. Missing: [{missed}]"
    )


def handle_contains_any(ctx: AssertionContext) -> GradingResult:
    """``contains-any``: at least one value occurs (a list, or a comma-separated string)."""
    return _contains_any(ctx, _identity, "contains-any")


def handle_icontains_any(ctx: AssertionContext) -> GradingResult:
    """``icontains-any``: case-insensitive ``contains-any``."""
    return _contains_any(ctx, _lower, "icontains-any")


def handle_contains_all(ctx: AssertionContext) -> GradingResult:
    """``contains-all``: every value occurs."""
    return _contains_all(ctx, _identity, "contains-all")


def handle_icontains_all(ctx: AssertionContext) -> GradingResult:
    """``icontains-all``: case-insensitive ``contains-all``."""
    return _contains_all(ctx, _lower, "icontains-all")


def handle_equals(ctx: AssertionContext) -> GradingResult:
    """``equals``: exact string match, or deep equality against the output parsed as JSON."""
    value = raw_value(ctx)
    out = output_string(ctx)
    inverse = ctx.spec.negated
    if value is None or isinstance(value, dict | list):
        # typeof null === "object" in JavaScript, so null also compares against JSON.parse(output).
        try:
            passed = deep_equal(value, json_parse(out)) != inverse
        except ValueError:
            passed = inverse
        shown = json_stringify(value)
    else:
        shown = "undefined" if value is _MISSING else js_string(value)
        passed = (shown == out) != inverse
    return verdict(passed, f'Expected output "{out}" to {_not(inverse)}equal "{shown}"')


def handle_starts_with(ctx: AssertionContext) -> GradingResult:
    """``starts-with``: the output begins with the value."""
    value = raw_value(ctx)
    message = '"starts-with" assertion type must have a string value'
    invariant(value is not _MISSING and js_truthy(value), message)
    invariant(isinstance(value, str), message)
    inverse = ctx.spec.negated
    passed = output_string(ctx).startswith(value) != inverse
    return verdict(passed, f'Expected output to {_not(inverse)}start with "{value}"')


def _js_to_number(value: Any) -> float | None:
    """``Number(value)``, with NaN as None (so the checks below read as "not a number")."""
    number = js_number_of(value)
    return None if math.isnan(number) else number


def handle_word_count(ctx: AssertionContext) -> GradingResult:
    """``word-count``: an exact count, or a ``{min, max}`` range, of whitespace-separated words."""
    value = raw_value(ctx)
    invariant(
        value is not _MISSING and value is not None, '"word-count" assertion must have a value'
    )
    count = len(split_js_whitespace(output_string(ctx)))
    inverse = ctx.spec.negated
    if isinstance(value, dict):
        raw_lo, raw_hi = value.get("min"), value.get("max")
        invariant(
            raw_lo is not None or raw_hi is not None,
            '"word-count" assertion object must have "min" and/or "max" properties',
        )
        # JavaScript compares numerically after Number(); NaN makes every comparison false.
        lo = _js_to_number(raw_lo) if raw_lo is not None else None
        hi = _js_to_number(raw_hi) if raw_hi is not None else None
        nan = float("nan")
        if raw_lo is not None and raw_hi is not None:
            lo_n = nan if lo is None else lo
            hi_n = nan if hi is None else hi
            invariant(
                lo_n <= hi_n,
                f'"word-count" assertion: min ({js_string(raw_lo)}) must be less than or equal to '
                f"max ({js_string(raw_hi)})",
            )
            base = lo_n <= count <= hi_n
            span = f"{js_string(raw_lo)} and {js_string(raw_hi)}"
            fail = (
                f"Expected word count to not be between {span}, but got {count}"
                if inverse
                else f"Word count {count} is not between {span}"
            )
        elif raw_lo is None:
            base = count <= (nan if hi is None else hi)
            fail = (
                f"Expected word count to be greater than {js_string(raw_hi)}, but got {count}"
                if inverse
                else f"Word count {count} is greater than maximum {js_string(raw_hi)}"
            )
        else:
            base = count >= (nan if lo is None else lo)
            fail = (
                f"Expected word count to be less than {js_string(raw_lo)}, but got {count}"
                if inverse
                else f"Word count {count} is less than minimum {js_string(raw_lo)}"
            )
    else:
        expected = _js_to_number(value) if isinstance(value, int | float | str) else None
        invariant(
            expected is not None and not isinstance(value, bool),
            '"word-count" assertion value must be a number or an object with min/max properties',
        )
        assert expected is not None
        base = count == expected
        shown = js_string(expected)
        fail = (
            f"Expected word count to not equal {shown}, but got {count}"
            if inverse
            else f"Word count {count} does not equal expected {shown}"
        )
    return verdict(base != inverse, fail)


def handle_regex(ctx: AssertionContext) -> GradingResult:
    """``regex``: the output matches the JavaScript pattern; an invalid pattern fails.

    Raises:
        AssertionError_: the match ran past its time limit (the row is an ERROR).
    """
    value = ctx.spec.value
    message = '"regex" assertion type must have a string value'
    invariant(isinstance(value, str) and value != "", message)
    assert isinstance(value, str)
    limit = min(ctx.timeout_s or REGEX_TIMEOUT_S, REGEX_TIMEOUT_S)
    try:
        matched = js_regex_test(value, output_string(ctx), timeout_s=limit)
    except JsRegexError as exc:
        return GradingResult(passed=False, score=0.0, reason=f"Invalid regex pattern: {exc}")
    except TimeoutError:
        raise AssertionError_(
            f"regex /{value}/ did not finish within {limit:g}s on this output (catastrophic "
            "backtracking): simplify the pattern, e.g. remove nested or overlapping repeats."
        ) from None
    inverse = ctx.spec.negated
    return verdict(
        matched != inverse, f'Expected output to {"not " if inverse else ""}match regex "{value}"'
    )
