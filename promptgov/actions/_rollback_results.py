"""What a rollback did, or on a dry run would do: the plan, and the specification's checklist;
and what ``rollback --resume`` finished."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..docs_gen import CHECKLIST
from ..gate import GateReport
from ..model import GateVerdict, RollbackRecord, RollbackStatus
from ._publish import Published


@dataclass(frozen=True)
class Candidate:
    """A version considered as last known good, and why it was or was not taken."""

    version: str
    eligible: bool
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback will do: from which version, to which, and the candidates skipped."""

    prompt: str
    env: str
    current: str
    target: str
    new_version: str
    candidates: list[Candidate]
    forced: bool = False
    #: ``new_version`` already holds the target's content: the pointer moves to it again.
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True)
class ChecklistLine:
    """One line of the specification's rollback checklist, with its true status."""

    task: str
    reference: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class RollbackResult:
    """Everything a rollback did (or, on a dry run, would do)."""

    plan: RollbackPlan
    dry_run: bool = False
    record: RollbackRecord | None = None
    gate: GateReport | None = None
    already_done: bool = False
    warnings: list[str] = field(default_factory=list)
    #: On a dry run: the ledger record the rollback would have written first.
    would_record: RollbackRecord | None = None
    #: The commit on the checked-out branch that published it (None: none made, or no git).
    git_commit: str | None = None
    #: The git publications this call finished (its own, and any left pending before it).
    published: list[Published] = field(default_factory=list)
    #: Where the author's unsaved working copy was kept when the restore replaced it.
    kept_edits: str | None = None

    @property
    def checklist(self) -> list[ChecklistLine]:
        """The specification's checklist, each line's status read from the ledger."""
        r = self.record
        done = r is not None and not self.dry_run
        logged = (
            r is not None and done and r.status in (RollbackStatus.LOGGED, RollbackStatus.COMPLETED)
        )
        notes = r.notifications if r else []
        notified = bool(notes) and all(n.get("ok") for n in notes)
        evals = (
            "skipped (--skip-evals, emergency)"
            if r and r.skip_evals
            else (f"run {r.eval_run_id}" if r and r.eval_run_id else "not run")
        )
        verdict = r.gate_verdict.value if r and r.gate_verdict else "none"
        facts = [
            (True, f"{self.plan.target} (restored as {self.plan.new_version})"),
            (bool(done and r is not None and r.eval_run_id), evals),
            (
                bool(done and r is not None and r.gate_verdict is GateVerdict.PASS),
                f"gate verdict {verdict}",
            ),
            (logged, f"audit entry #{r.audit_seq}" if logged and r is not None else "pending"),
            (logged, "entry appended" if logged else "pending"),
            (notified, _notified_detail(notes)),
        ]
        return [
            ChecklistLine(task, ref, ok, detail)
            for (task, ref), (ok, detail) in zip(CHECKLIST, facts, strict=True)
        ]

    @property
    def ok(self) -> bool:
        """True only when every checklist line holds."""
        return not self.dry_run and all(line.ok for line in self.checklist)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dry_run": self.dry_run,
            "already_done": self.already_done,
            "plan": self.plan.to_dict(),
            "record": self.record.model_dump(mode="json") if self.record else None,
            "would_record": (
                self.would_record.model_dump(mode="json") if self.would_record else None
            ),
            "gate": self.gate.to_dict() if self.gate else None,
            "checklist": [c.to_dict() for c in self.checklist] if not self.dry_run else [],
            "ok": self.ok,
            "warnings": self.warnings,
            "git_commit": self.git_commit,
            "kept_edits": self.kept_edits,
        }


@dataclass
class ResumeResult:
    """What ``rollback --resume`` finished: interrupted rollbacks, and git publications of
    moves whose git step was cut short."""

    rollbacks: list[RollbackResult] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every rollback's checklist holds and every publication is in git."""
        return all(r.ok for r in self.rollbacks) and all(p.done for p in self.published)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "rollbacks": [r.to_dict() for r in self.rollbacks],
            "published": [p.to_dict() for p in self.published],
        }


def _notified_detail(notes: list[dict[str, Any]]) -> str:
    if not notes:
        return "no notification targets configured in promptgov.yml"
    failed = [n for n in notes if not n.get("ok")]
    if not failed:
        return f"{len(notes)} target(s) notified"
    return f"{len(failed)} of {len(notes)} target(s) failed (queued for 'promptgov notify retry')"
