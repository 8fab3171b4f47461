"""Synthetic production logs with known properties, for the statistical tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from promptgov.monitor import ProductionRecord

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MODEL = "gpt-4o-mini-2024-07-18"
REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True)
class Traffic:
    """How one window of synthetic traffic behaves; defaults are the 'healthy' baseline."""

    length_scale: float = 1.0
    refusal_rate: float = 0.02
    cost_scale: float = 1.0
    latency_scale: float = 1.0
    json_valid_rate: float = 0.95
    length_stop_rate: float = 0.03
    model: str = MODEL


def records(
    n: int,
    traffic: Traffic,
    rng: np.random.Generator,
    *,
    start: datetime = T0,
    prompt: str = "support-reply",
    version: str = "1.0.0",
) -> Iterator[ProductionRecord]:
    """``n`` records one second apart; lengths, costs and latencies are log-normal."""
    lengths = np.maximum(1, rng.lognormal(5.0, 0.4, n) * traffic.length_scale).astype(int)
    refused = rng.random(n) < traffic.refusal_rate
    valid = rng.random(n) < traffic.json_valid_rate
    truncated = rng.random(n) < traffic.length_stop_rate
    tokens_in = rng.integers(80, 160, n)
    latency = rng.lognormal(6.0, 0.3, n) * traffic.latency_scale
    cost = rng.lognormal(-9.0, 0.3, n) * traffic.cost_scale
    for i in range(n):
        if refused[i]:
            output = REFUSAL
        else:
            output = '{"reply": "' + "x" * int(lengths[i]) + '"}'
            if not valid[i]:
                output = output[:-2]
        yield ProductionRecord.model_construct(
            time=start + timedelta(seconds=i),
            prompt=prompt,
            version=version,
            model_returned=traffic.model,
            output=output,
            latency_ms=float(latency[i]),
            tokens_in=int(tokens_in[i]),
            tokens_out=max(1, len(output) // 4),
            cost=float(cost[i]),
            finish_reason="length" if truncated[i] else "stop",
        )


def write_jsonl(path: Path, recs: Iterator[ProductionRecord]) -> Path:
    """Write records as JSONL, the way an application would log them."""
    with path.open("w") as fh:
        for r in recs:
            fh.write(json.dumps(r.model_dump(mode="json", exclude_none=True)) + "\n")
    return path
