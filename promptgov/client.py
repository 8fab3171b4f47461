"""The application-side client of ``promptgov serve``: the prompt an environment serves,
from another machine, fast and resilient.

:class:`Client` (threads) and :class:`AsyncClient` (asyncio) have the interface of the
local :class:`~promptgov.sdk.PromptClient`. A ``get`` answers from memory; an answer older
than ``ttl`` is still served while one background request revalidates it (``ETag``, so an
unchanged prompt costs a 304), so the server is never on the application's hot path.
Concurrent cold gets of one prompt share one request. Each live answer's content is
re-hashed against the hash the server sent and kept as an on-disk last-good copy (the
local SDK's format and private-file rules), so a process started while the server is down
still serves; ``fallback=`` is the last resort. With ``watch=True`` the client listens to
``GET /v1/events`` and refetches a prompt the moment its environment's pointer moves, so a
rollback reaches it in well under a second rather than one TTL later.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
from httpx_sse import aconnect_sse, connect_sse
from pydantic import ValidationError

from .errors import InputError, PromptGovError
from .model import PromptContent, check_name
from .monitor.records import ProductionRecord
from .sdk import (
    DEFAULT_ENV,
    ServedPrompt,
    _check_identity,
    _copy_path,
    _DiskCopy,
    _Kept,
    _kept_copy,
    _last_resort,
    _read_copy,
    _Refused,
    _store_copy,
)

DEFAULT_TTL: Final = 60.0
#: Seconds any one HTTP request may take (connect, read, write, pool).
DEFAULT_TIMEOUT: Final = 5.0
#: The longest wait between retries of a server that did not answer.
MAX_RETRY: Final = 2.0
#: Seconds without a byte on the event stream before it is re-opened (the server pings every 15).
STREAM_READ_TIMEOUT: Final = 45.0
logger = logging.getLogger(__name__)

#: (name, env, version): exactly one of env and version is set.
Key = tuple[str, str | None, str | None]


class _Unavailable(Exception):
    """The server gave no usable answer (an error status, or a body that is not a prompt
    matching its own hash); what to serve instead is :meth:`_Core._failed`'s business."""


@dataclass
class _Entry:
    served: ServedPrompt  # as given from memory: ``cached`` or ``stale`` (or ``disk``/``fallback``)
    etag: str | None
    expires: float  # monotonic time of the next revalidation; inf for a pinned version
    kept: _Kept | None


