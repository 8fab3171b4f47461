"""The governed repository: its config, its store, and the audit log wired into each write.

:class:`Repo` is what actions and queries hold. Reads go to :attr:`Repo.store` (which
re-checks hashes); every write is one :meth:`Repo.edit` unit of work whose audit entry
is committed with the state it describes.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path

from .audit._sink import ChainSink
from .errors import IntegrityError, NotFound, UnsafePath
from .model import (
    ChangeLogEntry,
    ProjectConfig,
    PromptCard,
    PromptContent,
    check_name,
    validate_model,
)
from .store import Edit, Store
from .store.files import load_yaml, safe_join
from .store.paths import AUDIT_FILE, CONFIG_FILE, PROMPTS_DIR, REGISTRY_FILE
from .store.registry_file import Prompts


def find_root(start: Path | None = None) -> Path:
    """The governed repository containing ``start`` (default: the current directory).

    Raises:
        NotFound: no ``promptgov.yml`` in ``start`` or any parent.
    """
    here = (start or Path.cwd()).resolve()
    if start is not None:
        if not here.exists():
            raise NotFound(
                f"repository directory {start} does not exist.", cli_hint="Check --repo."
            )
        if (here / CONFIG_FILE).is_file():
            return here
        held = [rel for rel in (AUDIT_FILE, REGISTRY_FILE) if (here / rel).exists()]
        if held:
            # Advising `init` here would start a new record over the old one.
            raise IntegrityError(
                f"{CONFIG_FILE} is missing from {start}, which holds {' and '.join(held)}; "
                "restore it from git.",
                path=CONFIG_FILE,
            )
        raise NotFound(
            f"{start} is not a governed repository (no {CONFIG_FILE}).",
            cli_hint=f"Run 'promptgov init {start}' first.",
        )
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise NotFound(
        f"no governed repository here ({here}) or above.",
        cli_hint="Run 'promptgov init' or pass --repo DIR.",
    )


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True


class Repo:
    """A governed repository rooted at ``root``."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = find_root(Path(root) if root is not None else None)
        self.store = Store(self.root, ChainSink(self.root))
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
        data = load_yaml(self.root / CONFIG_FILE, CONFIG_FILE) or {}
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

    # ------------------------------------------------------------------ the unit of work

    def edit(
        self, name: str | None = None, *, create: bool = False
    ) -> AbstractContextManager[Edit]:
        """The store's unit of work (see :meth:`promptgov.store.Store.edit`)."""
        return self.store.edit(name, create=create)

    # ------------------------------------------------------------------ reads

    def registry(self) -> Prompts:
        """Every prompt's registry entry (lazily loaded)."""
        return self.store.registry()

    def get_content(self, sha: str) -> PromptContent:
        """Content ``sha`` from the object store, re-checking its hash."""
        return self.store.objects.get_content(sha)

    def get_card(self, sha: str) -> PromptCard:
        """Card ``sha`` from the object store, re-checking its hash."""
        return self.store.objects.get_card(sha)

    def changelog(self) -> list[ChangeLogEntry]:
        """Every change-log entry, oldest first."""
        return self.store.changelog()

    # ------------------------------------------------------------------ prompt sources

    def prompt_dir(self, name: str) -> Path:
        """``prompts/<name>``, refusing names that are not safe."""
        try:
            check_name(name)
        except ValueError as exc:
            raise UnsafePath(f"{exc}.") from None
        return self.path(f"{PROMPTS_DIR}/{name}")

    def files_under(self, prefixes: tuple[str, ...]) -> list[str]:
        """Files below each directory prefix (``"logs/evals/"``), sorted; links not followed."""
        out: list[str] = []
        for prefix in prefixes:
            top = self.root / prefix
            if top.is_symlink() or not top.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(top):
                base = Path(dirpath).relative_to(self.root).as_posix()
                out += [f"{base}/{f}" for f in files if not f.startswith(".")]
        return sorted(out)

    def source_names(self) -> list[str]:
        """Prompts with a working copy under ``prompts/`` (directories whose name is not a
        valid prompt name are left out; see :meth:`bad_source_dirs`)."""
        return [n for n in self._source_dirs() if _valid_name(n)]

    def bad_source_dirs(self) -> list[str]:
        """Directories under ``prompts/`` with a ``prompt.yml`` but an invalid name."""
        return [f"{PROMPTS_DIR}/{n}" for n in self._source_dirs() if not _valid_name(n)]

    def _source_dirs(self) -> list[str]:
        base = self.root / PROMPTS_DIR
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "prompt.yml").is_file())


__all__ = ["Edit", "Repo", "find_root"]
