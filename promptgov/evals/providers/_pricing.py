"""Published per-token prices of well-known models, for the ``cost`` promptfoo records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_M = 1e-6

#: model id → (USD per input token, USD per output token).
PRICES: dict[str, tuple[float, float]] = {
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


def calculate_cost(
    model: str, config: Mapping[str, Any], prompt_tokens: int, completion_tokens: int
) -> float | None:
    """The call's cost in USD, or None for a model without a known price.

    As in promptfoo, ``config.inputCost``/``outputCost``/``cost`` (USD per token)
    override the table's price but do not give an unknown model a price.
    """
    price = PRICES.get(model)
    if price is None:
        return None
    input_cost = _number(config.get("inputCost"), _number(config.get("cost"), price[0]))
    output_cost = _number(config.get("outputCost"), _number(config.get("cost"), price[1]))
    return input_cost * prompt_tokens + output_cost * completion_tokens


def _number(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default
