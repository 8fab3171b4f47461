"""The governed repository on disk: its layout, config, object store and registry files.

:class:`Repo` is the storage layer every governance action builds on. Reads re-check
hashes; writes happen only inside :meth:`Repo.transaction`, which holds the repository
lock and commits all files of one action atomically (see :mod:`promptgov._fs`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import _yaml, registry_file
from ._fs import (
    STATE_DIR,
    Transaction,
    atomic_write_in,
    journal_pending,
    read_bytes,
    repo_lock,
    safe_join,
)
from .errors import InputError, IntegrityError, InvalidFile, NotFound
from .hashing import CARD_DOMAIN, CONTENT_DOMAIN, digest
from .model import (
    ChangeLogEntry,
    ProjectConfig,
    PromptCard,
    PromptContent,
    VersionRegistry,
    check_name,
)

CONFIG_FILE = "promptgov.yml"
REGISTRY_FILE = "schemas/prompt-version-schema.yml"
CHANGELOG_FILE = "schemas/prompt-change-log.yml"
AUDIT_FILE = "audit/artifact-audit-log.md"
EVAL_CONFIG_FILE = "evals/eval-config.promptfoo.yml"
GATE_FILE = "ci/eval-gate.yml"
PROMPTS_DIR = "prompts"
LOGS_DIR = "logs"
OBJECTS_DIR = f"{STATE_DIR}/objects"

CHANGELOG_HEADER = (
    "# promptgov change log: one entry per registered version, promotion and rollback.\n"
    "# Append-only; written by promptgov.\n"
)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def find_root(start: Path | None = None) -> Path:
    """The governed repository containing ``start`` (default: the current directory).

    Raises:
        NotFound: no ``promptgov.yml`` in ``start`` or any parent.
    """
    here = (start or Path.cwd()).resolve()
    if start is not None:
        if not here.exists():
            raise NotFound(f"repository directory {start} does not exist; check --repo.")
        if (here / CONFIG_FILE).is_file():
            return here
        raise NotFound(
            f"{start} is not a governed repository (no {CONFIG_FILE}); "
            f"run 'promptgov init {start}' first."
        )
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise NotFound(
        f"no governed repository here ({here}) or above; run 'promptgov init' or pass --repo DIR."
    )


def validate_model(model: type[BaseModel], data: Any, label: str) -> Any:
    """Validate ``data`` against ``model``; errors become one readable :class:`InvalidFile`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidFile(
            f"{label}: {loc}: {first['msg']}{more}. Fix the file to match its schema and retry."
        ) from exc


