"""The add action: register a working copy as a new immutable ``candidate`` version."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Conflict, InputError
from ..model import (
    SEMVER_RE,
    LifecycleState,
    PromptContent,
    PromptEntry,
    PromptSource,
    VersionRecord,
    identity,
    utcnow,
)
from ..registry import Bump, Registry, next_version, parse_ref
from ..render import check_variables
from ..store import Edit
from ._last_known_good import is_rollback_name
from ._text import FreeText


@dataclass(frozen=True)
class AddOptions(FreeText):
    """How to register a version."""

    _free_text = ("message",)

    message: str
    """Why this version exists (the change log's summary)."""
    bump: Bump = "patch"
    """Which part of the highest existing version to raise when ``version`` is not given."""
    version: str | None = None
    """An explicit semantic version."""
    source: PromptSource | None = None
    """Register this content instead of ``prompts/<name>/prompt.yml`` (programmatic use)."""


def add(registry: Registry, name: str, options: AddOptions, *, by: str) -> VersionRecord:
    """Register ``name``'s working copy (or ``options.source``) as a new version by ``by``.

    Content and card go into the object store; the registry, change log and audit log
    are written in one unit of work.

    Raises:
        Conflict: identical content is already registered, or the version exists.
        InvalidFile: the working copy is malformed or its variables do not match.
    """
    by = identity(by)
    src = _source(registry, name, options, by)
    with registry.repo.edit(name, create=True) as e:
        return stage_add(e, name, src, options, by=by)


def stage_add(
    e: Edit, name: str, src: PromptSource, options: AddOptions, *, by: str
) -> VersionRecord:
    """Stage ``src`` as ``name``'s next version in the unit of work ``e``, with its audit
    and change-log entries, so several prompts can be registered in one commit (import).

    ``name`` is the unit's own prompt, or a prompt not registered yet.

    Raises:
        Conflict: identical content is already registered, the version exists, or
            ``name`` is another registered prompt.
    """
    if name == e.name:
        entry = e.entry
    elif name in e.registry:
        raise Conflict(f"{name} is already registered; add its versions one at a time.")
    else:
        entry = PromptEntry()
    content = src.content()
    _refuse_duplicate(name, entry, content)
    record = VersionRecord(
        version=_version(name, entry, options),
        sha256=e.put_content(content),
        card_sha256=e.put_card(src.card),
        parent=entry.versions[-1].version if entry.versions else None,
        author=by,
        created_at=utcnow(),
        message=options.message,
        status=LifecycleState.CANDIDATE,
    )
    e.stage_entry(name, entry.model_copy(update={"versions": [*entry.versions, record]}))
    seq = e.audit(
        action="add",
        actor=by,
        prompt=name,
        to_version=record.version,
        to_sha256=record.sha256,
        reason=options.message,
    )
    e.changelog(
        time=record.created_at,
        action="add",
        prompt=name,
        version=record.version,
        summary=options.message,
        author=by,
        audit_seq=seq,
    )
    return record


def _source(registry: Registry, name: str, options: AddOptions, by: str) -> PromptSource:
    """The content to register, its variables checked."""
    if not options.message.strip() or not by.strip():
        raise InputError(
            "a version needs a message and an author.", cli_hint="Pass --message and --author."
        )
    if options.version is not None and not SEMVER_RE.match(options.version):
        raise InputError(f"invalid semantic version {options.version!r}; use X.Y.Z.")
    if options.version is not None and is_rollback_name(options.version):
        raise InputError(
            f"{options.version!r} is a rollback version's name (+rollback is reserved for "
            "the versions rollbacks record); choose a version without it."
        )
    if options.source is None:
        return registry.source(name)
    parse_ref(name)
    check_variables(options.source.content(), f"{name} (given source)")
    return options.source


def _refuse_duplicate(name: str, entry: PromptEntry, content: PromptContent) -> None:
    """Identical content is one version, never two."""
    sha = content.sha256
    same = next((r for r in entry.versions if r.sha256 == sha), None)
    if same is not None:
        raise Conflict(
            f"{name}@{same.version} already has this exact content (sha256 {sha[:12]}…); "
            "edit the prompt before adding a new version.",
            version=same.version,
        )


def _version(name: str, entry: PromptEntry, options: AddOptions) -> str:
    """The new version's number: explicit and unused, or the next ``bump``."""
    existing = [r.version for r in entry.versions]
    if options.version is None:
        return next_version(existing, options.bump)
    if options.version in existing:
        raise Conflict(
            f"{name}@{options.version} already exists; choose another version.",
            cli_hint="Pass another --version.",
        )
    return options.version
