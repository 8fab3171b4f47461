"""The regenerate action: rewrite derived files (JSON Schemas, generated docs) that drifted."""

from __future__ import annotations

from .. import ci_gen, docs_gen, schemas
from ..repo import Repo
from ..store.files import load_yaml, read_bytes


def _write_changed(repo: Repo, files: dict[str, bytes], what: str) -> list[str]:
    changed = {rel: data for rel, data in files.items() if read_bytes(repo.root / rel) != data}
    if changed:
        with repo.edit() as e:
            for rel, data in changed.items():
                e.write(rel, data)
            e.audit(action="regenerate", actor="promptgov", reason=f"{what}: {', '.join(changed)}")
    return sorted(changed)


def regenerate_schemas(repo: Repo) -> list[str]:
    """Rewrite ``schemas/*.schema.json`` that differ from the models; returns their paths."""
    return _write_changed(repo, schemas.generate(), "schemas")


def regenerate_docs(repo: Repo) -> list[str]:
    """Rewrite generated docs that differ from the state machine and config.

    The CI files' install lines (``ci.install``) are rewritten too; the rest of them is the
    user's and left as it is.
    """
    gate = load_yaml(repo.root / repo.config.gate_file, repo.config.gate_file)
    return _write_changed(repo, {**docs_gen.generate(repo.config, gate), **_ci(repo)}, "docs")


def _ci(repo: Repo) -> dict[str, bytes]:
    """The CI files present, with their install lines following ``ci.install``."""
    out = {}
    for rel in ci_gen.FILES:
        data = read_bytes(repo.root / rel)
        text = data.decode("utf-8", "replace") if data is not None else None
        if text is not None and (new := ci_gen.refresh(text, repo.config)) != text:
            out[rel] = new.encode()
    return out
