"""A real uvicorn server on 127.0.0.1 (an ephemeral port) over a real governed repository."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from promptgov.identity import CreatedToken, TokenOptions, create_token
from promptgov.repo import Repo
from promptgov.server import ServerOptions, create_app

from ..flows import two_releases


class Running:
    """uvicorn serving an app in a thread, stopped on exit."""

    def __init__(self, root: Path, options: ServerOptions | None = None) -> None:
        config = uvicorn.Config(
            create_app(root, options or ServerOptions(poll_interval=0.05)),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn exited at start-up"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


@dataclass
class Served:
    """A running server, its repository and a token per role."""

    root: Path
    url: str
    tokens: dict[str, CreatedToken] = field(default_factory=dict)

    def client(self, who: str | None = None) -> httpx.Client:
        """An HTTP client, authenticated as the holder of token ``who`` (None: nobody)."""
        headers = {"Authorization": f"Bearer {self.tokens[who].secret}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def token(
        self, key: str, name: str, role: str, *envs: str, expires: timedelta | None = None
    ) -> CreatedToken:
        """Create (and remember) a token through the library."""
        created = create_token(
            Repo(self.root),
            TokenOptions(name=name, role=role, envs=envs, expires=expires),
            by="ops",
        )
        self.tokens[key] = created
        return created


#: The tokens every served repository starts with: key → (holder, role, envs).
TOKENS = {
    "viewer": ("victor", "viewer", ()),
    "author": ("carol", "author", ()),
    "carol-approver": ("carol", "approver", ()),
    "staging-approver": ("bob", "approver", ("staging",)),
    "prod-approver": ("alice", "approver", ("prod",)),
    "releaser": ("alice", "releaser", ()),
    "admin": ("root", "admin", ()),
}


def start(root: Path, options: ServerOptions | None = None) -> Iterator[Served]:
    """Tokens for every role, then the server."""
    served = Served(root, "")
    for key, (name, role, envs) in TOKENS.items():
        served.token(key, name, role, *envs)
    with Running(root, options) as running:
        served.url = running.url
        yield served


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """support-reply 1.0.0 then 1.1.0 released through dev, staging and prod."""
    root = tmp_path_factory.mktemp("served") / "repo"
    two_releases(root)
    return root


@pytest.fixture(scope="module")
def server(released: Path) -> Iterator[Served]:
    """A server over :func:`released`, reads token-only (the default)."""
    yield from start(released)
