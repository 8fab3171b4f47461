"""``/v1/events`` over a real server: a move is heard at once, ``Last-Event-ID`` resumes,
and a change made outside the server (the library, as the CLI does) is heard too."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptgov import PromoteOptions, Registry, promote

from ..flows import PROMPT
from .conftest import Served, start


@pytest.fixture(scope="module")
def server(released: Path) -> Iterator[Served]:
    yield from start(released)


class Listener:
    """An SSE client in a thread, putting (id, event, data) on a queue."""

    def __init__(self, served: Served, **headers: str) -> None:
        self.events: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue()
        self.subscribed = threading.Event()
        self.headers = {"Authorization": f"Bearer {served.tokens['viewer'].secret}", **headers}
        self.url = served.url + "/v1/events"
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.subscribed.wait(10), "no subscription"

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self.stop:  # the server going away after the test is expected
                raise

    def _read(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(30, read=30)) as c:
            with c.stream("GET", self.url, headers=self.headers) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.subscribed.set()
                    elif line == "":
                        if "data" in fields:
                            self.events.put(
                                (fields["id"], fields["event"], json.loads(fields["data"]))
                            )
                        fields = {}
                    else:
                        key, _, value = line.partition(":")
                        fields[key] = value.strip()
                    if self.stop:
                        return

    def next(self, timeout: float = 5) -> tuple[str, str, dict[str, Any]]:
        return self.events.get(timeout=timeout)


def test_a_rollback_through_the_api_reaches_a_listener_within_a_second(server: Served) -> None:
    listener = Listener(server)
    start_at = time.monotonic()
    with server.client("releaser") as c:
        r = c.post(f"/v1/prompts/{PROMPT}/rollbacks", json={"reason": "bad", "env": "prod"})
    assert r.status_code == 200, r.text
    seen = []
    while True:
        event_id, kind, data = listener.next()
        seen.append(kind)
        if kind == "pointer":
            break
    elapsed = time.monotonic() - start_at
    assert (data["prompt"], data["env"], data["previous"]) == (PROMPT, "prod", "1.1.0")
    assert data["version"].startswith("1.0.0") and data["actor"] == "alice"
    assert event_id == str(data["id"])
    assert elapsed < r.elapsed.total_seconds() + 1.0
    listener.stop = True


def test_last_event_id_resumes_and_outside_changes_are_heard(server: Served) -> None:
    with server.client("viewer") as c:
        moves = c.get("/v1/audit", params={"action": "promote"}).json()
    before = moves[0]["seq"]
    listener = Listener(server, **{"Last-Event-ID": str(before)})
    replayed = [listener.next() for _ in range(len(moves) - 1)]
    assert [int(i) for i, _, _ in replayed][: len(moves) - 1] == sorted(
        int(i) for i, _, _ in replayed
    )
    assert {k for _, k, _ in replayed} <= {"pointer", "version", "trigger"}
    assert all(int(i) > before for i, _, _ in replayed)
    # Drain the replay, then change the repository behind the server's back.
    while not listener.events.empty():
        listener.next()
    promote(
        Registry(server.root),
        f"{PROMPT}@1.0.0",
        PromoteOptions(to="dev", reason="outside", emergency=True),
        by="alice",
    )
    while True:
        _, kind, data = listener.next(timeout=3)
        if kind == "pointer" and data["reason"] == "outside":
            break
    assert (data["env"], data["version"], data["action"]) == ("dev", "1.0.0", "emergency-promote")
    listener.stop = True