class _Core(ABC):
    """What both clients share: the cache, the answer's checks, the disk copy, degrading."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        env: str = DEFAULT_ENV,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        cache_dir: Path | str | None = None,
        fallback: Mapping[str, str | PromptContent] | None = None,
        watch: bool = False,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.base_url = base_url.rstrip("/")
        self.env = env
        self.ttl = ttl
        self.timeout = timeout
        self.watch = watch
        default_cache = Path(environ.get("PROMPTGOV_CACHE_DIR") or Path.home() / ".cache/promptgov")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache / "sdk"
        self.fallback = dict(fallback or {})
        self._clock = clock
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._memory: dict[Key, _Entry] = {}
        self._reported: set[str] = set()
        self._last_event: str | None = None
        self._open()

    @abstractmethod
    def _open(self) -> None:
        """Set up connections and background machinery (per client kind)."""

    @abstractmethod
    def _background(self, key: Key) -> None:
        """Revalidate ``key`` without making the caller wait (per client kind)."""

    def _hit(self, key: Key) -> ServedPrompt | None:
        """The answer in memory (revalidated in the background once past its TTL), or None."""
        entry = self._memory.get(key)
        if entry is None:
            return None
        served = entry.served  # before the refresh can replace it
        if self._clock() >= entry.expires:
            self._background(key)
        return served

    def _key(self, name: str, env: str | None, version: str | None) -> Key:
        return (name, None, version) if version is not None else (name, env or self.env, None)

    @staticmethod
    def _request(key: Key) -> tuple[str, dict[str, str]]:
        """The path and query of ``key``'s GET.

        Raises:
            InputError: not a prompt name (it would not stay one path segment).
        """
        name, env, version = key
        try:
            check_name(name)
        except ValueError as exc:
            raise InputError(f"{exc}.", prompt=name[:100]) from None
        params = {"version": version} if version is not None else {"env": env or DEFAULT_ENV}
        return f"/v1/prompts/{name}", params

    def _conditional(self, entry: _Entry | None) -> dict[str, str]:
        if entry is not None and entry.etag is not None and entry.served.source != "disk":
            return {"If-None-Match": entry.etag}
        return {}

    def _retry_at(self) -> float:
        return self._clock() + min(self.ttl, MAX_RETRY)

    def _accept(self, key: Key, entry: _Entry | None, resp: httpx.Response) -> ServedPrompt:
        """The live answer in ``resp``, remembered; the disk copy to write is left in the entry.

        Raises:
            _Unavailable: an error status, or a body that is not a prompt matching its hash.
        """
        now = self._clock()
        expires = math.inf if key[2] is not None else now + self.ttl
        if resp.status_code == 304 and entry is not None:
            entry.served = replace(entry.served, source="cached", error=None)
            entry.expires = expires
            return replace(entry.served, source="live")
        if resp.status_code != 200:
            raise _Unavailable(f"{self.base_url} answered {resp.status_code}: {_detail(resp)}")
        served = self._parse(key, resp)
        kept = self._kept(served, entry.kept if entry is not None else None)
        self._memory[key] = _Entry(
            replace(served, source="cached"), resp.headers.get("etag"), expires, kept
        )
        return served

    def _parse(self, key: Key, resp: httpx.Response) -> ServedPrompt:
        try:
            view = resp.json()
            content = PromptContent(
                template=view.get("template"),
                messages=view.get("messages"),
                model=view["model"],
                variables=view.get("variables") or [],
            )
            name, version, sha256 = view["name"], view["version"], view["sha256"]
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise _Unavailable(f"{self.base_url} sent a body that is not a prompt: {exc}") from None
        if name != key[0] or content.sha256 != sha256:
            raise _Unavailable(
                f"{self.base_url} sent {name}@{version} whose content does not match its "
                f"hash {str(sha256)[:12]}…; it was not served."
            )
        return ServedPrompt(name, key[1] or "", version, sha256, content, "live", verified=True)

    def _kept(self, served: ServedPrompt, last: _Kept | None) -> _Kept | None:
        """The disk copy of a live environment answer (None for a pinned version)."""
        if last is not None and (last.copy.version, last.copy.sha256) == (
            served.version,
            served.sha256,
        ):
            return last
        path = _copy_path(self.cache_dir, served.name, served.env, self.base_url)
        if path is None:
            return None
        return _kept_copy(path, self.base_url, "", served)

    def _keep(self, key: Key) -> None:
        """Write the entry's disk copy if the file does not hold it yet."""
        entry = self._memory.get(key)
        if entry is not None and entry.kept is not None:
            _store_copy(self.cache_dir, entry.kept, self._disagreement, self._report_once)

    def _disagreement(self, old: bytes, live: _DiskCopy) -> str | None:
        try:
            _check_identity(
                _DiskCopy.model_validate_json(old), live.name, live.env, self.base_url, None
            )
        except ValidationError:
            return "it is not a disk copy this client wrote"
        except _Refused as exc:
            return exc.reason
        return None

    def _report_once(self, copy: _DiskCopy, message: str) -> None:
        if message not in self._reported:
            self._reported.add(message)
            logger.warning("%s@%s: %s.", copy.name, copy.env, message)

    def _failed(self, key: Key, entry: _Entry | None, exc: Exception) -> ServedPrompt:
        """What to serve when the server gave no usable answer; remembered until the retry.

        Raises:
            NotFound: nothing to serve (no answer in memory or on disk, no fallback).
        """
        error = _message(self.base_url, exc)
        if entry is not None:
            kept = entry.served.source in ("live", "cached", "stale")
            entry.served = replace(
                entry.served, source="stale" if kept else entry.served.source, error=error
            )
            entry.expires = self._retry_at()
            return entry.served
        name, env = key[0], key[1] or ""
        served, refused = None, False
        try:
            disk = _read_copy(self.cache_dir, name, env, self.base_url) if env else None
            if disk is not None:
                _check_identity(disk, name, env, self.base_url, None)
                served = ServedPrompt(
                    name,
                    env,
                    disk.version,
                    disk.sha256,
                    disk.content,
                    "disk",
                    f"{error} Serving the disk copy of {disk.version}; the server could not "
                    "vouch for it.",
                )
        except _Refused as no:
            refused = True
            logger.warning("%s@%s: refused the disk copy in %s: %s.", name, env, self.cache_dir, no)
            error = f"{error} The disk copy was refused: {no.reason}."
        if served is None:
            served = _last_resort(self.fallback, name, env, error, refused, exc, "Client")
        self._memory[key] = _Entry(served, None, self._retry_at(), None)
        return served

    def _moved(self, data: str) -> list[tuple[Key, str | None]]:
        """The cached environment answers a pointer event makes out of date, with the
        version the environment now serves."""
        try:
            event = json.loads(data)
            prompt, env, version = event["prompt"], event.get("env"), event.get("version")
        except (ValueError, KeyError, TypeError):
            return []
        hit = []
        for key, entry in list(self._memory.items()):
            if key[0] == prompt and key[2] is None and (env is None or key[1] == env):
                entry.expires = -math.inf
                hit.append((key, version))
        return hit

    def _expire_all(self) -> list[Key]:
        """Revalidate every environment answer (events may have been missed while the
        stream was down)."""
        keys = []
        for key, entry in list(self._memory.items()):
            if key[2] is None:
                entry.expires = -math.inf
                keys.append(key)
        return keys

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached answers (of ``name``, or all): the next ``get`` asks the server."""
        for key in [k for k in self._memory if name is None or k[0] == name]:
            del self._memory[key]


class Client(_Core):
    """Serve the prompts a ``promptgov serve`` server assigns to an environment.

    ``token`` is a viewer token (``promptgov token create --role viewer``); ``cache_dir``
    (default ``$PROMPTGOV_CACHE_DIR/sdk`` or ``~/.cache/promptgov/sdk``) holds last-good
    copies, 0700 with files 0600; ``fallback`` maps a prompt name to a template used when
    nothing else can be served. Background work runs on daemon threads; :meth:`close`
    (or ``with``) stops it.
    """

    def _open(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url, headers=self._headers, timeout=self.timeout
        )
        self._lock = threading.Lock()
        self._flights: dict[Key, Future[ServedPrompt]] = {}
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="promptgov-refresh")
        self._closed = threading.Event()
        self._subscribed = threading.Event()
        self._watcher: threading.Thread | None = None
        if self.watch:
            self._watcher = threading.Thread(
                target=self._watch, name="promptgov-watch", daemon=True
            )
            self._watcher.start()

    def get(self, name: str, env: str | None = None, *, version: str | None = None) -> ServedPrompt:
        """The prompt ``env`` serves for ``name`` (or the pinned ``version``).

        Raises:
            NotFound: the server gives no answer, and there is none in memory, on disk or
                in ``fallback``.
        """
        key = (name, None, version) if version is not None else (name, env or self.env, None)
        hit = self._hit(key)
        return hit if hit is not None else self._join(key)

    def prefetch(self, names: Iterable[str], env: str | None = None) -> dict[str, ServedPrompt]:
        """Fetch ``names`` at start-up, concurrently, so first requests are answered from memory."""
        keys = [self._key(n, env, None) for n in names]
        futures = {k[0]: self._pool.submit(self._join, k) for k in keys}
        return {n: f.result() for n, f in futures.items()}

    def wait_watching(self, timeout: float = 5.0) -> bool:
        """Whether the event stream is open (waiting up to ``timeout`` seconds for it)."""
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        """Stop the event stream and background refreshes; close connections."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ fetching

    def _fetch(self, key: Key) -> ServedPrompt:
        entry = self._memory.get(key)
        path, params = self._request(key)
        try:
            resp = self._http.get(path, params=params, headers=self._conditional(entry))
            served = self._accept(key, entry, resp)
        except (httpx.HTTPError, _Unavailable, RuntimeError) as exc:
            return self._failed(key, entry, exc)
        self._keep(key)
        return served

    def _join(self, key: Key) -> ServedPrompt:
        """Fetch ``key``, or wait for the request already fetching it."""
        with self._lock:
            flight = self._flights.get(key)
            lead = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
        if not lead:
            return flight.result(timeout=self.timeout * 3 + 1)
        try:
            served = self._fetch(key)
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(served)
            return served
        finally:
            with self._lock:
                self._flights.pop(key, None)

    def _background(self, key: Key) -> None:
        with self._lock:
            if key in self._flights or self._closed.is_set():
                return
        try:
            self._pool.submit(self._quiet, key)
        except RuntimeError:  # closed meanwhile
            pass

    def _quiet(self, key: Key) -> None:
        try:
            self._join(key)
        except PromptGovError:
            pass  # kept in memory as stale/fallback by _failed; reported by the next get

    # ------------------------------------------------------------------ events

    def _watch(self) -> None:
        """Follow ``/v1/events`` until closed, resuming after the last event seen."""
        delay = 0.1
        timeout = httpx.Timeout(self.timeout, read=STREAM_READ_TIMEOUT)
        with httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout) as http:
            while not self._closed.is_set():
                headers = {"Last-Event-ID": self._last_event} if self._last_event else {}
                try:
                    with connect_sse(http, "GET", "/v1/events", headers=headers) as source:
                        if source.response.status_code != 200:
                            raise _Unavailable(f"events: {source.response.status_code}")
                        for key in self._expire_all():
                            self._background(key)
                        self._subscribed.set()
                        delay = 0.1
                        for sse in source.iter_sse():
                            if self._closed.is_set():
                                return
                            if sse.id:
                                self._last_event = sse.id
                            if sse.event == "pointer":
                                for key, version in self._moved(sse.data):
                                    self._refetch(key, version)
                except (httpx.HTTPError, _Unavailable, RuntimeError) as exc:
                    logger.debug("event stream of %s: %s", self.base_url, exc)
                self._subscribed.clear()
                self._closed.wait(delay)
                delay = min(delay * 2, MAX_RETRY)

    def _refetch(self, key: Key, version: str | None) -> None:
        """Fetch a moved environment now, until it serves the version the event names
        (the event may be read before the move is visible)."""
        for _ in range(20):
            served = self._fetch(key)
            if version is None or served.version == version or served.source != "live":
                return
            if self._closed.wait(0.05):
                return


