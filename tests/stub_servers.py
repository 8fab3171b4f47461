"""Model API stubs on 127.0.0.1 speaking the OpenAI, Anthropic and Ollama wire formats.

One threaded HTTP/1.1 server answers all three formats, so a test can point any provider at
it. It answers deterministically, can wait a fixed latency before each answer, replays a
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
import hashlib
import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    """The running stub: base URL, request log and knobs, usable as a context manager."""

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
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the OS gave the server."""
        return int(self._server.server_address[1])

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
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, release hanging handlers and the port."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
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


def _make_handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
        wbufsize = 1 << 16  # headers and body leave in one send
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else {}
            except ValueError:
                body = raw.decode("utf-8", "replace")
            failure = stub._record(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), body)
            )
            if stub.latency_s:
                time.sleep(stub.latency_s)
            if failure is not None and self._fail(failure):
                return
            payload = self._answer(body if isinstance(body, dict) else {})
            if payload is None:
                self._send(404, {"error": {"message": f"no route {self.path}"}})
            else:
                self._send(200, payload)

        def _fail(self, failure: Failure) -> bool:
            """Play one failure; False means 'answer normally after all'."""
            spec = failure if isinstance(failure, dict) else {"kind": failure}
            kind = spec.get("kind", spec.get("status"))
            if kind == "hang":
                stub._stopping.wait(float(spec.get("seconds", 30)))
                self.close_connection = True
                return True
            if kind == "close":
                self.close_connection = True
                return True
            if kind == "malformed":
                self._send_raw(200, b'{"choices": [ not json', "application/json")
                return True
            if kind == "empty":
                self._send(200, {})
                return True
            if isinstance(kind, int):
                headers = {}
                retry_after = spec.get("retry_after", stub.retry_after if kind == 429 else None)
                if retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
                error = {"error": {"message": f"stub failure {kind}", "type": "stub_error"}}
                self._send(kind, error, headers)
                return True
            return False

        def _answer(self, body: dict[str, Any]) -> dict[str, Any] | None:
            path = self.path.split("?", 1)[0].rstrip("/")
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
                    "usage": {
                        "input_tokens": _words(_prompt_text(body)),
                        "output_tokens": _words(text),
                    },
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
                return {"received": body, "path": self.path, "reply": stub.reply(body)}
            return None

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

        def _send_raw(
            self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


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
