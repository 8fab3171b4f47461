"""The python provider (``python:x.py``, ``file://x.py:fn``): promptfoo's ``call_api`` contract."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import _scripts
from .cache import ResponseCache, cache_key
from .interface import CallContext, Provider, ProviderError, ProviderResponse, TokenUsage

DEFAULT_FUNCTION = "call_api"


def split_script_ref(ref: str) -> tuple[str, str | None]:
    """Split ``path.py:fn`` into the path and the function name (None when absent)."""
    head, sep, tail = ref.rpartition(":")
    if sep and head.endswith(".py") and tail and "/" not in tail and "\\" not in tail:
        return head, tail
    return ref, None


def load_module(path: Path) -> ModuleType:
    """Import the script at ``path`` once per content version and reuse it.

    The script's directory is put on ``sys.path`` so it can import its neighbours, as
    promptfoo's Python wrapper does. Errors in the script surface as :class:`ProviderError`.
    """
    try:
        return _scripts.load_module(path)
    except _scripts.ScriptError as exc:
        raise ProviderError(str(exc)) from exc


def _json_copy(value: Any, what: str) -> Any:
    """A JSON round-trip, as promptfoo's Node↔Python bridge does: scripts see plain data."""
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ProviderError(f"{what} is not JSON-serialisable: {exc}") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def response_from_result(result: Any, where: str) -> ProviderResponse:
    """Map a promptfoo ``ProviderResponse`` dict returned by user code to ours."""
    if not isinstance(result, dict) or ("output" not in result and "error" not in result):
        raise ProviderError(
            f"{where} must return a dict with an `output` string/object or `error` string, "
            f"instead got: {json.dumps(result, default=str)}"
        )
    usage = result.get("tokenUsage") or {}
    if not isinstance(usage, dict):
        usage = {}
    cost = result.get("cost")
    return ProviderResponse(
        output=result.get("output"),
        error=str(result["error"]) if result.get("error") not in (None, "") else None,
        token_usage=TokenUsage(
            total=int(usage.get("total") or 0),
            prompt=int(usage.get("prompt") or 0),
            completion=int(usage.get("completion") or 0),
            cached=int(usage.get("cached") or 0),
            num_requests=int(usage.get("numRequests") or 1) if usage else 0,
        ),
        cost=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        cached=bool(result.get("cached", False)),
        finish_reason=result.get("finishReason"),
        latency_ms=result.get("latencyMs"),
        metadata=dict(result.get("metadata") or {}),
        raw=result.get("raw", result),
    )


def script_context(context: CallContext) -> dict[str, Any]:
    """The ``context`` argument promptfoo hands to scripts (non-serialisable keys removed)."""
    out: dict[str, Any] = {
        "vars": dict(context.vars),
        "prompt": {"raw": context.prompt_raw, "label": context.prompt_label},
        "test": dict(context.test),
        "repeatIndex": context.repeat_index,
        "testIdx": context.test_idx,
    }
    if context.evaluation_id:
        out["evaluationId"] = context.evaluation_id
    return out


class PythonProvider(Provider):
    """Runs a Python function in-process: imported once, sync functions in a thread pool.

    The pool is sized to the run's concurrency so blocking functions still overlap.
    """

    def __init__(
        self,
        id: str,
        config: Mapping[str, Any] | None = None,
        label: str | None = None,
        *,
        script: Path,
        function: str | None,
        base_dir: Path,
        cache: ResponseCache,
        max_concurrency: int = 4,
    ):
        super().__init__(id, config, label)
        self.script = script
        self.function_name = function or DEFAULT_FUNCTION
        self.base_dir = base_dir
        self.cache = cache
        self.max_concurrency = max(1, max_concurrency)
        self._executor: ThreadPoolExecutor | None = None

    def _function(self) -> Callable[..., Any]:
        module = load_module(self.script)
        fn = getattr(module, self.function_name, None)
        if not callable(fn):
            raise ProviderError(f"{self.script} has no function {self.function_name}()")
        return fn  # type: ignore[no-any-return]

    def _options(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "config": {**self.config, "basePath": str(self.base_dir)},
        }

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Call the script's function; a raised exception or a bad return is a ProviderError."""
        where = f"{self.script.name}:{self.function_name}"
        fn = self._function()
        ctx = _json_copy(script_context(context), "the call context")
        # promptfoo keys its cache on the vars, which include the per-run __evalId:
        # such calls never hit across runs, so they are not stored either.
        use_cache = not context.no_cache and "__evalId" not in ctx["vars"]
        key = ""
        if use_cache:
            key = cache_key(
                self.id,
                self.config,
                prompt,
                script=hashlib.sha256(self.script.read_bytes()).hexdigest(),
                function=self.function_name,
                vars=ctx["vars"],
            )
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        options = _json_copy(self._options(), "the provider config")
        try:
            if inspect.iscoroutinefunction(fn):
                result = await fn(prompt, options, ctx)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._pool(), fn, prompt, options, ctx)
                if inspect.isawaitable(result):
                    result = await result
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        response = response_from_result(_json_copy(result, f"the value {where} returned"), where)
        response.cached = False
        if use_cache:
            self.cache.put(key, response)
        return response

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="promptgov-python"
            )
        return self._executor

    async def aclose(self) -> None:
        """Stop the worker threads."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
