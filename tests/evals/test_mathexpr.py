"""The derivedMetrics formula evaluator (a safe subset of mathjs)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptgov.evals.js._mathexpr import ExpressionError, evaluate


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("a / __count", 0.5),
        ("(a + b) * 2 - max(b, 0.5) ^ 2", 2.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("-a + sqrt(16)", 3.0),
        ("a > 0 ? 10 : 20", 10.0),
        ("mean(1, 2, 3) + min(4, 5)", 6.0),
        ("7 % 3", 1.0),
    ],
)
def test_formulas(formula: str, expected: float) -> None:
    assert evaluate(formula, {"a": 1, "b": 2, "__count": 2}) == pytest.approx(expected)


def test_division_by_zero_is_infinity_or_nan_as_in_mathjs() -> None:
    assert evaluate("1 / 0", {}) == math.inf
    assert math.isnan(evaluate("0 / 0", {}))


@pytest.mark.parametrize("formula", ["unknown * 2", "1 +", "foo(1)", "a $ b"])
def test_bad_formulas_raise(formula: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(formula, {"a": 1})


@given(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=1, max_value=1000),
)
def test_arithmetic_matches_python(a: int, b: int, c: int) -> None:
    assert evaluate("(x + y) * z - x / z", {"x": a, "y": b, "z": c}) == pytest.approx(
        (a + b) * c - a / c
    )
