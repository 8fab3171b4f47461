"""What the server keeps between requests: the registry it reads, its caches, its options."""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..identity import TOKENS_FILE, ServerPolicy, TokenCheck, check_tokens
from ..registry import Registry
from ..repo import Repo
from ..store.paths import AUDIT_FILE, CONFIG_FILE, REGISTRY_FILE

T = TypeVar("T")
Signature = tuple[tuple[int, int, int] | None, ...]

#: Seconds between looks at the audit log for new events.
#: The files the token check and the ``server:`` policy are read from.
TOKEN_FILES = (TOKENS_FILE, AUDIT_FILE)
POLICY_FILES = (CONFIG_FILE,)
DEFAULT_POLL_INTERVAL = 0.1
#: A replica's seconds between fetches, and the most any one git call to the remote may take.
DEFAULT_SYNC_INTERVAL = 5.0
DEFAULT_SYNC_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServerOptions:
    """How ``promptgov serve`` trusts its network and watches its repository."""

    trusted_proxy_header: str | None = None
    """The header an SSO proxy puts the signed-in user in (``X-Forwarded-User``)."""
    trusted_proxy_cidrs: tuple[str, ...] = ()
    """Peers allowed to send that header; from anywhere else it is ignored."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    """Seconds between looks at the audit log for changes made by other processes."""
    sync_from: str | None = None
    """The git remote this server is a replica of (its repository is a clone of it)."""
    sync_interval: float = DEFAULT_SYNC_INTERVAL
    """Seconds between fetches of ``sync_from``."""
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT
    """Seconds any one fetch or push may take before the remote counts as down."""

    def __post_init__(self) -> None:
        from ..errors import InputError

        if self.trusted_proxy_header and not self.trusted_proxy_cidrs:
            raise InputError(
                "a trusted proxy header needs the proxy's address range too.",
                cli_hint="Pass --trusted-proxy-cidr, e.g. 10.0.0.0/8.",
            )
        if not (self.sync_interval > 0 and self.sync_timeout > 0):
            raise InputError("the sync interval and timeout must be positive numbers of seconds.")
        for cidr in self.trusted_proxy_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise InputError(f"{cidr!r} is not an address range such as 10.0.0.0/8.") from None

    def trusts(self, host: str | None) -> bool:
        """Whether ``host`` (the TCP peer) may vouch for a user through the proxy header."""
        if not self.trusted_proxy_header or not host:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in ipaddress.ip_network(c, strict=False) for c in self.trusted_proxy_cidrs)


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class _Cached:
    sig: Signature
    value: Any


@dataclass
class ServerState:
    """The repository as the server sees it, re-read whenever its files change.

    Reads share one :class:`Registry` under a lock (its caches are not thread-safe);
    every write gets a fresh one, and the store's file lock orders the writes.
    """

    root: Path
    options: ServerOptions = field(default_factory=ServerOptions)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _registry: Registry | None = None
    _config_sig: tuple[int, int, int] | None = None
    _memo: dict[Any, _Cached] = field(default_factory=dict)
    #: The :class:`~promptgov.server._events.EventFeed` of this server (set by the app).
    feed: Any = None
    #: The :class:`~promptgov.server._replica.Replica`, when serving a clone of a remote.
    replica: Any = None

    def signature(self, *files: str) -> Signature:
        """(inode, size, mtime) of each file: a cache entry is good while these hold."""
        return tuple(_stat(self.root / f) for f in files)

    def registry(self) -> Registry:
        """The shared read-side registry (a new one when ``promptgov.yml`` changed)."""
        sig = _stat(self.root / CONFIG_FILE)
        if self._registry is None or sig != self._config_sig:
            self._registry = Registry(Repo(self.root))
            self._config_sig = sig
        return self._registry

    def fresh(self) -> Registry:
        """A registry of its own, for one write."""
        return Registry(Repo(self.root))

    def memo(self, key: Any, files: tuple[str, ...], make: Callable[[], T]) -> T:
        """``make()``, cached while ``files`` are unchanged on disk."""
        sig = self.signature(*files)
        hit = self._memo.get(key)
        if hit is not None and hit.sig == sig:
            value: T = hit.value
            return value
        value = make()
        self._memo[key] = _Cached(sig, value)
        return value

    def cached(self, key: Any, files: tuple[str, ...]) -> Any:
        """What :meth:`memo` holds for ``key`` while ``files`` are unchanged, else None.

        Takes no lock (a dict read and a stat per file), so the event loop can answer from
        it without handing the request to a worker thread.
        """
        hit = self._memo.get(key)
        if hit is not None and hit.sig == self.signature(*files):
            return hit.value
        return None

    def tokens(self) -> TokenCheck:
        """The tokens the audit chain vouches for, re-checked when either file changes."""
        with self.lock:
            return self.memo("tokens", TOKEN_FILES, lambda: check_tokens(self.registry().repo))

    def policy(self) -> ServerPolicy:
        """The ``server:`` section of ``promptgov.yml``."""
        with self.lock:
            return self.memo(
                "policy",
                POLICY_FILES,
                lambda: ServerPolicy.from_config(self.registry().repo.config),
            )

    def read(self, fn: Callable[[Registry], T]) -> T:
        """Run ``fn`` on the shared registry, one reader at a time."""
        with self.lock:
            return fn(self.registry())

    def state_files(self) -> tuple[str, ...]:
        """The files a read of the registry depends on."""
        return (REGISTRY_FILE, CONFIG_FILE)

    def watched_files(self) -> tuple[str, ...]:
        """Every file whose change can change what ``verify`` says."""
        return (REGISTRY_FILE, CONFIG_FILE, AUDIT_FILE, TOKENS_FILE)

    def forget(self) -> None:
        """Drop every cached read: the files were replaced (a sync checked out a new commit,
        possibly within the same second and size)."""
        with self.lock:
            self._registry = None
            self._memo.clear()

    def changed(self) -> None:
        """A write went through: tell event subscribers now, not at the next poll."""
        if self.feed is not None:
            self.feed.refresh()

    def feed_head(self) -> int:
        """The newest audit sequence number the event feed has read."""
        return int(self.feed.head) if self.feed is not None else 0
