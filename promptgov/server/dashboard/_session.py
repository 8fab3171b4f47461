"""Browser sign-in: a token exchanged for a server-side session, or the SSO proxy's header;
and the CSRF token every form carries.

The cookie holds only a random session id; the token stays in the server's memory and is
re-checked on every request, so revoking it signs the browser out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from fastapi import Request, Response

from ...errors import NotAuthenticated
from ...identity import Principal
from .._auth import authenticate
from .._state import ServerState

COOKIE = "pg_session"
#: Seconds a session lasts without use.
IDLE = 8 * 3600


@dataclass
class _Session:
    secret: str
    seen: float


@dataclass
class Sessions:
    """Signed-in browsers: session id → the token they signed in with."""

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _by_id: dict[str, _Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, secret: str) -> str:
        """A new session for ``secret`` (already checked by the caller)."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            for k in [k for k, s in self._by_id.items() if now - s.seen > IDLE]:
                del self._by_id[k]
            self._by_id[sid] = _Session(secret, now)
        return sid

    def close(self, sid: str | None) -> None:
        """Forget ``sid``."""
        with self._lock:
            self._by_id.pop(sid or "", None)

    def secret(self, sid: str | None) -> str | None:
        """The token behind a live session."""
        with self._lock:
            s = self._by_id.get(sid or "")
            if s is None or time.monotonic() - s.seen > IDLE:
                return None
            s.seen = time.monotonic()
            return s.secret

    def csrf(self, binding: str) -> str:
        """The CSRF token of a session (or a proxy-vouched user): an HMAC the page embeds."""
        return hmac.new(self.key, b"csrf\0" + binding.encode(), hashlib.sha256).hexdigest()


def sessions(request: Request) -> Sessions:
    """The app's :class:`Sessions`."""
    s: Sessions = request.app.state.dashboard_sessions
    return s


@dataclass(frozen=True)
class Viewer:
    """The signed-in user and the CSRF token their forms must send back."""

    who: Principal
    csrf: str


def signed_in(request: Request, state: ServerState) -> Viewer | None:
    """The browser's user: its session, else the trusted proxy's header; None if neither."""
    store = sessions(request)
    sid = request.cookies.get(COOKIE)
    secret = store.secret(sid)
    if secret is not None:
        try:
            who = state.tokens().authenticate(secret)
        except NotAuthenticated:
            store.close(sid)
            return None
        return Viewer(who, store.csrf("sid:" + (sid or "")))
    if request.headers.get("authorization") is None:
        who_proxy = authenticate(request, state)
        if who_proxy is not None:
            return Viewer(who_proxy, store.csrf("proxy:" + who_proxy.name))
    return None


def check_csrf(viewer: Viewer, sent: str | None) -> None:
    """Refuse a form post whose CSRF token is missing or not this session's."""
    from ...errors import PermissionDenied

    if not sent or not hmac.compare_digest(sent, viewer.csrf):
        raise PermissionDenied("the form's CSRF token is missing or stale; reload the page.")


def set_cookie(
    request: Request,
    response: Response,
    value: str,
    *,
    name: str = COOKIE,
    path: str = "/",
    max_age: int = IDLE,
) -> None:
    """A dashboard cookie (the session's by default): HttpOnly, SameSite=Strict, Secure
    when served over TLS."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
        max_age=max_age,
    )
