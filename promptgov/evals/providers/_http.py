"""One pooled HTTP client per provider, with retries, deadlines and httpx errors mapped once."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EvalError, ProviderConfigError, ProviderError

if TYPE_CHECKING:  # httpx is imported on first use so echo-only runs never load it
    import httpx

    from ._wire import WirePool

#: promptfoo's defaults: 4 retries, ``REQUEST_TIMEOUT_MS`` of 300 s.
DEFAULT_MAX_RETRIES = 4
DEFAULT_TIMEOUT_S = 300.0
#: Base of the exponential backoff (``PROMPTFOO_REQUEST_BACKOFF_MS`` overrides it).
DEFAULT_BACKOFF_MS = 1000
#: A server's ``Retry-After`` is honoured up to this many seconds.
MAX_RETRY_AFTER_S = 60.0
_BODY_SNIPPET = 300
_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class ProviderHTTPError(ProviderError):
    """The endpoint answered with a non-success status (after any retries)."""

    def __init__(self, message: str, *, status: int, body: str):
        super().__init__(message)
        self.status = status
        self.body = body


class ProviderTimeout(ProviderError):
    """The call did not finish within its deadline."""


@dataclass
class HttpResult:
    """A response read in full: status, headers and body text."""

    status: int
    headers: Mapping[str, str]
    text: str

    def json(self, url: str) -> Any:
        """The body parsed as JSON; a malformed body is a ProviderError naming the URL."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise ProviderError(
                f"malformed JSON from {url} (HTTP {self.status}): {_snippet(self.text)!r}"
            ) from exc


def _snippet(text: str) -> str:
    return text if len(text) <= _BODY_SNIPPET else text[:_BODY_SNIPPET] + "…"


