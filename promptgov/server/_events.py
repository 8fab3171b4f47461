"""``GET /v1/events``: pointer moves, new versions and trigger firings as Server-Sent Events.

The audit log is the event source: every change is an audit entry, so the event id is
the entry's sequence number, a client resumes with ``Last-Event-ID`` and misses nothing,
and a change made by the CLI or another process is heard as soon as the log grows. The
same events reach webhooks through the notification outbox (``notifications:``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from ..audit import AuditEntry, AuditLog
from ..store.paths import AUDIT_FILE
from ._auth import Reader, State
from ._problems import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["events"])

#: Audit actions → event type. ``pointer``: an environment now serves another version.
EVENT_TYPES: dict[str, str] = {
    "add": "version",
    "promote": "pointer",
    "emergency-promote": "pointer",
    "rollback-start": "pointer",
    "rollback-undo": "pointer",
    "trigger": "trigger",
    "auto-rollback": "trigger",
}
#: Seconds between keep-alive comments on an idle stream.
PING_SECONDS = 15


def event_of(entry: AuditEntry) -> dict[str, Any] | None:
    """The event an audit entry announces, or None."""
    kind = EVENT_TYPES.get(entry.action)
    if kind is None or entry.outcome.value == "failure" or entry.prompt is None:
        return None
    return {
        "id": entry.seq,
        "type": kind,
        "action": entry.action,
        "time": entry.time,
        "actor": entry.actor,
        "prompt": entry.prompt,
        "env": entry.env,
        "version": entry.to_version,
        "previous": entry.from_version,
        "sha256": entry.to_sha256,
        "reason": entry.reason,
    }


class EventFeed:
    """The events of the audit log, kept in memory and re-read when the log changes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.events: list[dict[str, Any]] = []
        self.head = 0
        self._sig: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._news: asyncio.Event | None = None

    def refresh(self) -> bool:
        """Read entries past the last one seen; True when there were any."""
        path = self.root / AUDIT_FILE
        with self._lock:
            try:
                st = path.stat()
            except OSError:
                return False
            sig = (st.st_ino, st.st_size, st.st_mtime_ns)
            if sig == self._sig:
                return False
            self._sig = sig
            head, found = self.head, []
            for entry in AuditLog(self.root).entries():
                if entry.seq <= head:
                    continue
                head = entry.seq
                event = event_of(entry)
                if event is not None:
                    found.append(event)
            if head == self.head:
                return False
            self.events.extend(found)
            self.head = head
        self._announce()
        return True

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Events after sequence number ``seq``, oldest first."""
        with self._lock:
            if not self.events or self.events[-1]["id"] <= seq:
                return []
            lo, hi = 0, len(self.events)
            while lo < hi:
                mid = (lo + hi) // 2
                if self.events[mid]["id"] <= seq:
                    lo = mid + 1
                else:
                    hi = mid
            return self.events[lo:]

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (where waiters wait)."""
        self._loop = loop
        self._news = asyncio.Event()

    def _announce(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        news, self._news = self._news, asyncio.Event()
        if news is not None:
            news.set()

    async def wait(self, timeout: float) -> None:
        """Until the next refresh that found something, or ``timeout``."""
        news = self._news
        if news is None:
            await asyncio.sleep(timeout)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(news.wait(), timeout)

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Poll the log every ``interval`` seconds until ``stop`` (changes from other
        processes: the CLI, a git pull)."""
        while not stop.is_set():
            await asyncio.to_thread(self.refresh)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _start(last_event_id: str | None, after: int | None, head: int) -> int:
    if after is not None:
        return after
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return head


@router.get(
    "/v1/events",
    summary="Server-Sent Events: pointer moves, new versions, trigger firings",
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream"}},
)
async def events(
    request: Request,
    state: State,
    who: Reader,
    last_event_id: str | None = Header(default=None, description="Resume after this event id."),
    after: int | None = Query(
        default=None, ge=0, description="Resume after this event id (for clients without headers)."
    ),
) -> EventSourceResponse:
    """Each event's ``id`` is its audit sequence number and ``event`` its type
    (``pointer``, ``version``, ``trigger``); ``data`` is JSON. Without ``Last-Event-ID``
    the stream starts with the next change."""
    feed: EventFeed = request.app.state.feed
    await asyncio.to_thread(feed.refresh)
    cursor = _start(last_event_id, after, feed.head)

    async def stream() -> Any:
        nonlocal cursor
        # A first comment flushes the headers, so a client knows it is subscribed.
        yield ServerSentEvent(comment="subscribed", retry=1000)
        while True:
            for event in feed.since(cursor):
                cursor = event["id"]
                yield ServerSentEvent(data=json.dumps(event), event=event["type"], id=str(cursor))
            await feed.wait(PING_SECONDS)

    return EventSourceResponse(
        stream(), ping=PING_SECONDS, shutdown_event=request.app.state.shutdown
    )
