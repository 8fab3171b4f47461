"""Model prices: genai-prices' figures, on exactly the models promptfoo 0.123.1 prices."""

from __future__ import annotations

import pytest

from promptgov.evals.providers._pricing import (
    PROMPTFOO_PRICED_MODELS,
    calculate_cost,
    price_per_token,
)

_M = 1e-6

#: promptfoo 0.123.1's own table (USD per input token, per output token), the reference.
PROMPTFOO_PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.5 * _M, 1.5 * _M),
    "gpt-4": (30 * _M, 60 * _M),
    "gpt-4-turbo": (10 * _M, 30 * _M),
    "gpt-4o": (2.5 * _M, 10 * _M),
    "gpt-4o-mini": (0.15 * _M, 0.6 * _M),
    "gpt-4.1": (2 * _M, 8 * _M),
    "gpt-4.1-mini": (0.4 * _M, 1.6 * _M),
    "gpt-4.1-nano": (0.1 * _M, 0.4 * _M),
    "gpt-5": (1.25 * _M, 10 * _M),
    "gpt-5-mini": (0.25 * _M, 2 * _M),
    "gpt-5-nano": (0.05 * _M, 0.4 * _M),
    "o1": (15 * _M, 60 * _M),
    "o3-mini": (1.1 * _M, 4.4 * _M),
    "o4-mini": (1.1 * _M, 4.4 * _M),
    "text-embedding-3-small": (0.02 * _M, 0.0),
    "text-embedding-3-large": (0.13 * _M, 0.0),
    "claude-3-haiku-20240307": (0.25 * _M, 1.25 * _M),
    "claude-3-5-haiku-20241022": (0.8 * _M, 4 * _M),
    "claude-3-5-sonnet-20241022": (3 * _M, 15 * _M),
    "claude-3-7-sonnet-20250219": (3 * _M, 15 * _M),
    "claude-sonnet-4-20250514": (3 * _M, 15 * _M),
    "claude-opus-4-20250514": (15 * _M, 75 * _M),
}


def test_the_priced_models_are_promptfoos() -> None:
    assert set(PROMPTFOO_PRICED_MODELS) == set(PROMPTFOO_PRICES)


@pytest.mark.parametrize("model", sorted(PROMPTFOO_PRICES))
def test_genai_prices_agrees_with_promptfoo(model: str) -> None:
    price = price_per_token(model)
    assert price is not None
    assert price == pytest.approx(PROMPTFOO_PRICES[model], rel=1e-12, abs=1e-15)


def test_a_model_promptfoo_cannot_price_has_no_cost() -> None:
    # genai-prices knows gpt-4o-2024-08-06; promptfoo 0.123.1 does not, so neither do we.
    assert calculate_cost("gpt-4o-2024-08-06", {}, 10, 10) is None
    assert calculate_cost("stub-model", {"cost": 1e-6}, 10, 10) is None


def test_config_costs_override_the_price() -> None:
    assert calculate_cost("gpt-4o-mini", {"inputCost": 1.0}, 2, 1) == pytest.approx(2 + 0.6e-6)
