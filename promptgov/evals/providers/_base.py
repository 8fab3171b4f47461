"""The common shape of providers that call an HTTP model API: pooled client plus response cache."""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Mapping
from typing import Any

from ._http import HttpClient
from .cache import ResponseCache, cache_key
from .interface import CallContext, Provider, ProviderError, ProviderResponse

_LOOKS_LIKE_JSON = re.compile(r"^\s*[\[{].*[\]}]\s*$", re.DOTALL)


def parse_chat_prompt(prompt: str) -> list[dict[str, Any]] | None:
    """The message list a chat-JSON (or ``- role:`` YAML) prompt holds, None for plain text.

    Text that looks like JSON but does not parse is an error, as in promptfoo, so a
    broken chat template never silently becomes one user message.
    """
    stripped = prompt.strip()
    if stripped.startswith("- role:"):
        import yaml

        try:
            data = yaml.safe_load(prompt)
        except yaml.YAMLError as exc:
            raise ProviderError(
                f"Chat Completion prompt is not a valid YAML string: {exc}"
            ) from exc
    else:
        try:
            data = json.loads(prompt)
        except ValueError as exc:
            if _LOOKS_LIKE_JSON.match(stripped):
                raise ProviderError(
                    f"Chat Completion prompt is not a valid JSON string: {exc}"
                ) from exc
            return None
    if isinstance(data, list) and all(isinstance(m, dict) for m in data):
        return data
    if isinstance(data, dict) and "role" in data:
        return [data]
    return None


class HttpApiProvider(Provider):
    """A provider backed by one :class:`HttpClient`; successful answers go through the cache."""

    def __init__(
        self,
        id: str,
        config: Mapping[str, Any] | None,
        label: str | None,
        *,
        env: Mapping[str, str],
        cache: ResponseCache,
        max_concurrency: int,
        transport: Any = None,
        model: str = "",
    ):
        super().__init__(id, config, label)
        #: The model name taken from the provider id (``openai:chat:<model>``), if any.
        self.model = model
        self.env = dict(env)
        self.cache = cache
        self.http = HttpClient(
            max_concurrency=max_concurrency, env=self.env, config=self.config, transport=transport
        )

    @abc.abstractmethod
    def endpoint(self) -> str:
        """The URL calls go to (part of the cache key: another server may answer differently)."""

    @abc.abstractmethod
    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """One real call to the API."""

    def cache_extra(self, prompt: str, context: CallContext) -> dict[str, Any]:
        """What else, besides id, config and prompt, changes the answer."""
        return {"url": self.endpoint()}

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Serve from the cache when allowed, else call the API and store a success."""
        key = ""
        if not context.no_cache and self.cache.enabled:
            key = cache_key(self.id, self.config, prompt, **self.cache_extra(prompt, context))
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        response = await self.call_uncached(prompt, context)
        if key and not response.error:
            self.cache.put(key, response)
        return response

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self.http.aclose()
