"""The shared vocabulary of the eval engine: provider responses, grading results, assertion specs.

The engine's three plugin families meet here and nowhere else:

* providers (``evals/providers/``) turn a rendered prompt into a :class:`ProviderResponse`;
* assertions (``evals/assertions/``) turn an output into a :class:`GradingResult`;
* the runner (``evals/runner.py``) drives both and scores tests as promptfoo does.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import AssertionError_ as AssertionError_
from .errors import ProviderConfigError as ProviderConfigError
from .errors import ProviderError as ProviderError


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


@dataclass
class AssertionSpec:
    """One entry of a test's ``assert:`` list, as written in the config (values not yet rendered)."""

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None
    provider: Any = None
    transform: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: Children of an ``assert-set``.
    children: list[AssertionSpec] | None = None
    #: The original mapping, echoed into ``componentResults[].assertion``.
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def negated(self) -> bool:
        """True for ``not-`` assertions."""
        return self.type.startswith("not-")

    @property
    def base_type(self) -> str:
        """The type without its ``not-`` prefix."""
        return self.type[4:] if self.negated else self.type


@dataclass
class GradingResult:
    """The verdict of one assertion or of a whole test (promptfoo's ``GradingResult``)."""

    passed: bool
    score: float
    reason: str = ""
    named_scores: dict[str, float] = field(default_factory=dict)
    tokens_used: TokenUsage | None = None
    component_results: list[GradingResult] = field(default_factory=list)
    assertion: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """promptfoo's JSON shape (``pass``, ``score``, ``reason``, ``componentResults``…)."""
        out: dict[str, Any] = {"pass": self.passed, "score": self.score, "reason": self.reason}
        if self.named_scores:
            out["namedScores"] = dict(self.named_scores)
        if self.tokens_used is not None:
            out["tokensUsed"] = self.tokens_used.to_dict()
        if self.component_results:
            out["componentResults"] = [c.to_dict() for c in self.component_results]
        if self.assertion is not None:
            out["assertion"] = self.assertion
        if self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class AssertionContext:
    """Everything an assertion handler may look at. ``spec.value`` is already rendered."""

    spec: AssertionSpec
    output: Any
    vars: Mapping[str, Any]
    prompt: str
    response: ProviderResponse
    provider: Provider | None
    latency_ms: float
    #: The config's base directory, for ``file://`` references.
    base_dir: str = "."
    #: Returns the grading provider for model-graded assertions (test ``options.provider``,
    #: ``defaultTest.options.provider`` or the configured default); raises ProviderError if none.
    get_grader: Callable[[Any], Provider] | None = None
    test: Mapping[str, Any] = field(default_factory=dict)
    #: Deadline for code the assertion runs on Node (the run's ``timeoutMs``); None: the default.
    timeout_s: float | None = None


#: An assertion handler: sync or async, returns the verdict *before* ``not-`` inversion.
AssertionHandler = Callable[[AssertionContext], "GradingResult | Awaitable[GradingResult]"]
