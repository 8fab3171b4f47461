"""Model API stubs on 127.0.0.1 speaking the OpenAI, Anthropic and Ollama wire formats.

One asyncio HTTP/1.1 keep-alive server answers all three formats, so a test can point any
provider at it. It answers deterministically, can wait a fixed latency before each answer, replays a
queue of failures first (an HTTP status, ``"malformed"`` JSON, ``"hang"``, ``"close"``,
``"empty"``), and records every request::

    from tests.stub_servers import openai_stub

    with openai_stub(latency_ms=50, failures=[429, 500]) as stub:
        env = {"OPENAI_BASE_URL": stub.openai_url}
        ...
        assert stub.count == 3

``python -m tests.stub_servers --latency-ms 50 --port 0`` serves until interrupted (or until
``--max-seconds``) and prints its base URL on the first line, for benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Failure = int | str | dict[str, Any]
#: Computes the reply text from the request's parsed JSON body.
Responder = Callable[[dict[str, Any]], str]


@dataclass
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _prompt_text(body: dict[str, Any]) -> str:
    """The text a deterministic reply echoes: the last message's text, or the prompt."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        content = messages[-1].get("content", "") if isinstance(messages[-1], dict) else ""
        if isinstance(content, list):  # Anthropic content blocks
            return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        return str(content)
    return str(body.get("prompt", body.get("input", "")))


def default_reply(body: dict[str, Any]) -> str:
    """``"echo: <last user text>"``: stable across runs, different per prompt."""
    return f"echo: {_prompt_text(body)}"


def _words(text: str) -> int:
    return len(text.split())


def _embedding(text: str, dims: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round((digest[i] - 128) / 128, 6) for i in range(dims)]


class StubServer:
    """The running stub: base URL, request log and knobs, usable as a context manager.

    It runs an asyncio server in a background thread, so a 50 ms latency costs no
    thread and a thousand concurrent-ish requests cost little CPU.
    """

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        failures: Iterable[Failure] = (),
        reply: Responder = default_reply,
        port: int = 0,
        retry_after: str | None = "0",
        model_label: str = "stub-model",
    ):
        self.latency_s = latency_ms / 1000
        self.failures: deque[Failure] = deque(failures)
        self.reply = reply
        self.retry_after = retry_after
        self.model_label = model_label
        self.requests: list[RecordedRequest] = []
        #: TCP connections accepted so far (keep-alive clients reuse theirs).
        self.connections = 0
        #: Connections the client has not closed yet.
        self.open_connections = 0
        self._lock = threading.Lock()
        self._requested_port = port
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port the OS gave the server."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL: Anthropic's and Ollama's clients take this one."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """OpenAI-style base URL (with ``/v1``), for ``OPENAI_BASE_URL``."""
        return self.url + "/v1"

    @property
    def count(self) -> int:
        """Requests received so far (including the failed ones)."""
        with self._lock:
            return len(self.requests)

    def paths(self) -> list[str]:
        """The paths requested, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def fail_next(self, *failures: Failure) -> None:
        """Queue failures to replay before normal answers resume."""
        with self._lock:
            self.failures.extend(failures)

    def start(self) -> StubServer:
        """Serve in a background thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to start()'s caller
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self._requested_port)
        self._port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            # Connections still open (keep-alive clients, hanging handlers) are dropped.
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    def close(self) -> None:
        """Stop serving, drop open connections and release the port."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, request: RecordedRequest) -> Failure | None:
        with self._lock:
            self.requests.append(request)
            return self.failures.popleft() if self.failures else None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.connections += 1
            self.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip()] = value.strip()
                lowered = {k.lower(): v for k, v in headers.items()}
                length = int(lowered.get("content-length") or 0)
                raw = await reader.readexactly(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else {}
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                failure = self._record(RecordedRequest(method, path, headers, body))
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                response = await self._respond(path, body, failure)
                if response is None:  # hang or close: drop the connection unanswered
                    return
                writer.write(response)
                await writer.drain()
                if lowered.get("connection", "").lower() == "close":
                    return
        except asyncio.CancelledError:
            pass
        finally:
            with self._lock:
                self.open_connections -= 1
            writer.close()

    async def _respond(self, path: str, body: Any, failure: Failure | None) -> bytes | None:
        if failure is not None:
            spec = failure if isinstance(failure, dict) else {"kind": failure}
            kind = spec.get("kind", spec.get("status"))
            if kind == "hang":
                await asyncio.sleep(float(spec.get("seconds", 30)))
                return None
            if kind == "close":
                return None
            if kind == "malformed":
                return _http_response(200, b'{"choices": [ not json')
            if kind == "empty":
                return _http_response(200, b"{}")
            if isinstance(kind, int):
                headers = {}
                retry_after = spec.get("retry_after", self.retry_after if kind == 429 else None)
                if retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
                error = {"error": {"message": f"stub failure {kind}", "type": "stub_error"}}
                return _http_response(kind, json.dumps(error).encode(), headers)
        payload = _answer(self, path, body if isinstance(body, dict) else {})
        if payload is None:
            return _http_response(
                404, json.dumps({"error": {"message": f"no route {path}"}}).encode()
            )
        return _http_response(200, json.dumps(payload).encode())


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


def _http_response(status: int, data: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
    ]
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def _answer(stub: StubServer, path_and_query: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The deterministic success payload for the wire format the path names."""
    path = path_and_query.split("?", 1)[0].rstrip("/")
    model = str(body.get("model", stub.model_label))
    if path.endswith("/chat/completions"):
        text = stub.reply(body)
        prompt_tokens = _words(_prompt_text(body))
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _words(text),
                "total_tokens": prompt_tokens + _words(text),
            },
        }
    if path.endswith("/completions"):
        text = stub.reply(body)
        prompt_tokens = _words(_prompt_text(body))
        return {
            "object": "text_completion",
            "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _words(text),
                "total_tokens": prompt_tokens + _words(text),
            },
        }
    if path.endswith("/embeddings"):
        text = str(body.get("input", ""))
        return {
            "object": "list",
            "model": model,
            "data": [{"object": "embedding", "index": 0, "embedding": _embedding(text)}],
            "usage": {"prompt_tokens": _words(text), "total_tokens": _words(text)},
        }
    if path.endswith("/v1/messages"):
        text = stub.reply(body)
        return {
            "id": "msg_stub",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": _words(_prompt_text(body)), "output_tokens": _words(text)},
        }
    if path.endswith("/api/chat"):
        text = stub.reply(body)
        return {
            "model": model,
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": _words(_prompt_text(body)),
            "eval_count": _words(text),
        }
    if path.endswith("/echo"):  # generic JSON endpoint for the http provider
        return {"received": body, "path": path_and_query, "reply": stub.reply(body)}
    return None


@contextmanager
def stub_server(**options: Any) -> Iterator[StubServer]:
    """A started :class:`StubServer`, closed on exit (all three wire formats)."""
    server = StubServer(**options).start()
    try:
        yield server
    finally:
        server.close()


#: Named for the API under test; every stub speaks all three formats.
openai_stub = stub_server
anthropic_stub = stub_server
ollama_stub = stub_server


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM or ``--max-seconds``; print the base URL first."""
    parser = argparse.ArgumentParser(prog="python -m tests.stub_servers")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop by itself after")
    args = parser.parse_args(argv)
    server = StubServer(latency_ms=args.latency_ms, port=args.port).start()
    print(server.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait(args.max_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        print(f"served {server.count} requests", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
