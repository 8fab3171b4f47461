"""The version registry file, read and written in time proportional to what changes.

``schemas/prompt-version-schema.yml`` is one human-readable YAML file holding every
prompt. At 10,000 versions it is ~12 MB, too big to parse and validate on every command.
So each write also stores, under ``.promptgov/cache/registry/``, an index (each prompt's
byte range in the file and a small summary) and one validated JSON shard per prompt,
each MAC'd with this account's key (:mod:`.localkey`): a cache that was edited, or came
with a clone, fails its MAC and is ignored.
A read hashes the YAML file; when the index was written for exactly those bytes, prompts
are loaded lazily from their shards, one at a time. Otherwise (a hand edit, a git
checkout) the whole file is parsed and validated as before. A write re-renders only the
prompts that changed and copies the other blocks byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from .. import _yaml
from ..model import PromptEntry, VersionRegistry, validate_model
from .files import STATE_DIR, read_bytes
from .localkey import mac, mac_ok

CACHE_DIR = f"{STATE_DIR}/cache/registry"
INDEX_FILE = f"{CACHE_DIR}/index.json"
SCHEMA_ID = "promptgov/version-registry/v1"
#: The index MAC's domain; a new one when the summary changes meaning, so an older index
#: is rebuilt rather than trusted ("latest" became the newest authored version).
_INDEX_DOMAIN = b"registry-index/2"
HEADER = (
    "# promptgov version registry: every prompt's immutable versions and each environment's\n"
    "# pointer with its full history. Written by promptgov; change it with promptgov commands.\n"
)
_PREAMBLE = f"schema: {SCHEMA_ID}\nprompts:\n".encode()
_EMPTY = f"schema: {SCHEMA_ID}\nprompts: {{}}\n".encode()


def summary(entry: PromptEntry) -> dict[str, Any]:
    """What ``status`` needs of a prompt, without loading its versions."""
    return {
        "versions": len(entry.versions),
        "latest": latest.version if (latest := entry.latest()) else None,
        "envs": {env: state.current for env, state in entry.environments.items()},
        "quarantined": [r.version for r in entry.versions if r.quarantine is not None],
        "shas": sorted({r.sha256 for r in entry.versions}),
        "pending_rollbacks": sum(1 for r in entry.rollbacks if not r.status.is_terminal()),
        "post_reviews": [[env, m.model_dump(mode="json")] for env, m in entry.open_post_reviews()],
    }


def render_block(name: str, entry: PromptEntry) -> bytes:
    """The YAML of one prompt as it stands under ``prompts:`` (indented by two spaces)."""
    text = _yaml.dump_block({name: entry.model_dump(mode="json")})
    return "".join(
        "  " + line if line else line for line in text.splitlines(keepends=True)
    ).encode()


class Prompts(Mapping[str, PromptEntry]):
    """The registry's prompts, each validated on first access."""

    def __init__(
        self,
        raw: bytes,
        index: dict[str, dict[str, Any]],
        loaded: dict[str, PromptEntry] | None = None,
        dirty: frozenset[str] = frozenset(),
        root: Any = None,
        base_index: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self._raw = raw
        self._index = index
        #: The index as read from disk: its byte ranges refer to ``raw``.
        self._base = index if base_index is None else base_index
        self._loaded: dict[str, PromptEntry] = dict(loaded or {})
        self._dirty = dirty
        self._root = root

    def __getitem__(self, name: str) -> PromptEntry:
        entry = self._loaded.get(name)
        if entry is not None:
            return entry
        meta = self._index[name]
        entry = self._shard(meta) or self._block(name, meta)
        self._loaded[name] = entry
        return entry

    def _shard(self, meta: dict[str, Any]) -> PromptEntry | None:
        """The cached shard, when its MAC shows this account wrote it for this block."""
        if self._root is None:
            return None
        data = read_bytes(self._root / CACHE_DIR / meta["shard"])
        if data is None or not mac_ok(meta.get("mac"), b"registry-shard", data):
            return None
        try:
            return PromptEntry.model_validate_json(data)
        except (ValueError, ValidationError):
            return None

    def _block(self, name: str, meta: dict[str, Any]) -> PromptEntry:
        block = self._raw[meta["start"] : meta["end"]]
        parsed = _yaml.loads(block.decode("utf-8"), f"registry block of {name}") or {}
        entry: PromptEntry = validate_model(
            PromptEntry, parsed.get(name), f"registry block of {name}"
        )
        return entry

    def reparsed(self, name: str) -> Prompts:
        """A copy whose ``name`` is read from the registry file itself, not from the cache."""
        meta = self._index.get(name)
        if meta is None or name in self._dirty or meta["end"] <= meta["start"]:
            return self
        loaded = {**self._loaded, name: self._block(name, meta)}
        return Prompts(self._raw, self._index, loaded, self._dirty, self._root, self._base)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @property
    def loaded(self) -> dict[str, PromptEntry]:
        """The prompts validated so far."""
        return dict(self._loaded)

    def summary(self, name: str) -> dict[str, Any]:
        """The prompt's summary (from the index; no shard is read)."""
        return dict(self._index[name]["summary"])

    def unfinished(self) -> list[tuple[str, int]]:
        """(prompt, number of unfinished rollbacks), from the index alone."""
        return [(n, c) for n in self if (c := self.summary(n).get("pending_rollbacks", 0))]

    def with_entry(self, name: str, entry: PromptEntry) -> Prompts:
        """A copy with ``name`` replaced (or added) by ``entry``."""
        index = dict(self._index)
        index[name] = {"start": 0, "end": 0, "shard": "", "summary": summary(entry)}
        return Prompts(
            self._raw,
            dict(sorted(index.items())),
            {**self._loaded, name: entry},
            self._dirty | {name},
            self._root,
            self._base,
        )


def load(
    root: Any, raw: bytes, label: str, key: str | None = None
) -> tuple[Prompts, dict[str, bytes | None]]:
    """The registry in ``raw``, and cache files to write when the cache was stale."""
    key = key or hashlib.sha256(raw).hexdigest()
    index_raw = read_bytes(root / INDEX_FILE)
    if index_raw is not None:
        try:
            index = json.loads(index_raw)
            if index.get("yaml_sha256") == key and mac_ok(
                index.get("mac"), _INDEX_DOMAIN, _index_payload(key, index["prompts"])
            ):
                return Prompts(raw, index["prompts"], root=root), {}
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a damaged or forged cache is rebuilt below
    data = _yaml.loads(raw, label)
    reg: VersionRegistry = validate_model(VersionRegistry, data if data is not None else {}, label)
    prompts = Prompts(raw, {}, root=root)
    for name, entry in reg.prompts.items():
        prompts = prompts.with_entry(name, entry)
    rendered, files = render(prompts)
    if rendered != raw:
        return prompts, {}  # hand-formatted: cached once promptgov rewrites it
    index_raw = files.get(INDEX_FILE)
    index = json.loads(index_raw)["prompts"] if index_raw else {}
    return Prompts(raw, index, prompts.loaded, root=root), files


def reopen(
    prompts: Prompts, raw: bytes, files: dict[str, bytes | None], root: Any
) -> tuple[Prompts, bytes | None]:
    """The prompts as read back from what :func:`render` produced, and the file's sha256."""
    index_raw = files.get(INDEX_FILE)
    if not index_raw:
        return Prompts(raw, {}, prompts.loaded, root=root), None
    index = json.loads(index_raw)
    return Prompts(raw, index["prompts"], prompts.loaded, root=root), bytes.fromhex(
        index["yaml_sha256"]
    )


def render(prompts: Prompts) -> tuple[bytes, dict[str, bytes | None]]:
    """The registry file's bytes and the cache files to write (None: delete a stale shard)."""
    parts: list[bytes] = [HEADER.encode()]
    if not len(prompts):
        return HEADER.encode() + _EMPTY, {}
    parts.append(_PREAMBLE)
    offset = sum(len(p) for p in parts)
    index: dict[str, dict[str, Any]] = {}
    files: dict[str, bytes | None] = {}
    for name in sorted(prompts):
        meta = prompts._index[name]
        if name in prompts._dirty:
            entry = prompts[name]
            block = render_block(name, entry)
            shard = f"{name}.{hashlib.sha256(block).hexdigest()[:16]}.json"
            old = prompts._base.get(name, {}).get("shard")
            if old and old != shard:
                files[f"{CACHE_DIR}/{old}"] = None
            data = entry.model_dump_json().encode()
            files[f"{CACHE_DIR}/{shard}"] = data
            meta = {"shard": shard, "mac": mac(b"registry-shard", data), "summary": summary(entry)}
        else:
            block = prompts._raw[meta["start"] : meta["end"]]
        parts.append(block)
        index[name] = {
            "start": offset,
            "end": offset + len(block),
            "shard": meta["shard"],
            "mac": meta.get("mac"),
            "summary": meta["summary"],
        }
        offset += len(block)
    raw = b"".join(parts)
    key = hashlib.sha256(raw).hexdigest()
    files[INDEX_FILE] = json.dumps(
        {
            "yaml_sha256": key,
            "prompts": index,
            "mac": mac(_INDEX_DOMAIN, _index_payload(key, index)),
        }
    ).encode()
    return raw, files


def _index_payload(key: str, prompts: dict[str, Any]) -> bytes:
    return json.dumps({"yaml_sha256": key, "prompts": prompts}, sort_keys=True).encode()
