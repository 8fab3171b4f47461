"""OpenAI-compatible chat, completion and embedding providers (OpenAI, vLLM, llama.cpp…)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._base import HttpApiProvider, parse_chat_prompt
from ._pricing import calculate_cost
from .cache import ResponseCache
from .interface import (
    CallContext,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderResponse,
    TokenUsage,
)

DEFAULT_API_BASE_URL = "https://api.openai.com/v1"

#: Config keys sent as-is in the request body when present.
_CHAT_PARAMS = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "n",
    "response_format",
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
    "user",
    "reasoning_effort",
    "parallel_tool_calls",
)
_COMPLETION_PARAMS = (
    "temperature",
    "max_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "best_of",
    "n",
    "user",
)


def make_openai_provider(
    provider_path: str,
    *,
    explicit_id: str | None,
    config: dict[str, Any],
    label: str | None,
    env: Mapping[str, str],
    cache: ResponseCache,
    max_concurrency: int,
    transport: Any = None,
) -> Provider:
    """Build the provider an ``openai:…`` id names (``openai:<model>`` means chat)."""
    rest = provider_path[len("openai:") :]
    kind, _, model = rest.partition(":")
    if kind not in ("chat", "completion", "embedding", "embeddings") or not model:
        kind, model = "chat", rest
    if not model:
        raise ProviderConfigError(f"provider {provider_path!r} names no model: openai:chat:<model>")
    classes: dict[str, Any] = {
        "chat": OpenAiChatProvider,
        "completion": OpenAiCompletionProvider,
        "embedding": OpenAiEmbeddingProvider,
        "embeddings": OpenAiEmbeddingProvider,
    }
    cls = classes[kind]
    # promptfoo shows the bare model name when the config points at another host.
    default_id = model if config.get("apiHost") or config.get("apiBaseUrl") else f"openai:{model}"
    provider: Provider = cls(
        explicit_id or default_id,
        config,
        label,
        model=model,
        env=env,
        cache=cache,
        max_concurrency=max_concurrency,
        transport=transport,
    )
    return provider


class _OpenAiBase(HttpApiProvider):
    """Base URL, key and headers resolved as promptfoo's OpenAI provider does."""

    path = "/chat/completions"

    def base_url(self) -> str:
        """The API root, from the first set of ``apiHost``, ``apiBaseUrl`` and the env.

        Env order as promptfoo: ``OPENAI_API_HOST``, ``OPENAI_API_BASE_URL``, ``OPENAI_BASE_URL``.
        """
        if self.config.get("apiHost"):
            return f"https://{self.config['apiHost']}/v1"
        if self.config.get("apiBaseUrl"):
            return str(self.config["apiBaseUrl"]).rstrip("/")
        if self.env.get("OPENAI_API_HOST"):
            return f"https://{self.env['OPENAI_API_HOST']}/v1"
        for name in ("OPENAI_API_BASE_URL", "OPENAI_BASE_URL"):
            if self.env.get(name):
                return self.env[name].rstrip("/")
        return DEFAULT_API_BASE_URL

    def endpoint(self) -> str:
        """Where requests go."""
        return self.base_url() + self.path

    def api_key(self) -> str | None:
        """``apiKey``, then the variable ``apiKeyEnvar`` names, then ``OPENAI_API_KEY``."""
        if self.config.get("apiKey"):
            return str(self.config["apiKey"])
        envar = self.config.get("apiKeyEnvar")
        if envar and self.env.get(str(envar)):
            return self.env[str(envar)]
        return self.env.get("OPENAI_API_KEY") or None

    def headers(self) -> dict[str, str]:
        """Auth, organization and the config's extra ``headers``."""
        out = {"Content-Type": "application/json"}
        key = self.api_key()
        if key:
            out["Authorization"] = f"Bearer {key}"
        elif urlsplit(self.base_url()).hostname == "api.openai.com":
            raise ProviderError(
                "API key is not set. Set the OPENAI_API_KEY environment variable or add "
                "`apiKey` to the provider config."
            )
        org = self.config.get("organization") or self.env.get("OPENAI_ORGANIZATION")
        if org:
            out["OpenAI-Organization"] = str(org)
        for name, value in (self.config.get("headers") or {}).items():
            out[str(name)] = str(value)
        return out

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The call's cost from the price table (None for unknown models)."""
        return calculate_cost(self.model, self.config, prompt_tokens, completion_tokens)

    async def post(self, body: dict[str, Any], context: CallContext) -> Any:
        """POST ``body`` and return the parsed JSON, turning an API error object into an error."""
        body = {**body, **dict(self.config.get("passthrough") or {})}
        url = self.endpoint()
        result = await self.http.request_ok(
            "POST", url, headers=self.headers(), json_body=body, timeout_s=context.timeout_s
        )
        data = result.json(url)
        if not isinstance(data, dict):
            raise ProviderError(f"malformed response from {url}: expected a JSON object")
        if data.get("error"):
            raise ProviderError(f"API error: {_format_error(data['error'])}")
        return data

    def usage(self, data: Mapping[str, Any]) -> tuple[TokenUsage, float | None]:
        """Token usage and cost from the response's ``usage`` block."""
        usage = data.get("usage")
        if not isinstance(usage, Mapping):
            return TokenUsage(num_requests=1), None
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        total = int(usage.get("total_tokens") or prompt + completion)
        return (
            TokenUsage(total=total, prompt=prompt, completion=completion, num_requests=1),
            self.cost(prompt, completion),
        )