class Repo:
    """A governed repository rooted at ``root``."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = find_root(Path(root) if root is not None else None)
        self._registry: VersionRegistry | None = None
        #: The bytes ``_registry`` was read from or staged as (compared by identity).
        self._registry_raw: bytes | None = None
        #: (inode, size, mtime) of the registry file when ``_registry`` was read from it.
        self._registry_sig: tuple[int, int, int] | None = None
        #: sha256 of those bytes.
        self._registry_key: bytes | None = None
        _ = self.config  # a malformed promptgov.yml is reported before anything else runs

    def __repr__(self) -> str:
        return f"Repo(root={str(self.root)!r})"

    # ------------------------------------------------------------------ paths & config

    def path(self, rel: str) -> Path:
        """An absolute path inside the repository (refuses escapes)."""
        return safe_join(self.root, rel)

    def rel(self, path: Path) -> str:
        """``path`` relative to the repository root, POSIX style."""
        return path.resolve().relative_to(self.root.resolve()).as_posix()

    @cached_property
    def config(self) -> ProjectConfig:
        """``promptgov.yml``, validated."""
        data = _yaml.load_file(self.root / CONFIG_FILE, CONFIG_FILE) or {}
        cfg: ProjectConfig = validate_model(ProjectConfig, data, CONFIG_FILE)
        return cfg

    def check_env(self, env: str) -> str:
        """Return ``env`` if configured, else raise NotFound listing the environments."""
        if env not in self.config.env_names:
            raise NotFound(
                f"unknown environment {env!r}; configured: {', '.join(self.config.env_names)} "
                f"(see {CONFIG_FILE})."
            )
        return env

    # ------------------------------------------------------------------ writes

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the lock and yield a transaction committed when the block exits cleanly.

        The in-memory registry is re-read under the lock so compare-and-swap checks see
        the latest state; it is dropped if the block raises.
        """
        with repo_lock(self.root):
            txn = Transaction(self.root)
            try:
                yield txn
            except BaseException:
                self._forget_registry()
                raise
            saved = txn.staged(REGISTRY_FILE)
            txn.commit()
            if saved:  # the file now holds exactly the registry in memory
                self._registry_sig = _signature(self.root / REGISTRY_FILE)

    # ------------------------------------------------------------------ object store

    def _object_path(self, sha: str, kind: str) -> str:
        return f"{OBJECTS_DIR}/{sha[:2]}/{sha[2:]}.{kind}.json"

    def put_content(self, txn: Transaction, content: PromptContent) -> str:
        """Stage ``content`` into the object store; returns its hash."""
        sha = content.sha256
        rel = self._object_path(sha, "content")
        if txn.read(rel) is None:
            txn.write(rel, content.canonical())
        return sha

    def put_card(self, txn: Transaction, card: PromptCard) -> str:
        """Stage ``card`` into the object store; returns its hash."""
        sha = card.sha256
        rel = self._object_path(sha, "card")
        if txn.read(rel) is None:
            txn.write(rel, card.canonical())
        return sha

    def _get_object(self, sha: str, kind: str, domain: bytes) -> Any:
        rel = self._object_path(sha, kind)
        data = read_bytes(self.root / rel)
        if data is None:
            raise IntegrityError(
                f"{kind} object {sha[:12]}… is missing from {OBJECTS_DIR}; restore it from git "
                "or a backup ('promptgov verify' lists every problem).",
                sha256=sha,
            )
        actual = digest(domain, data)
        if actual != sha:
            raise IntegrityError(
                f"{rel} has been altered: its bytes hash to {actual[:12]}…, not {sha[:12]}…; "
                "it will not be served. Restore it from git or a backup.",
                sha256=sha,
            )
        return json.loads(data)

    def get_content(self, sha: str) -> PromptContent:
        """Read content ``sha`` from the object store, re-checking its hash."""
        data = self._get_object(sha, "content", CONTENT_DOMAIN)
        content: PromptContent = validate_model(PromptContent, data, f"object {sha[:12]}")
        return content

    def get_card(self, sha: str) -> PromptCard:
        """Read card ``sha`` from the object store, re-checking its hash."""
        data = self._get_object(sha, "card", CARD_DOMAIN)
        card: PromptCard = validate_model(PromptCard, data, f"card object {sha[:12]}")
        return card

    def iter_objects(self) -> Iterator[tuple[str, str, Path]]:
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

    # ------------------------------------------------------------------ registry file

    def registry(self, txn: Transaction | None = None) -> VersionRegistry:
        """The version registry; prompts are validated lazily, one at a time (see
        :mod:`promptgov.registry_file`). Inside ``txn`` it reflects the staged state."""
        key: bytes | None = None
        if txn is not None and txn.staged(REGISTRY_FILE):
            raw = txn.read(REGISTRY_FILE)
            if self._registry is not None and raw is self._registry_raw:
                return self._registry
        elif txn is not None:
            # Under the lock, compare-and-swap decisions are taken: trust content, not stat.
            raw = read_bytes(self.root / REGISTRY_FILE)
            key = hashlib.sha256(raw or b"").digest()
            if self._registry is not None and key == self._registry_key:
                return self._registry
        else:
            # Stat before reading: a file replaced in between only causes a reload later.
            sig = _signature(self.root / REGISTRY_FILE)
            if self._registry is not None and sig is not None and sig == self._registry_sig:
                return self._registry
            raw = read_bytes(self.root / REGISTRY_FILE)
            self._registry_sig = sig
        if raw is None:
            raise InvalidFile(
                f"{REGISTRY_FILE} is missing; restore it from git, or run 'promptgov init'."
            )
        key = key or hashlib.sha256(raw).digest()
        reg, cache_files = registry_file.load(self.root, raw, REGISTRY_FILE, key.hex())
        if cache_files and txn is None and not journal_pending(self.root):
            for rel, data in cache_files.items():
                if data is not None:
                    try:
                        atomic_write_in(self.root, rel, data)
                    except InputError:
                        break  # the cache is an optimisation only
        self._registry, self._registry_raw, self._registry_key = reg, raw, key
        return reg

    def save_registry(self, txn: Transaction, reg: VersionRegistry) -> None:
        """Stage the registry file and its cache (only changed prompts are re-rendered)."""
        prompts = registry_file.as_prompts(reg.prompts, self.root)
        raw, files = registry_file.render(prompts)
        txn.write(REGISTRY_FILE, raw)
        for rel, data in files.items():
            if data is None:
                txn.delete(rel)
            else:
                txn.write(rel, data)
        index_raw = files.get(registry_file.INDEX_FILE)
        index = json.loads(index_raw)["prompts"] if index_raw else {}
        self._registry = registry_file.registry_of(
            registry_file.Prompts(raw, index, prompts.loaded, root=self.root)
        )
        self._registry_raw, self._registry_sig = raw, None
        self._registry_key = (
            bytes.fromhex(json.loads(index_raw)["yaml_sha256"]) if index_raw else None
        )

    def _forget_registry(self) -> None:
        self._registry, self._registry_raw, self._registry_sig = None, None, None
        self._registry_key = None

    # ------------------------------------------------------------------ change log

    def changelog(self) -> list[ChangeLogEntry]:
        """Every change-log entry, oldest first."""
        raw = read_bytes(self.root / CHANGELOG_FILE)
        if raw is None:
            return []
        data = _yaml.loads(raw, CHANGELOG_FILE) or []
        if not isinstance(data, list):
            raise InvalidFile(f"{CHANGELOG_FILE}: expected a list of entries. Restore it from git.")
        return [
            validate_model(ChangeLogEntry, d, f"{CHANGELOG_FILE} entry {i + 1}")
            for i, d in enumerate(data)
        ]

    def append_changelog(self, txn: Transaction, **fields: Any) -> ChangeLogEntry:
        """Stage one change-log entry (append-only; sequence numbers follow the file)."""
        raw = txn.read(CHANGELOG_FILE) or CHANGELOG_HEADER.encode()
        seq = raw.count(b"\n- seq: ") + (1 if raw.startswith(b"- seq: ") else 0) + 1
        entry = ChangeLogEntry(seq=seq, **fields)
        block = _yaml.dump_block([entry.model_dump(mode="json", exclude_none=True)])
        if not raw.endswith(b"\n"):
            raw += b"\n"
        txn.write(CHANGELOG_FILE, raw + block.encode("utf-8"))
        return entry

    # ------------------------------------------------------------------ audit log

    def audit(self, txn: Transaction, **fields: Any) -> int:
        """Stage a complete audit entry in ``txn``; returns its sequence number.

        Every state-changing action calls this inside its transaction, so the action and
        its audit entry are committed together or not at all.
        """
        from .audit import AuditLog

        fields.setdefault("outcome", "success")
        entry = AuditLog(self.root).stage(txn, **fields)
        return int(entry.seq)

    # ------------------------------------------------------------------ prompt sources

    def prompt_dir(self, name: str) -> Path:
        """``prompts/<name>``, refusing names that are not safe."""
        try:
            check_name(name)
        except ValueError as exc:
            from .errors import UnsafePath

            raise UnsafePath(f"{exc}.") from None
        return self.path(f"{PROMPTS_DIR}/{name}")

    def source_names(self) -> list[str]:
        """Prompts with a working copy under ``prompts/``."""
        base = self.root / PROMPTS_DIR
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "prompt.yml").is_file())

    def write_json(self, txn: Transaction, rel: str, data: Any) -> None:
        """Stage a JSON file (pretty, UTF-8)."""
        txn.write(
            rel, (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode()
        )


__all__ = ["Repo", "find_root", "validate_model"]
