"""Recorded complaints: the ``logs/complaints/<name>.jsonl`` file format and its reader.

Written by ``promptgov report`` (:mod:`promptgov.actions.feedback`), read by the
``complaints`` trigger; it lives here so that triggers never import an action.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidFile
from ..model import Signed
from ..registry import Registry, parse_ref
from ..store.files import read_bytes
from .policy import Severity

__all__ = ["COMPLAINTS_DIR", "Complaint", "complaints", "complaints_path"]

COMPLAINTS_DIR = "logs/complaints"


class Complaint(BaseModel):
    """One recorded complaint: about which served content, by whom, how bad, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(description="Unique id, e.g. c-20260301T120000Z-1a2b3c.")
    prompt: str
    env: str = Field(description="Environment whose output was complained about.")
    version: str = Field(description="Version serving in env when the complaint was made.")
    sha256: str = Field(description="Content hash of that version.")
    at: datetime
    by: str = Field(description="Who reported it (a user, a support agent, a stakeholder).")
    severity: Severity
    text: str
    evidence: list[str] = Field(
        default_factory=list, description="Links or files: transcripts, tickets."
    )
    audit_seq: int | None = None
    signed: Signed = None


def complaints_path(name: str) -> str:
    """Repository-relative path of ``name``'s complaints file."""
    return f"{COMPLAINTS_DIR}/{name}.jsonl"


def complaints(
    registry: Registry,
    name: str,
    *,
    env: str | None = None,
    sha256: str | None = None,
    since: datetime | None = None,
) -> list[Complaint]:
    """Recorded complaints about ``name``, oldest first, optionally filtered.

    Raises:
        InvalidFile: a line of the complaints file is not a complaint (named by line).
    """
    rel = complaints_path(name)
    parse_ref(name)
    raw = read_bytes(registry.repo.path(rel))
    out: list[Complaint] = []
    for i, line in enumerate((raw or b"").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            c = Complaint.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise InvalidFile(
                f"{rel} line {i}: {first['msg']}. Restore the file from git; only recorded "
                "complaints write it.",
                cli_hint="It is written only by 'promptgov report'.",
            ) from None
        if env is not None and c.env != env:
            continue
        if sha256 is not None and c.sha256 != sha256:
            continue
        if since is not None and c.at < since:
            continue
        out.append(c)
    return out
