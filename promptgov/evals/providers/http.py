"""The generic ``http``/``https`` provider: templated requests, ``transformResponse`` answers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .. import _scripts, js
from ..errors import JavascriptError
from ._base import HttpApiProvider
from .cache import ResponseCache
from .interface import CallContext, ProviderConfigError, ProviderError, ProviderResponse, TokenUsage

#: ``transformResponse`` compiled: ``await fn(json, text, context, timeout_s)`` gives the output.
TransformResponse = Callable[[Any, str, Mapping[str, Any], float | None], Awaitable[Any]]


def compile_transform(spec: Any, base_dir: Path) -> TransformResponse:
    """Turn ``transformResponse`` into ``await fn(json, text, context, timeout_s) -> output``.

    Inline code is JavaScript run on the engine's Node worker, built as promptfoo's
    ``createTransformResponse`` builds it: a function expression (``(json, text) => …``,
    ``data => …``, ``function (json) {…}``) is called with ``json``, ``text`` and
    ``context``; anything else is an expression over them (``json.score ?? 1``). ``data`` is
    bound to the parsed body too. ``file://transform.js[:fn]`` runs on Node as well;
    ``file://transform.py:fn`` is called in-process as ``fn(json, text, context)``.

    Raises:
        ProviderConfigError: a ``file://`` reference names no existing .py or .js file.
    """
    if callable(spec):
        function = spec

        async def call_python(
            data: Any, raw_text: str, context: Mapping[str, Any], timeout_s: float | None
        ) -> Any:
            return function(data, raw_text, context)

        return call_python
    text = str(spec).strip()
    if text.startswith("file://"):
        return _file_transform(text, base_dir)
    body = js.transform_response_body(text)

    async def run(
        data: Any, raw_text: str, context: Mapping[str, Any], timeout_s: float | None
    ) -> Any:
        return _answer(
            await js.call_function(
                ["json", "text", "context", "data"],
                body,
                [data, raw_text, dict(context), data],
                purpose="transformResponse",
                timeout_s=timeout_s,
            )
        )

    return run


def _answer(reply: js.Reply) -> Any:
    """The transformed output, or the JavaScript's error as the provider's."""
    if not reply.ok:
        raise ProviderError(f"transformResponse failed: {reply.error}")
    return reply.value


def _file_transform(ref: str, base_dir: Path) -> TransformResponse:
    from .python import split_script_ref

    rel, function = split_script_ref(ref[len("file://") :])
    path = base_dir / rel
    if path.suffix not in (".py", ".js", ".cjs", ".mjs") or not path.is_file():
        raise ProviderConfigError(
            f"transformResponse {ref}: expected an existing .py or .js file (relative to the config)"
        )
    if path.suffix != ".py":

        async def run_js(
            data: Any, raw_text: str, context: Mapping[str, Any], timeout_s: float | None
        ) -> Any:
            return _answer(
                await js.call_file(
                    path,
                    function,
                    [data, raw_text, dict(context)],
                    purpose="transformResponse",
                    timeout_s=timeout_s,
                )
            )

        return run_js
    name = function or "transform_response"

    async def run(
        data: Any, raw_text: str, context: Mapping[str, Any], timeout_s: float | None
    ) -> Any:
        args = json.loads(json.dumps([data, raw_text, dict(context)], default=str))
        try:
            return await _scripts.call_in_worker(path, name, *args, timeout_s=timeout_s)
        except _scripts.ScriptError as exc:
            raise ProviderError(f"transformResponse: {exc}") from exc

    return run


class HttpProvider(HttpApiProvider):
    """``http``/``https`` (or a URL as the id) with ``config: {url, method, headers, body, …}``.

    ``url``, ``headers``, ``queryParams`` and every string in ``body`` are rendered with
    the test's vars plus ``prompt``. Without ``transformResponse`` the output is the
    parsed JSON body, or the text when it is not JSON.
    """

    def __init__(
        self,
        id: str,
        config: Mapping[str, Any] | None,
        label: str | None,
        *,
        url: str | None,
        env: Mapping[str, str],
        base_dir: Path,
        cache: ResponseCache,
        max_concurrency: int,
        transport: Any = None,
    ):
        super().__init__(
            id,
            config,
            label,
            env=env,
            cache=cache,
            max_concurrency=max_concurrency,
            transport=transport,
        )
        self.url = str(self.config.get("url") or url or "")
        if not self.url:
            raise ProviderConfigError(f"provider {id!r} needs config.url (the endpoint to call)")
        self.method = str(self.config.get("method") or "POST").upper()
        transform = self.config.get("transformResponse")
        self.transform_response = (
            compile_transform(transform, base_dir) if transform is not None else None
        )

    def endpoint(self) -> str:
        """The configured URL template."""
        return self.url

    def cache_extra(self, prompt: str, context: CallContext) -> dict[str, Any]:
        """The body and URL depend on the vars, so they are part of the key."""
        return {"url": self.url, "vars": dict(context.vars)}

    def _render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        from ..templating import TemplateError, render

        try:
            if isinstance(value, str):
                return render(value, variables, self.env)
            if isinstance(value, list):
                return [self._render(v, variables) for v in value]
            if isinstance(value, Mapping):
                return {k: self._render(v, variables) for k, v in value.items()}
        except TemplateError as exc:
            raise ProviderError(f"provider {self.id}: {exc}") from exc
        return value

    async def call_uncached(self, prompt: str, context: CallContext) -> ProviderResponse:
        """Render the request, send it, and map the answer through ``transformResponse``."""
        variables = {**dict(context.vars), "prompt": prompt}
        url = str(self._render(self.url, variables))
        query = self.config.get("queryParams")
        if isinstance(query, Mapping) and query:
            parts = urlsplit(url)
            extra = urlencode({k: str(v) for k, v in self._render(dict(query), variables).items()})
            url = urlunsplit(
                parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra)
            )
        headers = {
            str(k): str(v)
            for k, v in self._render(dict(self.config.get("headers") or {}), variables).items()
        }
        json_body: Any = None
        content: str | None = None
        body = self.config.get("body")
        if self.method not in ("GET", "HEAD") and body is not None:
            rendered = self._render(body, variables)
            if isinstance(rendered, str):
                content = rendered
            else:
                json_body = rendered
        result = await self.http.request_ok(
            self.method,
            url,
            headers=headers,
            json_body=json_body,
            content=content,
            timeout_s=context.timeout_s,
        )
        try:
            data: Any = json.loads(result.text)
        except ValueError:
            data = None
        if self.transform_response is None:
            return ProviderResponse(
                output=data if data is not None else result.text,
                raw=result.text,
                token_usage=TokenUsage(num_requests=1),
            )
        ctx = {"vars": dict(context.vars), "prompt": prompt, "response": {"status": result.status}}
        try:
            output = await self.transform_response(data, result.text, ctx, context.timeout_s)
        except ProviderError:
            raise
        except JavascriptError as exc:
            raise ProviderError(f"transformResponse failed: {exc}") from exc
        except Exception as exc:
            raise ProviderError(f"transformResponse failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(output, Mapping) and "output" in output:
            return ProviderResponse(
                output=output.get("output"),
                error=output.get("error"),
                raw=result.text,
                token_usage=TokenUsage(num_requests=1),
                cost=output.get("cost"),
            )
        return ProviderResponse(
            output=output, raw=result.text, token_usage=TokenUsage(num_requests=1)
        )
