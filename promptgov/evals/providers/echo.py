"""The ``echo`` provider: returns the rendered prompt as the output, as promptfoo's does."""

from __future__ import annotations

import asyncio

from .interface import CallContext, Provider, ProviderResponse, TokenUsage


class EchoProvider(Provider):
    """Echoes the prompt back; reports cost 0 and one request with zero tokens (promptfoo)."""

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Return ``prompt`` unchanged, after the provider's ``delay`` as promptfoo's echo does."""
        if self.delay > 0:
            await asyncio.sleep(self.delay / 1000)
        return ProviderResponse(
            output=prompt,
            raw=prompt,
            cost=0.0,
            token_usage=TokenUsage(num_requests=1),
            fields=dict(_FIELDS, output=prompt, raw=prompt),
        )


#: promptfoo's echo response object (``EchoProvider.callApi``).
_FIELDS = {
    "output": "",
    "raw": "",
    "cost": 0,
    "cached": False,
    "tokenUsage": {},
    "isRefusal": False,
    "metadata": {},
}
