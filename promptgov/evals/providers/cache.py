"""An on-disk cache of successful provider responses, keyed by provider, config and prompt."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .interface import ProviderResponse, TokenUsage

#: Where the cache lives when neither ``$PROMPTFOO_CACHE_PATH`` nor a path is given.
DEFAULT_CACHE_DIR = Path("~/.cache/promptgov")
_FORMAT = 1


def cache_key(provider_id: str, config: Mapping[str, Any], prompt: str, **extra: Any) -> str:
    """The sha256 naming one response: equal inputs give equal keys, across runs and machines.

    ``extra`` carries what else changes the answer (the script's hash, the test's vars…).
    """
    material = json.dumps(
        {"v": _FORMAT, "id": provider_id, "config": config, "prompt": prompt, "extra": extra},
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _enabled_from_env(env: Mapping[str, str]) -> bool:
    """promptfoo's ``PROMPTFOO_CACHE_ENABLED=false`` turns caching off."""
    return env.get("PROMPTFOO_CACHE_ENABLED", "true").strip().lower() not in ("false", "0", "no")


class ResponseCache:
    """Successful responses stored one JSON file per key; errors are never stored.

    Writes go to a temporary file renamed into place, so concurrent runs sharing the
    directory only ever see whole entries. An unreadable entry counts as a miss.
    """

    def __init__(self, directory: Path | None, *, enabled: bool = True):
        self.directory = directory
        self.enabled = enabled and directory is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ResponseCache:
        """The cache promptfoo's environment variables describe (``PROMPTFOO_CACHE_PATH``…)."""
        raw = env.get("PROMPTFOO_CACHE_PATH")
        directory = Path(raw) if raw else DEFAULT_CACHE_DIR
        return cls(directory.expanduser(), enabled=_enabled_from_env(env))

    @classmethod
    def disabled(cls) -> ResponseCache:
        """A cache that never hits and never writes."""
        return cls(None, enabled=False)

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> ProviderResponse | None:
        """The stored response for ``key`` marked ``cached=True``, or None on a miss."""
        if not self.enabled:
            return None
        try:
            data = json.loads(self._path(key).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return None
        usage = data.get("token_usage") or {}
        total = int(usage.get("total", 0) or 0)
        return ProviderResponse(
            output=data.get("output"),
            # promptfoo reports a cached call's tokens as cached, not as prompt/completion.
            token_usage=TokenUsage(
                total=total, cached=total, num_requests=int(usage.get("num_requests", 0) or 0)
            ),
            cost=data.get("cost"),
            cached=True,
            finish_reason=data.get("finish_reason"),
            metadata=dict(data.get("metadata") or {}),
            raw=data.get("raw"),
            fields=data["fields"] if isinstance(data.get("fields"), dict) else None,
        )

    def put(self, key: str, response: ProviderResponse) -> None:
        """Store ``response`` under ``key`` unless it is an error or cannot be serialised."""
        if not self.enabled or response.error:
            return
        entry = {
            "format": _FORMAT,
            "output": response.output,
            "token_usage": {
                "total": response.token_usage.total,
                "prompt": response.token_usage.prompt,
                "completion": response.token_usage.completion,
                "num_requests": response.token_usage.num_requests,
            },
            "cost": response.cost,
            "finish_reason": response.finish_reason,
            "metadata": response.metadata,
            "raw": response.raw,
            "fields": response.fields,
        }
        try:
            payload = json.dumps(entry, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError):
            return
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(payload)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full cache directory must not fail the eval.
            tmp.unlink(missing_ok=True)
