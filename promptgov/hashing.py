"""Canonical encodings and the content hashes that make versions immutable."""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Domain-separation prefixes: a content hash can never be confused with a card or audit hash.
CONTENT_DOMAIN = b"promptgov-content-v1\x00"
CARD_DOMAIN = b"promptgov-card-v1\x00"


def canonical_json(obj: Any) -> bytes:
    """Sorted-key, compact, UTF-8 JSON: one byte string per value, whatever the key order."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(domain: bytes, payload: bytes) -> str:
    """Hex sha256 of ``domain + payload``."""
    return hashlib.sha256(domain + payload).hexdigest()
