"""``promptgov.Client`` and ``AsyncClient`` against a real uvicorn server on 127.0.0.1 over a
real governed repository: live then cached, one request for concurrent cold gets, the server
killed (cached, stale, disk, fallback) and restarted (live again), a rollback through the
API heard by a watching client within a second and by a polling one within its TTL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import promptgov
from promptgov import AsyncClient, Client, InputError, NotFound, Registry, record_call
from promptgov.monitor.ingest import read_records

from .flows import PROMPT, two_releases
from .server.conftest import TOKENS, Running, Served


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server on a fixed port that a test can stop and start again."""

    def __init__(self, root: Path) -> None:
        self.served = Served(root, "")
        for key, (name, role, envs) in TOKENS.items():
            self.served.token(key, name, role, *envs)
        self.port = _free_port()
        self.url = self.served.url = f"http://127.0.0.1:{self.port}"
        self.running: Running | None = None

    def start(self) -> None:
        running = Running(self.served.root)
        running.server.config.port = self.port
        self.running = running.__enter__()

    def stop(self) -> None:
        assert self.running is not None
        self.running.__exit__(None, None, None)
        self.running = None

    def token(self, key: str = "viewer") -> str:
        return self.served.tokens[key].secret

    def requests(self, route: str = "/v1/prompts/{name}") -> float:
        """GETs of ``route`` the server has counted (its Prometheus metrics)."""
        with self.served.client("viewer") as c:
            text = c.get("/metrics").text
        pattern = rf'promptgov_http_requests_total\{{method="GET",route="{re.escape(route)}",status="(\d+)"\}} (\S+)'
        return sum(float(v) for _, v in re.findall(pattern, text))


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory, released_template: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("sdk-http") / "repo"
    shutil.copytree(released_template, root, symlinks=True)
    srv = Server(root)
    srv.start()
    yield srv
    if srv.running is not None:
        srv.stop()


@pytest.fixture(scope="module")
def released_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """support-reply 1.0.0 then 1.1.0 released to prod (copied per test: tests roll back)."""
    root = tmp_path_factory.mktemp("released") / "repo"
    two_releases(root)
    return root


def _until(check, timeout: float, step: float = 0.005) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``check()`` holds; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "condition not met in time"
        time.sleep(step)
    return time.monotonic() - start


def _rollback(server: Server) -> dict[str, object]:
    with server.served.client("releaser") as c:
        r = c.post(f"/v1/prompts/{PROMPT}/rollbacks", json={"reason": "bad answers", "env": "prod"})
    assert r.status_code == 200, r.text
    return r.json()


def test_live_then_cached_with_the_registry_version_and_hash(
    server: Server, tmp_path: Path
) -> None:
    expected = Registry(server.served.root).get(PROMPT, env="prod")
    with Client(server.url, token=server.token(), cache_dir=tmp_path / "c") as client:
        first = client.get(PROMPT)
        again = client.get(PROMPT)
        pinned = client.get(PROMPT, version="1.0.0")
    assert (first.source, again.source) == ("live", "cached")
    assert (first.version, first.sha256, first.env) == ("1.1.0", expected.sha256, "prod")
    assert first.verified and first.error is None and again.content == first.content
    assert (
        pinned.version == "1.0.0"
        and pinned.sha256 == Registry(server.served.root).get(f"{PROMPT}@1.0.0").sha256
    )
    text = first.render(customer_name="Dana", order_id="A-1", message="late")
    assert isinstance(text, str) and "Dana" in text
    # The disk copy is private, as the local SDK's is.
    (copy,) = (tmp_path / "c").glob(f"{PROMPT}@prod.*.json")
    assert oct(os.stat(tmp_path / "c").st_mode & 0o777) == "0o700"
    assert oct(os.stat(copy).st_mode & 0o777) == "0o600"


def test_concurrent_cold_gets_make_one_request(server: Server, tmp_path: Path) -> None:
    client = Client(server.url, token=server.token(), cache_dir=tmp_path)
    before = server.requests()
    barrier = threading.Barrier(8)
    got: list[str] = []

    def worker() -> None:
        barrier.wait()
        got.append(client.get(PROMPT).version)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert got == ["1.1.0"] * 8
    assert server.requests() - before == 1


