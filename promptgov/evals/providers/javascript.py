"""JavaScript providers (``file://provider.js``): promptfoo's custom provider class, on the Node worker.

promptfoo builds ``new (importModule(path))({...options, id})`` once and calls its
``callApi(prompt, context)`` per test; here the instance lives in the engine's one Node worker
(rebuilt there if a timeout restarted it), and its answer maps to a response as a python
provider's does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import js
from ..errors import JavascriptError
from .interface import CallContext, Provider, ProviderConfigError, ProviderError, ProviderResponse
from .python import response_from_result, script_context

__all__ = ["JavascriptProvider"]


class JavascriptProvider(Provider):
    """A custom provider class exported by a JavaScript or TypeScript module."""

    def __init__(
        self,
        id: str,
        path: Path,
        options: dict[str, Any],
        label: str | None = None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(id, options.get("config") or {}, label)
        self.path = path.resolve()
        self.options = {**options, "id": id}
        self.timeout_s = timeout_s
        try:
            reply = js.describe_export(self.path, None, purpose="JavaScript providers")
        except JavascriptError as exc:
            raise ProviderConfigError(str(exc)) from exc
        if not reply.ok:
            raise ProviderConfigError(f"cannot load {path.name}: {reply.error}")

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """``callApi(prompt, context)`` on the worker; what it throws is the row's error."""
        try:
            reply = await js.call_provider(
                self.path,
                self.options,
                prompt,
                script_context(context),
                timeout_s=context.timeout_s or self.timeout_s,
            )
        except JavascriptError as exc:
            raise ProviderError(str(exc)) from exc
        if not reply.ok:
            raise ProviderError(reply.error)
        result = reply.value
        if not isinstance(result, dict) or ("output" not in result and "error" not in result):
            # promptfoo reads ``.output`` of whatever came back: undefined is "No output".
            result = {"output": None}
        return response_from_result(result, f"{self.path.name} callApi")
