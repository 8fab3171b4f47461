"""A lean HTTP/1.1 keep-alive client on asyncio streams, for plain-HTTP local model servers.

httpx spends about a millisecond of CPU per request under concurrency (its pool rescans
every connection on each request), which alone breaks the latency × tests ÷ concurrency
bound against a local vLLM/Ollama server. Plain ``http://`` endpoints without a proxy go
through this pool instead; ``https://`` and proxied URLs keep using httpx.

aiohttp was measured as a replacement (``benchmarks/eval_speed.py``, http-1000, same
machine, interleaved runs; see ``benchmarks/README.md``): with a dummy cookie jar, no
User-Agent and its import moved to config loading, the eval loop was +16 % over the
1.5625 s bound against +10 % for this pool, and the whole process +95 % against +76 %
(importing aiohttp alone costs ~0.2 s). httpx for every call measured +364 %. So this pool
stays, with aiohttp not a dependency.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import EvalError

_READ_LIMIT = 1 << 20


class WireError(EvalError):
    """The connection failed or broke before a full response arrived."""

    def __init__(self, message: str, *, connect: bool = False):
        super().__init__(message)
        #: True when no connection could be opened (connection refused, DNS…).
        self.connect = connect


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class WirePool:
    """Keep-alive connections per host, at most ``max_connections`` in use at once."""

    def __init__(self, max_connections: int):
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request and read the whole response: (status, lower-cased headers, body).

        A reused connection that the server had already closed is retried once on a
        fresh one, as any keep-alive client must.

        Raises:
            WireError: connecting, sending or reading failed.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        head.extend(f"{k}: {v}" for k, v in headers.items())
        lowered = {k.lower() for k in headers}
        if "accept-encoding" not in lowered:
            head.append("Accept-Encoding: identity")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        key = (host, port)
        async with self._slots:
            for attempt in range(2):
                conn, reused = await self._checkout(key)
                try:
                    conn.writer.write(payload)
                    await conn.writer.drain()
                    status, response_headers, data, keep = await _read_response(conn.reader, method)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                    conn.close()
                    if reused and attempt == 0 and _nothing_received(exc):
                        continue
                    raise WireError(f"{type(exc).__name__}: {exc or 'connection closed'}") from exc
                except asyncio.CancelledError:
                    conn.close()
                    raise
                if keep:
                    self._idle.setdefault(key, []).append(conn)
                else:
                    conn.close()
                return status, response_headers, data
        raise WireError("connection closed by the server")

    async def _checkout(self, key: tuple[str, int]) -> tuple[_Conn, bool]:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn, True
            conn.close()
        try:
            reader, writer = await asyncio.open_connection(key[0], key[1], limit=_READ_LIMIT)
        except OSError as exc:
            raise WireError(f"{exc.strerror or exc}", connect=True) from exc
        return _Conn(reader, writer), False

    async def aclose(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


def _nothing_received(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.IncompleteReadError):
        return not exc.partial
    return isinstance(exc, (ConnectionResetError, BrokenPipeError))


async def _read_response(
    reader: asyncio.StreamReader, method: str
) -> tuple[int, dict[str, str], bytes, bool]:
    """Parse status line, headers and a Content-Length, chunked or close-delimited body."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status_parts = lines[0].split(" ", 2)
    if len(status_parts) < 2 or not status_parts[0].startswith("HTTP/"):
        raise OSError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(status_parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close" and status_parts[0] != "HTTP/1.0"
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, headers, b"".join(chunks), keep
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"])), keep
    return status, headers, await reader.read(), False


def encode_body(json_body: Any, content: str | bytes | None) -> tuple[bytes | None, str | None]:
    """The request bytes and the content type they imply (None when the caller sets it)."""
    if content is not None:
        return (content.encode("utf-8") if isinstance(content, str) else content), None
    if json_body is not None:
        data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return data, "application/json"
    return None, None
