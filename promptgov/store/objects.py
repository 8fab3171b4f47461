"""The content-addressed object store: released content and cards, immutable, hash-checked.

A rollback never depends on git history: every released version's bytes live here under
their own hash, and every read re-hashes them, so altered bytes are never served. Plain
files (the governed policy files as each policy change recorded them) are kept here too,
under the sha256 of their bytes, so the policy in force at any entry stays readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IntegrityError
from ..hashing import CARD_DOMAIN, CONTENT_DOMAIN, digest
from ..model import PromptCard, PromptContent, validate_model
from .files import Transaction, read_bytes
from .paths import OBJECTS_DIR

#: Kind of a plain file's bytes, stored as they are (not JSON) under their plain sha256.
FILE_KIND = "file"
#: The domain each kind of object is hashed in.
DOMAINS: dict[str, bytes] = {"content": CONTENT_DOMAIN, "card": CARD_DOMAIN, FILE_KIND: b""}


def object_path(sha: str, kind: str) -> str:
    """The repository-relative path of object ``sha`` of ``kind`` (content, card or file)."""
    suffix = "" if kind == FILE_KIND else ".json"
    return f"{OBJECTS_DIR}/{sha[:2]}/{sha[2:]}.{kind}{suffix}"


class ObjectStore:
    """``.promptgov/objects/`` of the repository at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_content(self, txn: Transaction, content: PromptContent) -> str:
        """Stage ``content`` (once per hash); returns its hash."""
        return self._put(txn, content.sha256, "content", content.canonical())

    def put_card(self, txn: Transaction, card: PromptCard) -> str:
        """Stage ``card`` (once per hash); returns its hash."""
        return self._put(txn, card.sha256, "card", card.canonical())

    def put_file(self, txn: Transaction, data: bytes) -> str:
        """Stage a plain file's bytes (once per hash); returns their sha256."""
        return self._put(txn, digest(b"", data), FILE_KIND, data)

    def get_file(self, sha: str) -> bytes:
        """The plain file ``sha``, re-checking its hash."""
        return self._read(sha, FILE_KIND, b"")

    def has_file(self, sha: str) -> bool:
        """Whether the plain file ``sha`` is stored (its bytes are checked when read)."""
        return (self.root / object_path(sha, FILE_KIND)).is_file()

    def _put(self, txn: Transaction, sha: str, kind: str, data: bytes) -> str:
        rel = object_path(sha, kind)
        if txn.read(rel) is None:
            txn.write(rel, data)
        return sha

    def get_content(self, sha: str) -> PromptContent:
        """Content ``sha``, re-checking its hash."""
        data = self._get(sha, "content", CONTENT_DOMAIN)
        content: PromptContent = validate_model(PromptContent, data, f"object {sha[:12]}")
        return content

    def get_card(self, sha: str) -> PromptCard:
        """Card ``sha``, re-checking its hash."""
        data = self._get(sha, "card", CARD_DOMAIN)
        card: PromptCard = validate_model(PromptCard, data, f"card object {sha[:12]}")
        return card

    def _get(self, sha: str, kind: str, domain: bytes) -> Any:
        return json.loads(self._read(sha, kind, domain))

    def _read(self, sha: str, kind: str, domain: bytes) -> bytes:
        rel = object_path(sha, kind)
        data = read_bytes(self.root / rel)
        if data is None:
            raise IntegrityError(
                f"{kind} object {sha[:12]}… is missing from {OBJECTS_DIR}; restore it from git "
                "or a backup (verifying the repository lists every problem).",
                cli_hint="'promptgov verify' lists every problem.",
                sha256=sha,
            )
        actual = digest(domain, data)
        if actual != sha:
            raise IntegrityError(
                f"{rel} has been altered: its bytes hash to {actual[:12]}…, not {sha[:12]}…; "
                "it will not be served. Restore it from git or a backup.",
                sha256=sha,
            )
        return data

    def __iter__(self) -> Iterator[tuple[str, str, Path]]:
        """Every stored object as (sha256, kind, path)."""
        base = self.root / OBJECTS_DIR
        if not base.is_dir():
            return
        for sub in sorted(base.iterdir()):
            if not sub.is_dir():
                continue
            for f in sorted(sub.iterdir()):
                parts = f.name.split(".")
                if len(parts) == 3 and parts[2] == "json":
                    yield sub.name + parts[0], parts[1], f
                elif len(parts) == 2 and parts[1] == FILE_KIND:
                    yield sub.name + parts[0], FILE_KIND, f
