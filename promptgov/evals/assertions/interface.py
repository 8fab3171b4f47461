"""The assertion plugin interface: an ``assert:`` entry, what a handler sees, its verdict.

A handler takes an :class:`AssertionContext` and returns a :class:`GradingResult`; the
registry in :mod:`promptgov.evals.assertions` maps each promptfoo type to one. A handler that
*throws* (:class:`AssertionError_`) makes the row an ERROR, one that returns
``passed=False`` makes it a FAIL — promptfoo's distinction, kept here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import AssertionError_
from ..providers.interface import Provider, ProviderResponse, TokenUsage

__all__ = [
    "AssertionContext",
    "AssertionError_",
    "AssertionHandler",
    "AssertionSpec",
    "GradingResult",
]


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
    #: Deadline for the user code the assertion runs (on Node, in a Python worker) and the cap
    #: of a regex match: the run's ``timeoutMs``, else ``REQUEST_TIMEOUT_MS``; None: the default.
    timeout_s: float | None = None


#: An assertion handler: sync or async, returns the verdict *before* ``not-`` inversion.
AssertionHandler = Callable[[AssertionContext], "GradingResult | Awaitable[GradingResult]"]
