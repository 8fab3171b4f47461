"""The engine's vocabulary under its old name, for scripts that import it from here.

The definitions live with their plugin families: :mod:`promptgov.evals.providers.interface`
(providers) and :mod:`promptgov.evals.assertions.interface` (assertions). A ``python``
provider or assertion script written against ``promptgov.evals.types`` keeps working.
"""

from __future__ import annotations

from .assertions.interface import (
    AssertionContext,
    AssertionError_,
    AssertionHandler,
    AssertionSpec,
    GradingResult,
)
from .providers.interface import (
    CallContext,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderResponse,
    TokenUsage,
)

__all__ = [
    "AssertionContext",
    "AssertionError_",
    "AssertionHandler",
    "AssertionSpec",
    "CallContext",
    "GradingResult",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "ProviderResponse",
    "TokenUsage",
]
