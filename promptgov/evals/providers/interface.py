"""The provider plugin interface: what a provider is given, what it must return, how it fails.

A provider turns a rendered prompt into a :class:`ProviderResponse`. Implementations live one
per module beside this file (``echo``, ``python``, ``exec_``, ``http``, ``openai``…) and are
found through the one provider table in :mod:`promptgov.evals.providers._registry`; the
runner only ever sees this interface, so a test can inject any :class:`Provider` subclass.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderConfigError, ProviderError

__all__ = [
    "CallContext",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "ProviderResponse",
    "TokenUsage",
]


@dataclass
class TokenUsage:
    """Token counts as providers report them (promptfoo's ``tokenUsage``)."""

    total: int = 0
    prompt: int = 0
    completion: int = 0
    cached: int = 0
    num_requests: int = 0

    def to_dict(self) -> dict[str, int]:
        """promptfoo's camelCase JSON shape."""
        return {
            "total": self.total,
            "prompt": self.prompt,
            "completion": self.completion,
            "cached": self.cached,
            "numRequests": self.num_requests,
        }


@dataclass
class ProviderResponse:
    """What one provider call returned (promptfoo's ``ProviderResponse``)."""

    output: Any = None
    error: str | None = None
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    #: Cost in USD when the provider reports or can compute it; None means unknown.
    cost: float | None = None
    cached: bool = False
    finish_reason: str | None = None
    #: Provider-measured latency; the runner measures its own when None.
    latency_ms: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Raw response body, kept for ``transformResponse`` and debugging.
    raw: Any = None
    #: The provider's response object as promptfoo's provider returns it (a python script's
    #: dict, echo's object), when it has one: the output file writes exactly its keys,
    #: with the values the run settled. None writes the modelled keys.
    fields: dict[str, Any] | None = None


@dataclass
class CallContext:
    """What a provider gets besides the prompt text."""

    vars: Mapping[str, Any] = field(default_factory=dict)
    prompt_label: str = ""
    prompt_raw: str = ""
    test: Mapping[str, Any] = field(default_factory=dict)
    #: Per-call timeout in seconds (``evaluateOptions.timeoutMs``); None for the provider default.
    timeout_s: float | None = None
    #: Bypass the on-disk response cache for this call.
    no_cache: bool = False
    #: promptfoo's ``repeatIndex``/``testIdx``/``evaluationId`` context keys (python/exec see them).
    repeat_index: int = 0
    test_idx: int = 0
    evaluation_id: str | None = None
    #: The prompt column's index, for promptfoo's ``__evalStepId`` var.
    prompt_idx: int = 0


class Provider(abc.ABC):
    """One model endpoint. Implementations live one per module in ``evals/providers/``."""

    #: promptfoo provider id, e.g. ``openai:chat:gpt-4o-mini`` or ``echo``.
    id: str
    #: Display label (``label:`` in the config), defaults to the id.
    label: str
    #: The provider's ``config:`` mapping from the promptfoo config.
    config: dict[str, Any]
    #: ``delay:`` in ms: the runner sleeps this long after each uncached call (promptfoo).
    delay: int = 0
    #: ``prompts:`` filter: the prompt labels/ids this provider runs, None for all.
    prompts: list[str] | None = None
    #: ``transform:`` applied by the runner to this provider's output, None for none.
    transform: str | None = None

    def __init__(self, id: str, config: Mapping[str, Any] | None = None, label: str | None = None):
        self.id = id
        self.config = dict(config or {})
        self.label = label or id

    @abc.abstractmethod
    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Send ``prompt`` and return the response; raise :class:`ProviderError` on failure."""

    async def embed(self, text: str) -> list[float]:
        """An embedding of ``text`` (for ``similar``); providers without one raise."""
        raise ProviderError(f"provider {self.id} does not provide embeddings")

    async def aclose(self) -> None:
        """Release connections; called once when the run ends."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
