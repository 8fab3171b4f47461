"""A key that never leaves this user account, for MACs over local caches.

Caches under ``.promptgov/cache/`` are git-ignored, but a clone can still carry them
(force-added) and a text editor can change them. A cache is trusted only when its MAC,
made with this key, matches: the key lives in the user's state directory, outside every
repository, so no file in a clone can forge it. Without a usable key no cache is trusted
and everything is read from the committed files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

KEY_NAME = "cache.key"


def key_dir() -> Path:
    """``$PROMPTGOV_STATE_HOME``, else ``$XDG_STATE_HOME/promptgov``, else ``~/.local/state/promptgov``."""
    explicit = os.environ.get("PROMPTGOV_STATE_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "promptgov"


@lru_cache(maxsize=4)
def _load(directory: str) -> bytes | None:
    path = Path(directory) / KEY_NAME
    try:
        Path(directory).mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as fh:
            st = os.fstat(fh.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o077:
                return None  # somebody else could read or write it
            text = fh.read().strip()
        return bytes.fromhex(text) if len(text) == 64 else None
    except (OSError, ValueError):
        return None


def local_key() -> bytes | None:
    """This account's cache key (created on first use), or None when none is usable."""
    return _load(str(key_dir()))


def mac(*parts: bytes) -> str | None:
    """HMAC-SHA256 over ``parts`` (length-prefixed) with the local key; None without a key."""
    key = local_key()
    if key is None:
        return None
    h = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def mac_ok(expected: object, *parts: bytes) -> bool:
    """True when ``expected`` is the MAC of ``parts`` (constant time)."""
    actual = mac(*parts)
    return (
        actual is not None and isinstance(expected, str) and hmac.compare_digest(actual, expected)
    )