def _int_setting(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(float(value))
    except (TypeError, ValueError) as exc:
        raise ProviderConfigError(f"{name} must be a number, got {value!r}") from exc
    if number < 0:
        raise ProviderConfigError(f"{name} must not be negative, got {value!r}")
    return number


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse ``Retry-After`` (delta-seconds or an HTTP date) into seconds, None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


class HttpClient:
    """A lazily created ``httpx.AsyncClient`` shared by all calls of one provider.

    Connections are kept alive and pooled up to the run's concurrency. Each call has a
    deadline covering all its attempts; 429, 5xx and connection failures are retried
    with exponential backoff plus jitter, or after what ``Retry-After`` asks when sent.
    Every httpx exception becomes a :class:`ProviderError` here and nowhere else.
    """

    def __init__(
        self,
        *,
        max_concurrency: int,
        env: Mapping[str, str],
        config: Mapping[str, Any],
        transport: Any = None,
    ):
        self.max_connections = max(1, max_concurrency)
        self.max_retries = _int_setting(
            config.get("maxRetries", env.get("PROMPTFOO_MAX_RETRIES")),
            "maxRetries",
            DEFAULT_MAX_RETRIES,
        )
        self.backoff_s = (
            _int_setting(
                env.get("PROMPTFOO_REQUEST_BACKOFF_MS"),
                "PROMPTFOO_REQUEST_BACKOFF_MS",
                DEFAULT_BACKOFF_MS,
            )
            / 1000
        )
        timeout_ms = config.get("timeout", env.get("REQUEST_TIMEOUT_MS"))
        self.timeout_s = (
            _int_setting(timeout_ms, "timeout", 0) / 1000 if timeout_ms else DEFAULT_TIMEOUT_S
        )
        self._transport = transport
        self.env = env
        #: ``PROMPTGOV_HTTP_CLIENT=httpx`` sends plain-HTTP calls through httpx too.
        self.backend = "httpx" if transport is not None else env.get("PROMPTGOV_HTTP_CLIENT", "")
        self._wire: WirePool | None = None
        self._wire_loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Requests sent, counting retries (for tests and benchmarks).
        self.attempts = 0

    def _get_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import httpx

            # A client is bound to the loop it was made in; a new run gets a new one.
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=self.max_connections,
                    keepalive_expiry=30.0,
                ),
                timeout=httpx.Timeout(None),
                transport=self._transport,
                follow_redirects=True,
            )
            self._loop = loop
        return self._client

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: str | bytes | None = None,
        timeout_s: float | None = None,
    ) -> HttpResult:
        """Send one logical request (with retries) and return the final response.

        A retryable status that survives every retry is returned as is, so callers
        decide how to report it; use :meth:`request_ok` to raise on non-2xx instead.

        Raises:
            ProviderTimeout: the deadline passed.
            ProviderError: the connection failed on every attempt, or the URL is invalid.
        """
        deadline = timeout_s if timeout_s is not None else self.timeout_s
        if not self._use_wire(url):
            self._get_client()  # importing httpx and building its pool is not the call's time
        try:
            async with asyncio.timeout(deadline):
                return await self._send_with_retries(method, url, headers, json_body, content)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"request to {url} timed out after {deadline:g}s (set timeoutMs to change it)"
            ) from exc

    async def request_ok(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: str | bytes | None = None,
        timeout_s: float | None = None,
    ) -> HttpResult:
        """:meth:`request`, raising :class:`ProviderHTTPError` on a non-2xx final status."""
        result = await self.request(
            method, url, headers=headers, json_body=json_body, content=content, timeout_s=timeout_s
        )
        if not 200 <= result.status < 300:
            retried = (
                f" after {self.max_retries} retries" if _retryable_status(result.status) else ""
            )
            raise ProviderHTTPError(
                f"API error: HTTP {result.status} from {url}{retried}: {_snippet(result.text)}",
                status=result.status,
                body=result.text,
            )
        return result

    async def _send_with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        json_body: Any,
        content: str | bytes | None,
    ) -> HttpResult:
        attempt = 0
        while True:
            self.attempts += 1
            try:
                result = await self._send_once(method, url, headers, json_body, content)
            except _TransportFailure as failure:
                if not failure.retryable or attempt >= self.max_retries:
                    raise ProviderError(failure.describe(url, attempt)) from failure.__cause__
                await asyncio.sleep(self._backoff(attempt, None))
                attempt += 1
                continue
            if _retryable_status(result.status) and attempt < self.max_retries:
                retry_after = retry_after_seconds(result.headers.get("retry-after"))
                await asyncio.sleep(self._backoff(attempt, retry_after))
                attempt += 1
                continue
            return result

    def _use_wire(self, url: str) -> bool:
        """Plain-HTTP URLs without a proxy take the lean pool; the rest go through httpx."""
        if self.backend == "httpx" or not url.lower().startswith("http://"):
            return False
        return not any(self.env.get(k) for k in _PROXY_VARS)

    async def _send_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        json_body: Any,
        content: str | bytes | None,
    ) -> HttpResult:
        if self._use_wire(url):
            from ._wire import WireError, encode_body

            data, ctype = encode_body(json_body, content)
            sent = dict(headers or {})
            if ctype and not any(k.lower() == "content-type" for k in sent):
                sent["Content-Type"] = ctype
            try:
                status, got, body = await self._get_wire().request(method, url, sent, data)
            except WireError as exc:
                kind = "cannot connect" if exc.connect else "connection failed"
                raise _TransportFailure(kind, str(exc)) from exc
            return HttpResult(status, got, body.decode(_charset(got), "replace"))

        import httpx

        client = self._get_client()
        try:
            response = await client.request(
                method, url, headers=dict(headers or {}), json=json_body, content=content
            )
            text = (await response.aread()).decode(response.encoding or "utf-8", "replace")
        except httpx.UnsupportedProtocol as exc:
            raise ProviderConfigError(f"invalid URL {url!r}: {exc}") from exc
        except httpx.TransportError as exc:
            raise _TransportFailure(_transport_kind(exc), str(exc) or type(exc).__name__) from exc
        except httpx.InvalidURL as exc:
            raise ProviderConfigError(f"invalid URL {url!r}: {exc}") from exc
        return HttpResult(response.status_code, response.headers, text)

    def _get_wire(self) -> WirePool:
        from ._wire import WirePool

        loop = asyncio.get_running_loop()
        if self._wire is None or self._wire_loop is not loop:
            self._wire = WirePool(self.max_connections)
            self._wire_loop = loop
        return self._wire

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, unless the server said when to come back."""
        delay: float = self.backoff_s * (2**attempt) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            delay = max(min(retry_after, MAX_RETRY_AFTER_S), 0.0) + random.uniform(0, 0.05)
        return delay

    async def aclose(self) -> None:
        """Close pooled connections (only when still on the loop that made them)."""
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.aclose()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except RuntimeError:
                # The loop that owned the connections is gone; nothing left to close.
                pass


class _TransportFailure(EvalError):
    """A connection-level failure, before it becomes a ProviderError in the retry loop."""

    def __init__(self, kind: str, detail: str, *, retryable: bool = True):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retryable = retryable

    def describe(self, url: str, retries: int) -> str:
        after = f" after {retries} retries" if retries else ""
        return f"{self.kind} to {url}{after}: {self.detail}"


def _transport_kind(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection"
    if isinstance(exc, httpx.TimeoutException):
        return "network timeout"
    return "connection failed"


def _charset(headers: Mapping[str, str]) -> str:
    ctype = headers.get("content-type", "")
    for part in ctype.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"