class AsyncClient(_Core):
    """:class:`Client` for asyncio applications: ``await client.get(...)``.

    Background refreshes and the event stream are tasks of the running loop; use
    ``async with`` or ``await client.aclose()``.
    """

    def _open(self) -> None:
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=self.timeout
        )
        self._flights: dict[Key, asyncio.Future[ServedPrompt]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._subscribed: asyncio.Event | None = None
        self._closed = False

    async def get(
        self, name: str, env: str | None = None, *, version: str | None = None
    ) -> ServedPrompt:
        """The prompt ``env`` serves for ``name`` (or the pinned ``version``).

        Raises:
            NotFound: the server gives no answer, and there is none in memory, on disk or
                in ``fallback``.
        """
        key = (name, None, version) if version is not None else (name, env or self.env, None)
        hit = self._hit(key)
        if hit is not None:
            return hit
        self._start_watch()
        return await self._join(key)

    async def prefetch(
        self, names: Iterable[str], env: str | None = None
    ) -> dict[str, ServedPrompt]:
        """Fetch ``names`` at start-up, concurrently."""
        names = list(names)
        self._start_watch()
        got = await asyncio.gather(*(self._join(self._key(n, env, None)) for n in names))
        return dict(zip(names, got, strict=True))

    async def wait_watching(self, timeout: float = 5.0) -> bool:
        """Whether the event stream is open (waiting up to ``timeout`` seconds for it)."""
        self._start_watch()
        if self._subscribed is None:
            return False
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        """Stop the event stream and background refreshes; close connections."""
        self._closed = True
        for task in [*self._tasks, *([self._watcher] if self._watcher else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._watcher is not None:
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._start_watch()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ fetching

    async def _fetch(self, key: Key) -> ServedPrompt:
        entry = self._memory.get(key)
        path, params = self._request(key)
        try:
            resp = await self._http.get(path, params=params, headers=self._conditional(entry))
            served = self._accept(key, entry, resp)
        except (httpx.HTTPError, _Unavailable, RuntimeError) as exc:
            return self._failed(key, entry, exc)
        await asyncio.to_thread(self._keep, key)  # an fsync when the copy changes
        return served

    async def _join(self, key: Key) -> ServedPrompt:
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        flight = self._flights[key] = asyncio.get_running_loop().create_future()
        try:
            served = await self._fetch(key)
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: followers, if any, re-raise it
            raise
        else:
            flight.set_result(served)
            return served
        finally:
            self._flights.pop(key, None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _background(self, key: Key) -> None:
        if key not in self._flights and not self._closed:
            self._spawn(self._quiet(key))

    async def _quiet(self, key: Key) -> None:
        try:
            await self._join(key)
        except PromptGovError:
            pass  # kept in memory by _failed; reported by the next get

    # ------------------------------------------------------------------ events

    def _start_watch(self) -> None:
        if self.watch and self._watcher is None and not self._closed:
            self._subscribed = asyncio.Event()
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        assert self._subscribed is not None
        delay = 0.1
        timeout = httpx.Timeout(self.timeout, read=STREAM_READ_TIMEOUT)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout
        ) as http:
            while not self._closed:
                headers = {"Last-Event-ID": self._last_event} if self._last_event else {}
                try:
                    async with aconnect_sse(http, "GET", "/v1/events", headers=headers) as source:
                        if source.response.status_code != 200:
                            raise _Unavailable(f"events: {source.response.status_code}")
                        for key in self._expire_all():
                            self._background(key)
                        self._subscribed.set()
                        delay = 0.1
                        async for sse in source.aiter_sse():
                            if sse.id:
                                self._last_event = sse.id
                            if sse.event == "pointer":
                                for key, version in self._moved(sse.data):
                                    await self._refetch(key, version)
                except (httpx.HTTPError, _Unavailable, RuntimeError) as exc:
                    logger.debug("event stream of %s: %s", self.base_url, exc)
                self._subscribed.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY)

    async def _refetch(self, key: Key, version: str | None) -> None:
        for _ in range(20):
            served = await self._fetch(key)
            if version is None or served.version == version or served.source != "live":
                return
            await asyncio.sleep(0.05)


def record_call(
    path: Path | str,
    served: ServedPrompt,
    *,
    output: str | None = None,
    model: str | None = None,
    model_returned: str | None = None,
    latency_ms: float | None = None,
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    cost: float | None = None,
    variables: Mapping[str, Any] | None = None,
    finish_reason: str | None = None,
    id: str | None = None,
    at: datetime | None = None,
) -> ProductionRecord:
    """Append one production call record (a JSON line) to ``path``, for ``promptgov
    triggers`` and the drift checks: the served version and hash tie the output to the
    exact prompt. One ``write`` on an ``O_APPEND`` file, so processes can share a log."""
    record = ProductionRecord(
        time=at or datetime.now(UTC),
        prompt=served.name,
        version=served.version,
        sha256=served.sha256,
        env=served.env or None,
        id=id,
        model_requested=model,
        model_returned=model_returned,
        variables=dict(variables) if variables is not None else None,
        output=output,
        latency_ms=float(latency_ms) if latency_ms is not None else None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=float(cost) if cost is not None else None,
        finish_reason=finish_reason,
    )
    line = record.model_dump_json(exclude_none=True).encode() + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return record


def _detail(resp: httpx.Response) -> str:
    """The problem document's detail (or title), never the raw body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.reason_phrase or "no detail"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or resp.reason_phrase)[:300]
    return resp.reason_phrase or "no detail"


def _message(base_url: str, exc: Exception) -> str:
    if isinstance(exc, PromptGovError):
        return exc.message
    if isinstance(exc, _Unavailable):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"{base_url} did not answer in time ({type(exc).__name__})."
    return f"cannot reach {base_url}: {exc or type(exc).__name__}."


__all__ = ["AsyncClient", "Client", "record_call"]
