"""The ``anthropic:messages:<model>`` provider, speaking the Messages API wire format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._base import HttpApiProvider, parse_chat_prompt
from ._pricing import calculate_cost
from .interface import CallContext, ProviderError, ProviderResponse, TokenUsage

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
#: promptfoo's default ``max_tokens`` for Anthropic (the API requires one).
DEFAULT_MAX_TOKENS = 1024

_PARAMS = ("temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "thinking")
#: Anthropic stop reasons in promptfoo's normalised vocabulary.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def split_system(messages: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Move ``system`` turns into the top-level ``system`` field the Messages API wants."""
    system: list[Any] = []
    rest: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "system":
            system.append(message.get("content", ""))
        else:
            rest.append(message)
    if not system:
        return None, rest
    if all(isinstance(s, str) for s in system):
        return "\n\n".join(system), rest
    blocks: list[Any] = []
    for s in system:
        blocks.extend(s if isinstance(s, list) else [{"type": "text", "text": str(s)}])
    return blocks, rest


def output_from_content(content: Any) -> str:
    """Text blocks joined by blank lines; tool calls as JSON, as promptfoo shows them."""
    if not isinstance(content, list):
        raise ProviderError("malformed Anthropic response: 'content' is not a list")
    parts: list[str] = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            parts.append(json.dumps(dict(block)))
    return "\n\n".join(parts)


class AnthropicMessagesProvider(HttpApiProvider):
    """POST ``/v1/messages`` with ``x-api-key`` and ``anthropic-version`` headers."""

    def endpoint(self) -> str:
        """``apiBaseUrl``, else ``ANTHROPIC_BASE_URL``, else the public API; plus /v1/messages."""
        base = (
            self.config.get("apiBaseUrl") or self.env.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        )
        return str(base).rstrip("/") + "/v1/messages"

    def headers(self) -> dict[str, str]:
        """Auth and version headers plus the config's ``headers``."""
        key = self.config.get("apiKey") or self.env.get("ANTHROPIC_API_KEY")
        if not key and self.endpoint().startswith(DEFAULT_BASE_URL):
            raise ProviderError(
                "Anthropic API key is not set. Set the ANTHROPIC_API_KEY environment variable "
                "or add `apiKey` to the provider config."
            )
        out = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if key:
            out["x-api-key"] = str(key)
        for name, value in (self.config.get("headers") or {}).items():
            out[str(name)] = str(value)
        return out

    def body(self, prompt: str) -> dict[str, Any]:
        """The Messages API request for ``prompt``."""
        parsed = parse_chat_prompt(prompt)
        if parsed is None:
            messages: list[dict[str, Any]] = [
                {"role": "user", "content": [{"type": "text", "text": prompt}]}
            ]
            system = None
        else:
            system, messages = split_system(parsed)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.config.get("max_tokens", DEFAULT_MAX_TOKENS),
            "messages": messages,
        }
        if system is not None:
            body["system"] = system
        body.update({k: self.config[k] for k in _PARAMS if k in self.config})
        return body

    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """One Messages API request."""
        url = self.endpoint()
        result = await self.http.request_ok(
            "POST",
            url,
            headers=self.headers(),
            json_body=self.body(prompt),
            timeout_s=context.timeout_s,
        )
        data = result.json(url)
        if not isinstance(data, Mapping):
            raise ProviderError(f"malformed response from {url}: expected a JSON object")
        if data.get("type") == "error" or data.get("error"):
            error = data.get("error")
            message = error.get("message") if isinstance(error, Mapping) else error
            raise ProviderError(f"API error: {message}")
        output = output_from_content(data.get("content"))
        usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
        assert isinstance(usage, Mapping)
        prompt_tokens = (
            int(usage.get("input_tokens") or 0)
            + int(usage.get("cache_read_input_tokens") or 0)
            + int(usage.get("cache_creation_input_tokens") or 0)
        )
        completion_tokens = int(usage.get("output_tokens") or 0)
        stop = data.get("stop_reason")
        return ProviderResponse(
            output=output,
            token_usage=TokenUsage(
                total=prompt_tokens + completion_tokens,
                prompt=prompt_tokens,
                completion=completion_tokens,
                num_requests=1,
            ),
            cost=calculate_cost(self.model, self.config, prompt_tokens, completion_tokens),
            finish_reason=_FINISH_REASONS.get(str(stop), stop) if stop else None,
            raw=data,
        )
