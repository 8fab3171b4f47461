"""The python provider (``python:x.py``, ``file://x.py:fn``): promptfoo's ``call_api`` contract."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from .. import _scripts, pyworker
from ..errors import PythonWorkerError
from .cache import ResponseCache, cache_key
from .interface import (
    CallContext,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderResponse,
    TokenUsage,
)

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
            # promptfoo counts a call that reports no numRequests as one request.
            num_requests=_requests(usage.get("numRequests", 1)),
        ),
        cost=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        cached=bool(result.get("cached", False)),
        finish_reason=result.get("finishReason"),
        latency_ms=result.get("latencyMs"),
        metadata=dict(result.get("metadata") or {}),
        raw=result.get("raw", result),
        fields={**result, "cached": False},
    )


def _requests(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 1


def script_context(context: CallContext) -> dict[str, Any]:
    """The ``context`` argument promptfoo hands to scripts (non-serialisable keys removed)."""
    # promptfoo 0.123 adds its per-call runtime vars to the vars a provider sees (not to
    # the results' vars); they are also part of its python cache key (see PythonProvider).
    runtime: dict[str, Any] = {"__evalId": context.evaluation_id} if context.evaluation_id else {}
    runtime["__evalStepId"] = (
        f"test-{context.test_idx}-prompt-{context.prompt_idx}-repeat-{context.repeat_index}"
    )
    runtime["__repeatIndex"] = context.repeat_index
    out: dict[str, Any] = {
        "vars": {**context.vars, **runtime},
        "prompt": {"raw": context.prompt_raw, "label": context.prompt_label},
        "test": dict(context.test),
        "repeatIndex": context.repeat_index,
        "testIdx": context.test_idx,
    }
    if context.evaluation_id:
        out["evaluationId"] = context.evaluation_id
    return out


def call_timeout_s(config: Mapping[str, Any], env: Mapping[str, str], *, what: str) -> float:
    """A script provider's time limit: ``config.timeout`` (ms), else ``REQUEST_TIMEOUT_MS``, else 300 s.

    Raises:
        ProviderConfigError: the setting is not a non-negative number of milliseconds.
    """
    for name, value in (
        ("config.timeout", config.get("timeout")),
        ("REQUEST_TIMEOUT_MS", env.get("REQUEST_TIMEOUT_MS")),
    ):
        if value is None or value == "":
            continue
        try:
            ms = float(value)
        except (TypeError, ValueError):
            ms = -1.0
        if isinstance(value, bool) or not ms >= 0:
            raise ProviderConfigError(
                f"provider {what}: {name} must be a number of milliseconds, got {value!r}"
            )
        if ms > 0:
            return ms / 1000
    return pyworker.DEFAULT_TIMEOUT_S


class PythonProvider(Provider):
    """Runs a Python function in worker processes: imported once per worker, killed on timeout.

    The pool holds as many workers as the run's concurrency, so blocking functions still
    overlap; module state lives per worker. A call that outlives ``config.timeout`` (ms;
    else ``REQUEST_TIMEOUT_MS``, else 300 s, as promptfoo's python worker) or the run's
    ``timeoutMs`` has its worker killed and fails as an ERROR row.
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
        env: Mapping[str, str] | None = None,
        max_concurrency: int = 4,
    ):
        super().__init__(id, config, label)
        self.script = script
        self.function_name = function or DEFAULT_FUNCTION
        self.base_dir = base_dir
        self.cache = cache
        self.max_concurrency = max(1, max_concurrency)
        self.timeout_s = call_timeout_s(self.config, env or {}, what=id)
        self._workers: pyworker.PythonWorkers | None = None

    def _options(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "config": {**self.config, "basePath": str(self.base_dir)},
        }

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Call the script's function; a raised exception, a bad return or a timeout is a ProviderError."""
        where = f"{self.script.name}:{self.function_name}"
        ctx = _json_copy(script_context(context), "the call context")
        # promptfoo keys its cache on the vars, which include the per-run __evalId and the
        # per-call __evalStepId: within an eval such calls never hit, so they are not
        # stored either (a second run must call the script again, as promptfoo).
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
            reply = await self._pool().call(
                {
                    "path": str(self.script.resolve()),
                    "function": self.function_name,
                    "args": [prompt, options, ctx],
                    "encode": "plain",
                },
                what=where,
                timeout_s=sooner(context.timeout_s, self.timeout_s),
            )
        except PythonWorkerError as exc:
            raise ProviderError(str(exc)) from exc
        if not reply.ok:
            raise ProviderError(self._failure(reply, where))
        response = response_from_result(json.loads(reply.value), where)
        response.cached = False
        if use_cache:
            self.cache.put(key, response)
        return response

    def _failure(self, reply: pyworker.Reply, where: str) -> str:
        """promptfoo's words for each way the script can fail."""
        if reply.stage == "read":
            return f"cannot read {self.script}: {reply.strerror or reply.message}"
        if reply.stage == "import":
            return f"error importing {self.script}: {reply.error}"
        if reply.stage == "lookup":
            return f"{self.script} has no function {self.function_name}()"
        if reply.stage == "encode":
            return f"the value {where} returned is not JSON-serialisable: {reply.message}"
        return f"{where} raised {reply.error}"

    def _pool(self) -> pyworker.PythonWorkers:
        if self._workers is None:
            self._workers = pyworker.PythonWorkers(max_workers=self.max_concurrency)
        return self._workers

    async def aclose(self) -> None:
        """Stop the worker processes."""
        if self._workers is not None:
            self._workers.close()


def sooner(step_s: float | None, own_s: float) -> float:
    """The call's limit: its own, or the step's ``timeoutMs`` when sooner (promptfoo races both)."""
    return own_s if step_s is None else min(step_s, own_s)
