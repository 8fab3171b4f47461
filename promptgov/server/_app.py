"""The application factory and the uvicorn runner behind ``promptgov serve``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.responses import Response

from .. import __version__
from ..repo import Repo
from . import _events, _langfuse, _problems, _reads, _replica, _writes, dashboard
from ._events import EventFeed
from ._metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from ._replica import Replica
from ._state import ServerOptions, ServerState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"


def create_app(repo: Path | str | Repo, options: ServerOptions | None = None) -> FastAPI:
    """An ASGI app serving the governed repository at ``repo``.

    Raises:
        NotFound / InvalidFile: ``repo`` is not a governed repository, or its ``server:``
            section is malformed (checked now, not on the first request).
    """
    root = repo.root if isinstance(repo, Repo) else Repo(repo).root
    state = ServerState(root=root, options=options or ServerOptions())
    state.policy()
    feed = EventFeed(root)
    state.feed = feed
    if state.options.sync_from is not None:
        state.replica = Replica(state, state.options.sync_from, timeout=state.options.sync_timeout)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        feed.bind(asyncio.get_running_loop())
        await asyncio.to_thread(feed.refresh)
        stop = asyncio.Event()
        watcher = asyncio.create_task(feed.watch(state.options.poll_interval, stop))
        tasks = [watcher]
        if state.replica is not None:
            tasks.append(
                asyncio.create_task(state.replica.follow(state.options.sync_interval, stop))
            )
        try:
            yield
        finally:
            app.state.shutdown.set()
            stop.set()
            await asyncio.gather(*tasks)

    app = FastAPI(
        title="promptgov",
        version=__version__,
        description="Governed prompts over HTTP: reads, writes under roles, events. "
        "See docs/server.md.",
        docs_url=DOCS_PATH,
        openapi_url=OPENAPI_PATH,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.promptgov = state
    app.state.feed = feed
    app.state.shutdown = anyio.Event()
    _problems.install(app)
    for module in (_reads, _writes, _langfuse, _events, _replica):
        app.include_router(module.router)
    dashboard.install(app)
    metrics = Metrics(state)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Exposition text"}},
    )
    def metrics_route() -> Response:
        """Request counts and latencies, the served version of each prompt per environment."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def serve(app: FastAPI, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run ``app`` under uvicorn until interrupted (access log off: that is the proxy's job,
    and no request line is worth the risk of echoing a credential)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
