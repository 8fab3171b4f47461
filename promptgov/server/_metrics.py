"""Prometheus metrics through ``prometheus-client``: request counts and latencies by route,
and the version each prompt serves in each environment, read at scrape time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._state import ServerState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Served(Collector):
    """``promptgov_served_version{prompt,env,version} 1`` and the audit head, from the
    registry as it is when scraped."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        served = GaugeMetricFamily(
            "promptgov_served_version",
            "1 for the version each prompt serves in each environment.",
            labels=["prompt", "env", "version"],
        )
        try:
            rows = self.state.read(lambda reg: reg.status())
        except Exception:  # a broken repository must not break the scrape; readyz says it
            rows = []
        for row in rows:
            for env, version in row.environments.items():
                if version is not None:
                    served.add_metric([row.name, env, version], 1)
        yield served
        head = GaugeMetricFamily(
            "promptgov_audit_head_seq", "Sequence number of the newest audit entry seen."
        )
        head.add_metric([], float(self.state.feed_head()))
        yield head
        replica = self.state.replica
        if replica is not None:
            lag = GaugeMetricFamily(
                "promptgov_sync_lag_seconds",
                "Seconds since this replica last had its git remote's newest commit.",
            )
            lag.add_metric([], replica.lag())
            yield lag
            up = GaugeMetricFamily(
                "promptgov_sync_remote_up", "1 when the last fetch or push reached the remote."
            )
            up.add_metric([], 1.0 if replica.reachable else 0.0)
            yield up
            failures = CounterMetricFamily(
                "promptgov_sync_failures", "Fetches that could not reach the git remote."
            )
            failures.add_metric([], float(replica.failures))
            yield failures


class Metrics:
    """One registry per app, so several servers in one process keep separate counts."""

    def __init__(self, state: ServerState) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "promptgov_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "promptgov_http_request_duration_seconds",
            "Time to the end of the response, by route.",
            ["method", "route"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=self.registry,
        )
        self.registry.register(_Served(state))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """A plain ASGI middleware (no response buffering, so streams stay streams)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            # The route's template, never the raw path: names would explode the label set.
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, path, str(status[0])).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - start)
