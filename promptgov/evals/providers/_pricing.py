"""Per-token prices of the models promptfoo 0.123.1 can price, for the ``cost`` it records.

The figures come from genai-prices (its bundled snapshot; nothing is fetched). The *set* of
models stays promptfoo's: its ``cost`` assertion errors on a model it cannot price, so a model
genai-prices knows but promptfoo does not must still have no cost here. genai-prices 0.2.3
agrees with promptfoo's table on every model below (``tests/evals/providers/test_pricing.py``
holds promptfoo's figures and checks it); if an upgrade ever disagrees on a model, that test
fails, and promptfoo's figure for that model is to be pinned here with a comment saying so.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["PROMPTFOO_PRICED_MODELS", "calculate_cost", "price_per_token"]

#: The models promptfoo 0.123.1 has a price for → the genai-prices provider that sells them.
PROMPTFOO_PRICED_MODELS: dict[str, str] = {
    **dict.fromkeys(
        (
            "gpt-3.5-turbo",
            "gpt-4",
            "gpt-4-turbo",
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-nano",
            "o1",
            "o3-mini",
            "o4-mini",
            "text-embedding-3-small",
            "text-embedding-3-large",
        ),
        "openai",
    ),
    **dict.fromkeys(
        (
            "claude-3-haiku-20240307",
            "claude-3-5-haiku-20241022",
            "claude-3-5-sonnet-20241022",
            "claude-3-7-sonnet-20250219",
            "claude-sonnet-4-20250514",
            "claude-opus-4-20250514",
        ),
        "anthropic",
    ),
}

#: Tokens priced to read a per-token rate: small enough to stay in every model's base tier
#: (promptfoo charges one flat rate per token, whatever the prompt's length).
_PROBE_TOKENS = 1000


@functools.cache
def price_per_token(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token), or None for a model promptfoo cannot price."""
    provider = PROMPTFOO_PRICED_MODELS.get(model)
    if provider is None:
        return None
    # Imported on first use: only runs against a priced model pay for its price data.
    from genai_prices import Usage, calc_price

    priced = calc_price(
        Usage(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS),
        model_ref=model,
        provider_id=provider,
    )
    return (
        float(Decimal(priced.input_price) / _PROBE_TOKENS),
        float(Decimal(priced.output_price) / _PROBE_TOKENS),
    )


def calculate_cost(
    model: str, config: Mapping[str, Any], prompt_tokens: int, completion_tokens: int
) -> float | None:
    """The call's cost in USD, or None for a model without a known price.

    As in promptfoo, ``config.inputCost``/``outputCost``/``cost`` (USD per token)
    override the table's price but do not give an unknown model a price.
    """
    price = price_per_token(model)
    if price is None:
        return None
    input_cost = _number(config.get("inputCost"), _number(config.get("cost"), price[0]))
    output_cost = _number(config.get("outputCost"), _number(config.get("cost"), price[1]))
    return input_cost * prompt_tokens + output_cost * completion_tokens


def _number(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default
