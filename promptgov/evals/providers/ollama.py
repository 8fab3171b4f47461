"""The ``ollama:chat:<model>`` provider: Ollama's native ``/api/chat`` without streaming."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import HttpApiProvider, parse_chat_prompt
from .interface import CallContext, ProviderError, ProviderResponse, TokenUsage

DEFAULT_BASE_URL = "http://localhost:11434"

#: Config keys that go into Ollama's ``options`` object.
_OPTIONS = (
    "num_predict",
    "num_ctx",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "repeat_penalty",
    "seed",
    "stop",
    "mirostat",
    "num_gpu",
    "num_thread",
)
_TOP_LEVEL = ("format", "keep_alive", "tools", "think")


class OllamaChatProvider(HttpApiProvider):
    """POST ``{OLLAMA_BASE_URL}/api/chat`` with ``stream: false``; reports tokens, no cost."""

    def endpoint(self) -> str:
        """``config.baseUrl``, else ``OLLAMA_BASE_URL``, else localhost:11434; plus /api/chat."""
        base = self.config.get("baseUrl") or self.env.get("OLLAMA_BASE_URL") or DEFAULT_BASE_URL
        return str(base).rstrip("/") + "/api/chat"

    def headers(self) -> dict[str, str]:
        """JSON content type, a bearer token when ``OLLAMA_API_KEY`` is set, config headers."""
        out = {"Content-Type": "application/json"}
        key = self.config.get("apiKey") or self.env.get("OLLAMA_API_KEY")
        if key:
            out["Authorization"] = f"Bearer {key}"
        for name, value in (self.config.get("headers") or {}).items():
            out[str(name)] = str(value)
        return out

    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """One non-streaming chat request."""
        messages = parse_chat_prompt(prompt) or [{"role": "user", "content": prompt}]
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": False}
        options = {k: self.config[k] for k in _OPTIONS if k in self.config}
        if options:
            body["options"] = options
        body.update({k: self.config[k] for k in _TOP_LEVEL if k in self.config})
        url = self.endpoint()
        result = await self.http.request_ok(
            "POST", url, headers=self.headers(), json_body=body, timeout_s=context.timeout_s
        )
        data = result.json(url)
        if not isinstance(data, Mapping):
            raise ProviderError(f"malformed response from {url}: expected a JSON object")
        if data.get("error"):
            raise ProviderError(f"API error: {data['error']}")
        message = data.get("message")
        if not isinstance(message, Mapping) or "content" not in message:
            raise ProviderError(f"malformed response from {url}: no message content")
        prompt_tokens = int(data.get("prompt_eval_count") or 0)
        completion_tokens = int(data.get("eval_count") or 0)
        output: Any = message.get("content") or ""
        if not output and message.get("tool_calls"):
            output = message["tool_calls"]
        return ProviderResponse(
            output=output,
            token_usage=TokenUsage(
                total=prompt_tokens + completion_tokens,
                prompt=prompt_tokens,
                completion=completion_tokens,
                num_requests=1,
            ),
            finish_reason="stop" if data.get("done_reason") in (None, "stop") else "length",
            raw=data,
        )
