"""The rollback ledger's writes: each step's record, checked under the lock and saved; the
undo; the pending git publication; and what a failed write of a step means.

:mod:`.rollback` reads as the flow; the staging it shares between its steps lives here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..errors import Conflict, InputError, PromptGovError
from ..gate import GateReport
from ..lifecycle import release
from ..model import (
    Environment,
    MoveKind,
    PointerMove,
    PromptCard,
    PromptContent,
    Publication,
    RollbackRecord,
    RollbackStatus,
    utcnow,
)
from ..registry import Registry
from ..store import Edit
from . import _publish
from ._working_copy import write_working_copy
from .promote import move_pointer


def stage_publication(
    e: Edit, registry: Registry, record: RollbackRecord, move: PointerMove | None, seq: int
) -> None:
    """Record the git publication of the settled rollback as pending, in ``e``."""
    assert e.name is not None
    undone = record.status is RollbackStatus.UNDONE
    pub = Publication(
        action="rollback-undo" if undone else "rollback",
        prompt=e.name,
        env=record.env,
        from_version=record.new_version if undone else record.rollback_of,
        to_version=record.rollback_of if undone else record.new_version,
        reason=move.reason if move is not None else record.reason,
        authorized_by=move.by if move is not None else record.authorized_by,
        audit_seq=seq,
        rollback_id=record.id,
        recorded_at=utcnow(),
    )
    _publish.stage(e, registry.repo, pub)


@contextmanager
def step(
    name: str, env: str, what: str, *, serving: str, first: str | None = None
) -> Iterator[None]:
    """Name the step a failed write belongs to, and say whether it stands.

    The store says whether its journal was written; with that, the message tells the
    truth about what is committed (issue: disk full mid-rollback said "Nothing was
    changed" while the restore was already serving). ``first`` names the command to run
    again when the step is the first write (nothing to resume).
    """
    try:
        yield
    except PromptGovError as exc:
        committed = exc.context.get("committed")
        if committed is None:
            raise
        cause = exc.__cause__
        detail = (cause.strerror if isinstance(cause, OSError) else None) or exc.message
        head = f"rollback of {name} in {env}: {what}"
        if committed:
            message = (
                f"{head} is committed but not fully written ({detail}). "
                "Free space, then resume the rollback to finish it."
            )
            hint: str | None = "Run 'promptgov rollback --resume'."
        elif first:
            message = (
                f"{head} could not be written ({detail}); nothing was changed and {env} still "
                f"serves {serving}. Free space, then run {first} again."
            )
            hint = None
        else:
            message = (
                f"{head} could not be written ({detail}); none of it was written and {env} "
                f"serves {serving}. Free space, then resume the rollback."
            )
            hint = "Run 'promptgov rollback --resume'."
        raise InputError(message, cli_hint=hint, prompt=name, env=env, committed=committed) from exc


def check_ledger(e: Edit, record: RollbackRecord) -> None:
    """Refuse a step whose ledger record moved on since it was read (undone, resumed)."""
    now = next((r for r in e.entry.rollbacks if r.id == record.id), None)
    if now is None or now.status is not record.status:
        found = now.status.value if now is not None else "gone"
        raise Conflict(
            f"the rollback of {e.name} in {record.env} was settled meanwhile (it is {found}); "
            "this step wrote nothing; its history shows what happened.",
            cli_hint=f"See 'promptgov history {e.name}'.",
            prompt=e.name,
            env=record.env,
        )


def save_record(e: Edit, record: RollbackRecord, **update: Any) -> RollbackRecord:
    """Stage the ledger record ``record`` with ``update`` applied."""
    new = record.model_copy(update=update)
    rollbacks = [new if r.id == record.id else r for r in e.entry.rollbacks]
    e.entry = e.entry.model_copy(update={"rollbacks": rollbacks})
    return new


def stage_undo(
    registry: Registry,
    e: Edit,
    record: RollbackRecord,
    *,
    by: str,
    reason: str,
    report: GateReport | None,
) -> tuple[RollbackRecord, str | None]:
    """Stage the undo: pointer back, quarantine lifted, working copy restored (unsaved edits
    kept beside it), ledger settled, git publication pending. ``report`` is the failed
    re-run gate; None for an undo ``by`` asked for. Returns the settled record and where
    unsaved edits were kept."""
    repo, name = registry.repo, e.name
    assert name is not None
    now = utcnow()
    bad = e.record(record.rollback_of)
    content, card = repo.get_content(bad.sha256), repo.get_card(bad.card_sha256)
    kept = restore_working_copy(e, content, card, what="undo", now=now)
    entry = e.entry
    state = entry.environments.get(record.env, Environment())
    error = "re-run gate failed" if report is not None else f"undone by {by}: {reason}"
    seq = e.audit(
        action="rollback-undo",
        actor=by,
        prompt=name,
        env=record.env,
        from_version=record.new_version,
        to_version=record.rollback_of,
        reason=reason,
        gate_verdict=report.verdict.value if report is not None else None,
        eval_run_id=record.eval_run_id,
        outcome="failure" if report is not None else "success",
        error=error if report is not None else None,
        details={
            "rollback_id": record.id,
            "undone_at": record.status.value,
            **({"working_copy_kept_in": kept} if kept else {}),
        },
    )
    move = None
    if state.current == record.new_version:
        move = PointerMove(
            seq=len(state.history) + 1,
            version=record.rollback_of,
            previous=record.new_version,
            kind=MoveKind.UNDO,
            at=now,
            by=by,
            reason=(
                "rollback undone: restored version failed its gate"
                if report is not None
                else f"rollback undone: {reason}"
            ),
            audit_seq=seq,
        )
        entry = move_pointer(entry, record.env, move)
    versions = []
    for r in entry.versions:
        if (
            r.version == record.rollback_of
            and r.quarantine is not None
            and r.quarantine.source == "rollback"
        ):
            status = release(r.status, serving=True, version=r.version)
            r = r.model_copy(update={"quarantine": None, "status": status})
        versions.append(r)
    e.entry = entry.model_copy(update={"versions": versions})
    new = save_record(e, record, status=RollbackStatus.UNDONE, error=error, audit_seq=seq)
    stage_publication(e, registry, new, move, seq)
    return new, kept


def restore_working_copy(
    e: Edit, content: PromptContent, card: PromptCard, *, what: str, now: datetime
) -> str | None:
    """Put ``content`` into ``prompts/<name>/prompt.yml``, keeping the file's comments, and
    any unsaved edits beside it; returns where they were kept (None: nothing to keep)."""
    assert e.name is not None
    return write_working_copy(e.txn, e.entry, e.name, content, card, what=what, now=now)
