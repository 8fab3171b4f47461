"""The ``webhook`` assertion: POST the output to a URL and take its ``{pass, score, reason}``."""

from __future__ import annotations

import os
from typing import Any

from ..js._jsvalue import json_stringify
from ._text import invariant
from .interface import AssertionContext, GradingResult

#: promptfoo's default ``WEBHOOK_TIMEOUT`` in milliseconds.
DEFAULT_WEBHOOK_TIMEOUT_MS = 5000


def _timeout_s(environ: Any = None) -> float:
    env = os.environ if environ is None else environ
    try:
        return int(env.get("WEBHOOK_TIMEOUT", DEFAULT_WEBHOOK_TIMEOUT_MS)) / 1000
    except ValueError:
        return DEFAULT_WEBHOOK_TIMEOUT_MS / 1000


async def handle_webhook(ctx: AssertionContext) -> GradingResult:
    """``webhook``: any transport error, non-2xx status or malformed answer fails the assertion."""
    import httpx

    url = ctx.spec.value
    invariant(isinstance(url, str) and url != "", '"webhook" assertion type must have a URL value')
    assert isinstance(url, str)
    inverse = ctx.spec.negated
    body = json_stringify(
        {"output": ctx.output, "context": {"prompt": ctx.prompt, "vars": dict(ctx.vars)}}
    )
    try:
        async with httpx.AsyncClient(timeout=_timeout_s()) as client:
            response = await client.post(
                url, content=body.encode(), headers={"Content-Type": "application/json"}
            )
        if not 200 <= response.status_code < 300:
            raise ValueError(f"Webhook response status: {response.status_code}")
        data = response.json()
        if not isinstance(data, dict) or not isinstance(data.get("pass"), bool):
            raise ValueError(
                'Invariant failed: Webhook response must be a JSON object with a boolean "pass" '
                "property"
            )
    except (httpx.HTTPError, ValueError) as exc:
        return GradingResult(passed=False, score=0.0, reason=f"Webhook error: {exc}")
    passed = data["pass"] != inverse
    raw_score = data.get("score")
    if isinstance(raw_score, int | float) and not isinstance(raw_score, bool):
        score = 1 - raw_score if inverse else float(raw_score)
    else:
        score = 1.0 if passed else 0.0
    reason = data.get("reason") or (
        "Assertion passed" if passed else f"Webhook returned {'true' if inverse else 'false'}"
    )
    return GradingResult(passed=passed, score=score, reason=str(reason))
