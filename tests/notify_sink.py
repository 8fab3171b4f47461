"""A real HTTP notification sink on 127.0.0.1 that records every request it receives.

Tests use it as a context manager (``with NotifySink() as sink:``) or as a pytest
fixture (``sink = pytest.fixture(sink_fixture, name="sink")``); demos run it as
``python -m tests.notify_sink --port 0``, which prints its base URL and then one JSON
line per received request.

Each path can be scripted: ``sink.script("/hook", 500, 200)`` answers 500 to the first
request and 200 to every later one; ``Behaviour(delay_s=2)`` answers slowly;
``Behaviour(drop=True)`` closes the connection without answering. ``closed_port_url()``
gives a URL on which nothing listens (connection refused). ``sink.require_signature``
makes the sink check an ``X-Promptgov-Signature`` HMAC header itself and answer 401
when it does not match.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "X-Promptgov-Signature"


@dataclass(frozen=True)
class Behaviour:
    """How the sink answers one request."""

    status: int = 200
    delay_s: float = 0.0
    drop: bool = False
    body: bytes = b'{"ok": true}'
    drip_s: float = 0.0
    """Send the body one byte at a time with this pause: each read is quick, the whole slow."""
    gate: int = 0
    """Hold the answer until this many requests (to any path) have arrived; 503 after 5 s."""


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool | None = None
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def expected_signature(secret: str, body: bytes) -> str:
    """The ``sha256=<hex>`` value a sender must put in the signature header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def closed_port_url(scheme: str = "http", path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}{path}"


class NotifySink:
    """A threaded HTTP server that records requests and answers as scripted per path."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default: Behaviour | None = None,
        secret: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Behaviour]] = {}
        self._default = default or Behaviour()
        self._default_secret = secret
        self._secrets: dict[str, str] = {}
        self._received: list[Received] = []
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.on_request: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> NotifySink:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> NotifySink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the sink listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def http_url(self, path: str = "/") -> str:
        """A plain HTTP URL for ``path``."""
        return self.url + path

    def json_url(self, path: str = "/") -> str:
        """An apprise ``json://`` URL that posts to ``path`` on this sink."""
        return f"json://127.0.0.1:{self.port}{path}"

    # -- behaviour ---------------------------------------------------------------------------

    def script(self, path: str, *steps: int | Behaviour) -> None:
        """Answer requests to ``path`` with ``steps`` in order, repeating the last one."""
        behaviours = [s if isinstance(s, Behaviour) else Behaviour(status=s) for s in steps]
        with self._lock:
            self._scripts[path] = behaviours or [Behaviour()]

    def require_signature(self, path: str, secret: str) -> None:
        """Check the HMAC signature of requests to ``path``; answer 401 when it is wrong."""
        with self._lock:
            self._secrets[path] = secret

    def _next(self, path: str) -> Behaviour:
        with self._lock:
            steps = self._scripts.get(path)
            if not steps:
                return self._default
            return steps.pop(0) if len(steps) > 1 else steps[0]

    # -- what was received -------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._received)

    def requests_to(self, path: str) -> list[Received]:
        """The requests whose path (without query) is ``path``."""
        return [r for r in self.received if r.path.split("?", 1)[0] == path]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least ``count`` requests arrived (or ``timeout``), then return all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return list(self._received)

    def _record(self, item: Received) -> None:
        with self._arrived:
            self._received.append(item)
            self._arrived.notify_all()
        if self.on_request is not None:
            self.on_request(item)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                behaviour = sink._next(path)
                secret = sink._secrets.get(path, sink._default_secret)
                signature_ok: bool | None = None
                status = behaviour.status
                if secret is not None:
                    given = self.headers.get(SIGNATURE_HEADER, "")
                    signature_ok = hmac.compare_digest(given, expected_signature(secret, body))
                    if not signature_ok:
                        status = 401
                sink._record(
                    Received(
                        method=self.command,
                        path=self.path,
                        headers=dict(self.headers.items()),
                        body=body,
                        status=-1 if behaviour.drop else status,
                        signature_ok=signature_ok,
                    )
                )
                if behaviour.gate and len(sink.wait_for(behaviour.gate)) < behaviour.gate:
                    status = 503
                if behaviour.delay_s:
                    time.sleep(behaviour.delay_s)
                if behaviour.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(behaviour.body)))
                    self.end_headers()
                    if behaviour.drip_s:
                        for i in range(len(behaviour.body)):
                            self.wfile.write(behaviour.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(behaviour.drip_s)
                    else:
                        self.wfile.write(behaviour.body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (its timeout was shorter than our delay).
                    self.close_connection = True

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

        return _Handler


def sink_fixture() -> Iterator[NotifySink]:
    """A pytest fixture body: ``sink = pytest.fixture(sink_fixture, name="sink")``."""
    with NotifySink() as sink:
        yield sink


def main(argv: list[str] | None = None) -> int:
    """Run a sink in the foreground, print its URL, then one JSON line per request."""
    parser = argparse.ArgumentParser(prog="python -m tests.notify_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--status", type=int, default=200, help="status to answer with")
    parser.add_argument("--secret", default=None, help="check X-Promptgov-Signature with it")
    args = parser.parse_args(argv)

    sink = NotifySink(
        args.host, args.port, default=Behaviour(status=args.status), secret=args.secret
    )
    out_lock = threading.Lock()

    def _print(item: Received) -> None:
        line = {
            "method": item.method,
            "path": item.path,
            "status": item.status,
            "signature_ok": item.signature_ok,
            "headers": item.headers,
            "json": item.json,
        }
        with out_lock:
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    sink.on_request = _print
    print(f"http://{args.host}:{sink.port}", flush=True)
    try:
        sink._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