def test_server_killed_then_restarted(server: Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    client = Client(server.url, token=server.token(), ttl=0.2, cache_dir=cache)
    assert client.get(PROMPT).source == "live"
    server.stop()
    # Within the TTL: memory; after it: still served, revalidation fails in the background.
    assert client.get(PROMPT).source == "cached"
    time.sleep(0.25)
    client.get(PROMPT)
    _until(lambda: client.get(PROMPT).source == "stale", 10)
    stale = client.get(PROMPT)
    assert stale.version == "1.1.0" and stale.error and server.url in stale.error
    # A new process: the disk copy, which says the server could not vouch for it.
    with Client(server.url, token=server.token(), cache_dir=cache) as cold:
        disk = cold.get(PROMPT)
    assert (disk.source, disk.version, disk.verified) == ("disk", "1.1.0", False)
    assert disk.error and "disk copy" in disk.error
    assert disk.render(customer_name="D", order_id="1", message="m")
    # Nothing on disk: the fallback, else an error that says how to pass one.
    with Client(server.url, cache_dir=tmp_path / "empty", fallback={PROMPT: "Hi {{ who }}"}) as fb:
        fallback = fb.get(PROMPT)
    assert fallback.source == "fallback" and fallback.render(who="Dana") == "Hi Dana"
    with (
        Client(server.url, cache_dir=tmp_path / "empty") as none,
        pytest.raises(NotFound, match="fallback="),
    ):
        none.get(PROMPT)
    server.start()
    _until(lambda: client.get(PROMPT).source == "cached", 10)
    assert client.get(PROMPT).error is None
    with Client(server.url, token=server.token(), cache_dir=cache) as fresh:
        assert fresh.get(PROMPT).source == "live"
    client.close()


def test_a_tampered_disk_copy_is_refused(server: Server, tmp_path: Path) -> None:
    with Client(server.url, token=server.token(), cache_dir=tmp_path) as client:
        client.get(PROMPT)
    (copy,) = tmp_path.glob(f"{PROMPT}@prod.*.json")
    data = json.loads(copy.read_text())
    data["content"]["template"] = "Promise a refund to {{ customer_name }}."
    copy.write_text(json.dumps(data))
    os.chmod(copy, 0o600)
    server.stop()
    with Client(server.url, cache_dir=tmp_path, fallback={PROMPT: "Sorry."}) as client:
        served = client.get(PROMPT)
    assert served.source == "fallback"
    assert served.error and "does not match its hash" in served.error


def test_a_rollback_reaches_a_watching_client_within_a_second(
    server: Server, tmp_path: Path
) -> None:
    watching = Client(server.url, token=server.token(), watch=True, cache_dir=tmp_path / "w")
    polling = Client(server.url, token=server.token(), ttl=1.0, cache_dir=tmp_path / "p")
    assert watching.get(PROMPT).version == polling.get(PROMPT).version == "1.1.0"
    assert watching.wait_watching(10)
    out = _rollback(server)
    restored = Registry(server.served.root).get(PROMPT, env="prod").version
    assert restored != "1.1.0" and restored in json.dumps(out)
    _until(lambda: watching.get(PROMPT).version == restored, 1.0)
    _until(lambda: polling.get(PROMPT).version == restored, 1.0 + 1.0)
    watching.close()
    polling.close()


def test_async_client_twin(server: Server, tmp_path: Path) -> None:
    async def main() -> None:
        before = server.requests()
        async with AsyncClient(
            server.url, token=server.token(), watch=True, cache_dir=tmp_path
        ) as client:
            got = await asyncio.gather(*(client.get(PROMPT) for _ in range(8)))
            assert {g.version for g in got} == {"1.1.0"} and {g.source for g in got} == {"live"}
            assert server.requests() - before == 1
            assert (await client.get(PROMPT)).source == "cached"
            assert (await client.prefetch([PROMPT]))[PROMPT].version == "1.1.0"
            assert await client.wait_watching(10)
            await asyncio.to_thread(_rollback, server)
            restored = Registry(server.served.root).get(PROMPT, env="prod").version
            start = time.monotonic()
            while (await client.get(PROMPT)).version != restored:
                assert time.monotonic() - start < 1.0, "rollback not heard within a second"
                await asyncio.sleep(0.005)

    asyncio.run(main())
    server.stop()

    async def down() -> None:
        async with AsyncClient(server.url, token=server.token(), cache_dir=tmp_path) as client:
            disk = await client.get(PROMPT)
            assert (disk.source, disk.verified) == ("disk", False)
            assert disk.version == Registry(server.served.root).get(PROMPT, env="prod").version
        async with AsyncClient(
            server.url, cache_dir=tmp_path / "none", fallback={PROMPT: "Hi"}
        ) as client:
            assert (await client.get(PROMPT)).source == "fallback"

    asyncio.run(down())


def test_prefetch_and_call_records_the_trigger_checks_read(server: Server, tmp_path: Path) -> None:
    log = tmp_path / "production.jsonl"
    with Client(server.url, token=server.token(), cache_dir=tmp_path / "c") as client:
        served = client.prefetch([PROMPT])[PROMPT]
        assert client.get(PROMPT).source == "cached"
    record_call(
        log,
        served,
        output="Sorry, Dana.",
        model="gpt-4o-mini",
        latency_ms=812.5,
        tokens_in=120,
        tokens_out=30,
        cost=0.0004,
    )
    record_call(log, served, output="Hello.", model="gpt-4o-mini", latency_ms=640.0)
    records = list(read_records(log, prompt=PROMPT, env="prod"))
    assert [(r.version, r.sha256, r.output) for r in records] == [
        ("1.1.0", served.sha256, "Sorry, Dana."),
        ("1.1.0", served.sha256, "Hello."),
    ]
    assert records[0].tokens_in == 120 and records[0].latency_ms == 812.5


def test_an_unknown_prompt_or_a_bad_token_is_an_error_not_a_crash(
    server: Server, tmp_path: Path
) -> None:
    with (
        Client(server.url, token=server.token(), cache_dir=tmp_path) as client,
        pytest.raises(NotFound, match="404"),
    ):
        client.get("ghost")
    with Client(server.url, cache_dir=tmp_path) as client, pytest.raises(InputError):
        client.get("../audit")
    with (
        Client(server.url, token="not-a-token", cache_dir=tmp_path) as client,
        pytest.raises(NotFound) as err,
    ):
        client.get(PROMPT)
    assert "401" in str(err.value) and "not-a-token" not in str(err.value)
    assert promptgov.Client is Client and isinstance(httpx.__version__, str)
