"""``promptgov serve`` as a user runs it: a process that prints its URL and docs path."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_prints_the_url_and_answers_there(example_repo: Path) -> None:
    port = _free_port()
    exe = Path(sys.executable).with_name("promptgov")
    with subprocess.Popen(
        [str(exe), "serve", "--repo", str(example_repo), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            _check(proc, port)
        finally:
            proc.terminate()
            proc.wait(10)


def _check(proc: subprocess.Popen[str], port: int) -> None:
    """The first line names the URL and docs; the server answers there."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = f"http://127.0.0.1:{port}"
    assert line == f"Serving on {url} (API docs: {url}/docs); Ctrl-C stops.\n"
    deadline = time.monotonic() + 15
    while True:
        try:
            r = httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    assert r.json() == {"status": "ok"}
    assert httpx.get(f"{url}/docs", timeout=5).status_code == 200


def test_serve_refuses_a_proxy_header_without_its_range(example_repo: Path, cli) -> None:
    r = cli("serve", "--repo", example_repo, "--trusted-proxy-header", "X-Forwarded-User")
    assert r.exit_code == 2
    assert r.stderr == (
        "error: a trusted proxy header needs the proxy's address range too. "
        "Pass --trusted-proxy-cidr, e.g. 10.0.0.0/8.\n"
    )
