"""Regenerating derived files: JSON Schemas and the generated docs."""

from __future__ import annotations

from . import _yaml, docs_gen, schemas
from ._fs import read_bytes
from .repo import Repo


def _write_changed(repo: Repo, files: dict[str, bytes], what: str) -> list[str]:
    changed = {rel: data for rel, data in files.items() if read_bytes(repo.root / rel) != data}
    if changed:
        with repo.transaction() as txn:
            for rel, data in changed.items():
                txn.write(rel, data)
            repo.audit(
                txn, action="regenerate", actor="promptgov", reason=f"{what}: {', '.join(changed)}"
            )
    return sorted(changed)


def regenerate_schemas(repo: Repo) -> list[str]:
    """Rewrite ``schemas/*.schema.json`` that differ from the models; returns their paths."""
    return _write_changed(repo, schemas.generate(), "schemas")


def regenerate_docs(repo: Repo) -> list[str]:
    """Rewrite generated docs that differ from the state machine and config."""
    gate = _yaml.load_file(repo.root / repo.config.gate_file, repo.config.gate_file)
    return _write_changed(repo, docs_gen.generate(repo.config, gate), "docs")