def _format_error(error: Any) -> str:
    if isinstance(error, Mapping):
        parts = [str(error.get(k)) for k in ("type", "code") if error.get(k)]
        message = str(error.get("message") or json.dumps(error))
        return f"{message}" + (f" ({', '.join(parts)})" if parts else "")
    return str(error)


def _first_choice(data: Mapping[str, Any], url: str) -> Mapping[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ProviderError(f"malformed response from {url}: no choices in {_short(data)}")
    return choices[0]


def _short(data: Any) -> str:
    text = json.dumps(data, default=str)
    return text if len(text) <= 200 else text[:200] + "…"


class OpenAiChatProvider(_OpenAiBase):
    """``openai:chat:<model>``: chat-JSON prompts are sent as messages, text as one user turn."""

    path = "/chat/completions"

    def messages(self, prompt: str) -> list[dict[str, Any]]:
        """The request's ``messages``."""
        return parse_chat_prompt(prompt) or [{"role": "user", "content": prompt}]

    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """One ``/chat/completions`` request."""
        body: dict[str, Any] = {"model": self.model, "messages": self.messages(prompt)}
        body.update({k: self.config[k] for k in _CHAT_PARAMS if k in self.config})
        data = await self.post(body, context)
        choice = _first_choice(data, self.endpoint())
        message = choice.get("message")
        if not isinstance(message, Mapping):
            raise ProviderError(f"malformed response from {self.endpoint()}: choice has no message")
        output: Any = message.get("content")
        if message.get("refusal"):
            output = message["refusal"]
        elif message.get("tool_calls") and not output:
            output = message["tool_calls"]
        elif message.get("function_call") and not output:
            output = message["function_call"]
        if output is None:
            output = ""
        usage, cost = self.usage(data)
        return ProviderResponse(
            output=output,
            token_usage=usage,
            cost=cost,
            finish_reason=choice.get("finish_reason"),
            raw=data,
            metadata={"isRefusal": True} if message.get("refusal") else {},
        )


class OpenAiCompletionProvider(_OpenAiBase):
    """``openai:completion:<model>``: the legacy ``/completions`` endpoint."""

    path = "/completions"

    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """One ``/completions`` request."""
        body: dict[str, Any] = {"model": self.model, "prompt": prompt}
        body.update({k: self.config[k] for k in _COMPLETION_PARAMS if k in self.config})
        data = await self.post(body, context)
        choice = _first_choice(data, self.endpoint())
        usage, cost = self.usage(data)
        return ProviderResponse(
            output=str(choice.get("text") or ""),
            token_usage=usage,
            cost=cost,
            finish_reason=choice.get("finish_reason"),
            raw=data,
        )


class OpenAiEmbeddingProvider(_OpenAiBase):
    """``openai:embedding:<model>``: ``embed()`` through ``/embeddings``."""

    path = "/embeddings"

    async def embed(self, text: str) -> list[float]:
        """The embedding vector of ``text``."""
        vector = await self._embed(text, CallContext())
        return vector

    async def _embed(self, text: str, context: CallContext) -> list[float]:
        data = await self.post({"model": self.model, "input": text}, context)
        items = data.get("data")
        if (
            not isinstance(items, list)
            or not items
            or not isinstance(items[0], Mapping)
            or not isinstance(items[0].get("embedding"), list)
        ):
            raise ProviderError(f"malformed response from {self.endpoint()}: no embedding")
        return [float(x) for x in items[0]["embedding"]]

    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """An embedding provider used as a target returns the vector as its output."""
        vector = await self._embed(prompt, context)
        return ProviderResponse(output=vector, token_usage=TokenUsage(num_requests=1))
