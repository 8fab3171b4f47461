"""The JavaScript value helpers: one ``Number()`` for every caller."""

from __future__ import annotations

import math
from typing import Any

import pytest

from promptgov.evals.js._jsvalue import js_number_of
from promptgov.evals.templating import render


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (None, 0.0),
        (True, 1.0),
        ("", 0.0),
        ("  12.5\n", 12.5),
        ("0x1F", 31.0),
        ("-Infinity", -math.inf),
        ([5], 5.0),
        ([], 0.0),
        (".5e1", 5.0),
    ],
)
def test_number_of_follows_javascript(value: Any, number: float) -> None:
    assert js_number_of(value) == number


@pytest.mark.parametrize("value", ["inf", "nan", "1_000", "-0x10", "12px", [1, 2], {"a": 1}])
def test_number_of_python_only_spellings_are_nan(value: Any) -> None:
    assert math.isnan(js_number_of(value))


def test_the_round_filter_and_word_count_share_it() -> None:
    # Python's float() reads "1_000" as 1000; JavaScript's Number() gives NaN.
    assert render("{{ '1_000' | round }}", {}, {}) == "NaN"
    assert render("{{ '0x10' | round }}", {}, {}) == "16"
