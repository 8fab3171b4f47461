"""Writing a registered version into ``prompts/<name>/prompt.yml`` without losing an
author's unsaved edits.

A rollback, its undo and ``checkout`` all replace the working copy. Edits that are not
a registered version (content and card) would be lost with it (a rollback
overwrote an in-progress ``prompt.yml`` with no way back), so they are first kept beside
it as ``prompt.yml.before-<what>-<time>``, in the same unit of work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import _yaml
from ..errors import PromptGovError
from ..model import PromptCard, PromptContent, PromptEntry, PromptSource, validate_model
from ..store.files import Transaction
from ..store.paths import PROMPTS_DIR


def working_copy_path(name: str) -> str:
    """``prompts/<name>/prompt.yml``, relative to the repository."""
    return f"{PROMPTS_DIR}/{name}/prompt.yml"


def unsaved(entry: PromptEntry, raw: bytes | None) -> bool:
    """True when ``raw`` (the working copy's bytes) holds edits no version of ``entry`` has:
    a content and card registered together, or nothing at all, is not unsaved."""
    if raw is None:
        return False
    try:
        src = validate_model(PromptSource, _yaml.loads(raw, "prompt.yml"), "prompt.yml")
    except PromptGovError:
        return True  # half-written YAML is an edit in progress too
    registered = {(r.sha256, r.card_sha256) for r in entry.versions}
    return (src.content().sha256, src.card.sha256) not in registered


def stash_path(name: str, what: str, now: datetime) -> str:
    """Where unsaved edits are kept: ``prompts/<name>/prompt.yml.before-<what>-<time>``."""
    return f"{working_copy_path(name)}.before-{what}-{now:%Y%m%dT%H%M%S}"


def write_working_copy(
    txn: Transaction,
    entry: PromptEntry,
    name: str,
    content: PromptContent,
    card: PromptCard,
    *,
    what: str,
    now: datetime,
) -> str | None:
    """Stage ``content`` and ``card`` as the working copy, keeping the file's comments.

    Unsaved edits are staged first into :func:`stash_path` (``what`` names the act:
    ``rollback``, ``undo``, ``checkout``); returns that path, or None when nothing needed
    keeping.
    """
    rel = working_copy_path(name)
    raw = txn.read(rel)
    new = _rendered(raw, rel, content, card)
    stash = None
    if raw is not None and raw != new and unsaved(entry, raw):
        stash, n = stash_path(name, what, now), 1
        while txn.read(stash) is not None:  # two acts within one second
            n += 1
            stash = f"{stash_path(name, what, now)}.{n}"
        txn.write(stash, raw)
    txn.write(rel, new)
    return stash


def _rendered(raw: bytes | None, rel: str, content: PromptContent, card: PromptCard) -> bytes:
    """The working copy holding ``content`` and ``card``: ``raw`` edited in place (its
    comments kept), or a fresh file when ``raw`` is missing or unreadable."""
    fields = content.model_dump(mode="json", exclude_none=True)
    fields["card"] = card.model_dump(mode="json")

    def edit(doc: Any) -> None:
        for key in ("template", "messages"):
            if key in doc and key not in fields:
                del doc[key]
        for key, value in fields.items():
            if key == "template":
                from ruamel.yaml.scalarstring import LiteralScalarString

                value = LiteralScalarString(value)
            doc[key] = value

    try:
        new = _yaml.edit_roundtrip(raw, rel, edit) if raw else None
    except PromptGovError:
        new = None
    if new is None or not isinstance(_yaml.loads(new, rel), dict):
        new = _yaml.dump_block(fields).encode()
    return new
