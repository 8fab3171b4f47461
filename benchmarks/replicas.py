"""Replicas on one bare git remote (local disk), two uvicorn servers in this process.

* a promotion's latency through a replica (fetch, action, commit, push, check-out) next to
  the same promotion on a single server;
* how long until replica B serves a move made through replica A: by B's own polling
  (``--interval``), and when a webhook calls ``POST /v1/sync`` on B at once.

    python benchmarks/replicas.py [--rounds 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from promptgov.identity import TokenOptions, create_token  # noqa: E402
from promptgov.repo import Repo  # noqa: E402
from promptgov.server import ServerOptions, clone_replica, create_app  # noqa: E402
from tests.flows import PROMPT, git_init, two_releases  # noqa: E402


class Server:
    """uvicorn in a thread on an ephemeral port."""

    def __init__(self, root: Path, options: ServerOptions) -> None:
        app = create_app(root, options)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def until(check: Callable[[], bool]) -> float:
    start = time.perf_counter()
    while not check():
        time.sleep(0.002)
    return time.perf_counter() - start


def promote(c: httpx.Client, version: str, expect: str) -> float:
    body = {"version": version, "to": "staging", "reason": "bench", "expect": expect}
    start = time.perf_counter()
    r = c.post(f"/v1/prompts/{PROMPT}/promotions", json=body)
    took = time.perf_counter() - start
    assert r.status_code == 201, r.text
    return took


def staging(c: httpx.Client) -> str:
    version: str = c.get(f"/v1/prompts/{PROMPT}", params={"env": "staging"}).json()["version"]
    return version


def serves(c: httpx.Client, version: str) -> bool:
    return staging(c) == version


def ready(c: httpx.Client) -> bool:
    return c.get("/readyz").status_code == 200


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        seed = base / "seed"
        two_releases(seed)
        secret = create_token(
            Repo(seed), TokenOptions(name="alice", role="releaser"), by="ops"
        ).secret
        git_init(seed)
        remote = base / "remote.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remote)], check=True)
        headers = {"Authorization": f"Bearer {secret}"}
        versions = ["1.0.0", "1.1.0"]

        single = Server(seed, ServerOptions())
        with httpx.Client(base_url=single.url, headers=headers, timeout=60) as c:
            alone = [promote(c, versions[i % 2], versions[(i + 1) % 2]) for i in range(args.rounds)]
        single.stop()

        replica = ServerOptions(sync_from=str(remote), sync_interval=args.interval)
        nodes = [
            Server(clone_replica(str(remote), base / f"r{i}", timeout=30), replica) for i in (0, 1)
        ]
        a = httpx.Client(base_url=nodes[0].url, headers=headers, timeout=60)
        b = httpx.Client(base_url=nodes[1].url, headers=headers, timeout=60)
        for c in (a, b):
            until(partial(ready, c))
        writes, polled, hooked = [], [], []
        current = staging(a)
        for i in range(args.rounds):
            target = versions[0] if current == versions[1] else versions[1]
            writes.append(promote(a, target, current))
            start = time.perf_counter()
            if i % 2:
                b.post("/v1/sync")
                hooked.append(time.perf_counter() - start + until(partial(serves, b, target)))
            else:
                polled.append(until(partial(serves, b, target)))
            current = target
        a.close()
        b.close()
        for node in nodes:
            node.stop()
    print(f"promotion, single server:         {ms(alone)}")
    print(f"promotion through a replica:      {ms(writes)}")
    print(f"seen on replica B, polling {args.interval:g} s: {ms(polled)}")
    print(f"seen on replica B, POST /v1/sync: {ms(hooked)}")


if __name__ == "__main__":
    main()
