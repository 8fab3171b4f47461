"""The generic ``http``/``https`` provider: templated requests, ``transformResponse`` answers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..types import CallContext, ProviderConfigError, ProviderError, ProviderResponse, TokenUsage
from ._base import HttpApiProvider
from .cache import ResponseCache

#: An arrow function ``(json, text) => expr`` or ``json => expr``.
_ARROW = re.compile(r"^\s*(?:\(([^)]*)\)|([A-Za-z_$][\w$]*))\s*=>\s*(.+?)\s*;?\s*$", re.DOTALL)
_BLOCK_RETURN = re.compile(r"^\{\s*return\s+(.+?);?\s*\}$", re.DOTALL)
#: JavaScript tokens with a Python spelling, outside string literals.
_JS_TOKENS = re.compile(
    r"""("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|(===|!==|&&|\|\||\?\?|!(?!=)|\bnull\b|\bundefined\b|\btrue\b|\bfalse\b)"""
)
_JS_TO_PY = {
    "===": "==",
    "!==": "!=",
    "&&": " and ",
    "||": " or ",
    "??": " or ",
    "!": " not ",
    "null": "None",
    "undefined": "None",
    "true": "True",
    "false": "False",
}


class _JsView:
    """Read-only JS-style access to JSON data: ``json.choices[0].message.content``.

    A missing key reads as ``None`` (``undefined``) instead of raising, as in JavaScript.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any):
        self._value = value

    def __getattr__(self, name: str) -> Any:
        if name == "length" and isinstance(self._value, (list, str)):
            return len(self._value)
        return self[name]

    def __getitem__(self, key: Any) -> Any:
        value = self._value
        try:
            if isinstance(value, list):
                item = value[int(key)]
            elif isinstance(value, Mapping):
                item = value.get(key if isinstance(key, str) else str(key))
            else:
                return None
        except (IndexError, ValueError, TypeError):
            return None
        return wrap(item)

    def __bool__(self) -> bool:
        return True  # objects and arrays are truthy in JavaScript, even when empty

    def __eq__(self, other: object) -> bool:
        return bool(unwrap(self) == unwrap(other))

    def __hash__(self) -> int:
        return id(self._value)


def wrap(value: Any) -> Any:
    """Dicts and lists become :class:`_JsView`; scalars stay as they are."""
    return _JsView(value) if isinstance(value, (dict, list)) else value


def unwrap(value: Any) -> Any:
    """The plain data behind a :class:`_JsView`."""
    return value._value if isinstance(value, _JsView) else value


def _translate(expression: str) -> str:
    def swap(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        return _JS_TO_PY[match.group(2)]

    return _JS_TOKENS.sub(swap, expression)


def compile_transform(spec: Any, base_dir: Path) -> Callable[[Any, str, Mapping[str, Any]], Any]:
    """Turn ``transformResponse`` into ``fn(json, text, context) -> output``.

    Accepted forms: a dotted JavaScript-style expression over ``json``, ``text`` and
    ``context`` (``json.choices[0].message.content``), an arrow function
    ``(json, text) => …`` with an expression or ``{ return …; }`` body, or
    ``file://transform.py:fn`` called as ``fn(json, text, context)``.

    Raises:
        ProviderConfigError: the expression does not parse or the file is missing.
    """
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    text = str(spec).strip()
    if text.startswith("file://"):
        return _file_transform(text, base_dir)
    params = ["json", "text", "context"]
    body = text
    arrow = _ARROW.match(text)
    if arrow:
        names = arrow.group(1) if arrow.group(1) is not None else arrow.group(2)
        params = [p.strip() for p in names.split(",") if p.strip()] or params
        body = arrow.group(3).strip()
        block = _BLOCK_RETURN.match(body)
        if block:
            body = block.group(1)
        elif body.startswith("{"):
            raise ProviderConfigError(
                f"transformResponse {text!r}: only '{{ return <expression>; }}' bodies are "
                "supported; use an expression or file://transform.py:fn"
            )
    try:
        code = compile(_translate(body).strip(), "<transformResponse>", "eval")
    except SyntaxError as exc:
        raise ProviderConfigError(
            f"transformResponse {text!r} is not an expression this engine can evaluate: {exc.msg}"
        ) from exc

    def run(data: Any, raw_text: str, context: Mapping[str, Any]) -> Any:
        values = [wrap(data), raw_text, wrap(dict(context))]
        scope: dict[str, Any] = {"__builtins__": {}, "JSON": _Json, "String": str}
        scope.update(dict(zip(params, values, strict=False)))
        scope.setdefault("data", wrap(data))
        return unwrap(eval(code, scope))  # noqa: S307 - the user's own config, as promptfoo runs JS

    return run


class _Json:
    """``JSON.parse``/``JSON.stringify`` inside transform expressions."""

    @staticmethod
    def parse(text: Any) -> Any:
        return wrap(json.loads(str(text)))

    @staticmethod
    def stringify(value: Any) -> str:
        return json.dumps(unwrap(value), separators=(",", ":"), ensure_ascii=False)


def _file_transform(ref: str, base_dir: Path) -> Callable[[Any, str, Mapping[str, Any]], Any]:
    from .python import load_module, split_script_ref

    rel, function = split_script_ref(ref[len("file://") :])
    path = base_dir / rel
    if path.suffix != ".py" or not path.is_file():
        raise ProviderConfigError(
            f"transformResponse {ref}: expected an existing .py file (relative to the config)"
        )
    name = function or "transform_response"

    def run(data: Any, raw_text: str, context: Mapping[str, Any]) -> Any:
        fn = getattr(load_module(path), name, None)
        if not callable(fn):
            raise ProviderError(f"{path.name} has no function {name}()")
        return fn(data, raw_text, dict(context))

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
            output = self.transform_response(data, result.text, ctx)
        except ProviderError:
            raise
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
