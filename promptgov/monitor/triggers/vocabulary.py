"""What triggers talk about: the subject checked, the context, results and the report.

Shared by every trigger, by the check that runs them and by the CLI that prints them, so
that a trigger module depends on this vocabulary and never on another trigger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import stats
from ...errors import NotFound
from ...model import Environment, EvalRunRef, PromptEntry, VersionRecord
from ..policy import Action, TriggerPolicy, TriggersPolicy

if TYPE_CHECKING:
    from ...registry import Registry
    from ..embeddings import Embedder

__all__ = [
    "ActionTaken",
    "CheckContext",
    "Subject",
    "TriggerName",
    "TriggerReport",
    "TriggerResult",
    "TriggerStatus",
    "result",
]


class TriggerName(StrEnum):
    """The five rollback triggers of the specification, in the order they are checked.

    Each value is also the trigger's key in the ``triggers:`` policy and in ``state.json``.
    """

    EVAL_REGRESSION = "eval_regression"
    """The latest eval run of the serving version is worse than its baseline run."""
    DRIFT = "drift"
    """Production behaviour of the serving version changed since it was promoted."""
    FAILING_TESTS = "failing_tests"
    """A scheduled re-run of the eval suite on the serving version fails its gate."""
    COMPLAINTS = "complaints"
    """Users or stakeholders complained about the serving version."""
    AUDIT_FLAGS = "audit_flags"
    """An auditor flagged the serving version."""


class TriggerStatus(StrEnum):
    """The answer of one trigger."""

    FIRED = "fired"
    """The trigger's condition holds, with the evidence to show it."""
    NOT_FIRED = "not_fired"
    """Enough data, and the condition does not hold."""
    INSUFFICIENT_DATA = "insufficient_data"
    """The trigger cannot tell (too few samples, no run, no logs): never rolls back."""
    DISABLED = "disabled"
    """Turned off in ``promptgov.yml``."""


@dataclass(frozen=True)
class Subject:
    """The serving version under check: which content, since when, owned by whom."""

    name: str
    env: str
    entry: PromptEntry
    record: VersionRecord
    promoted_at: datetime
    owners: list[str]

    @classmethod
    def serving(cls, registry: Registry, name: str, env: str) -> Subject:
        """The version ``env`` serves and when it started serving it.

        Raises:
            NotFound: nothing is deployed to ``env``.
        """
        entry = registry.entry(name)
        state = entry.environments.get(env, Environment())
        if state.current is None:
            raise NotFound(
                f"{name} is not deployed to {env}; there is nothing to check.",
                cli_hint="Promote a version first, or pass --env.",
                prompt=name,
                env=env,
            )
        rec = registry.record(name, state.current)
        moves = [m for m in state.history if m.version == state.current]
        promoted_at = moves[-1].at if moves else rec.created_at
        owners = registry.repo.get_card(rec.card_sha256).all_owners
        return cls(name, env, entry, rec, promoted_at, owners)

    def eval_runs(self) -> list[EvalRunRef]:
        """Eval runs of the serving content, whichever version recorded them (same hash)."""
        return [
            run
            for r in self.entry.versions
            if r.sha256 == self.record.sha256
            for run in r.eval_runs
        ]


@dataclass(frozen=True)
class CheckContext:
    """What every trigger may read besides its subject: where, by which policy, as of when."""

    registry: Registry
    policies: TriggersPolicy
    #: The check time: the end of the recent drift window and of the complaint window.
    at: datetime
    #: Production log files (None: the JSON/JSONL files directly in ``logs/``).
    logs: tuple[str | Path, ...] | None = None
    #: Overrides the drift policy's recent window.
    window: str | timedelta | None = None
    embedder: Embedder | None = None


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict, the numbers behind it and the policy it was judged by."""

    trigger: TriggerName
    status: TriggerStatus
    #: One line for people: what was measured against what.
    summary: str
    measured: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    action: Action = Action.NOTIFY
    #: k: failing checks in a row before an automatic rollback.
    consecutive_failures: int = 1
    #: Identity of the evidence (eval run id, window end…): the same evidence seen twice
    #: counts once towards ``consecutive_failures``.
    observation: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: Evidence files written for this trigger (repository-relative).
    evidence: tuple[str, ...] = ()
    #: Failing checks in a row, this one included (set when the check is recorded).
    streak: int = 0
    #: Extra evidence files to write: name suffix → bytes.
    files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the file contents are left out; their paths are in ``evidence``)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "files"}
        out["evidence"] = list(self.evidence)
        return stats._clean(out)  # type: ignore[no-any-return]


def result(
    trigger: TriggerName,
    policy: TriggerPolicy,
    status: TriggerStatus,
    summary: str,
    *,
    measured: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    samples: dict[str, Any] | None = None,
    observation: str | None = None,
    details: dict[str, Any] | None = None,
    evidence: tuple[str, ...] = (),
    files: dict[str, bytes] | None = None,
) -> TriggerResult:
    """A result carrying the action and ``k`` of the policy that judged it."""
    return TriggerResult(
        trigger,
        status,
        summary,
        measured=measured or {},
        thresholds=thresholds or {},
        samples=samples or {},
        action=policy.action,
        consecutive_failures=policy.consecutive_failures,
        observation=observation,
        details=details or {},
        evidence=evidence,
        files=files or {},
    )


@dataclass(frozen=True)
class ActionTaken:
    """What a check did, or would do, about its fired triggers."""

    #: notify · rollback · waiting (k not reached) · due (k reached, auto-rollback off)
    kind: str
    triggers: tuple[str, ...]
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "triggers": list(self.triggers)}


@dataclass
class TriggerReport:
    """Every trigger for one prompt's serving version in one environment, and what followed."""

    prompt: str
    env: str
    version: str
    sha256: str
    checked_at: datetime
    results: list[TriggerResult]
    dry_run: bool = False
    #: The trigger report JSON written under ``logs/triggers/`` (None on a dry run).
    report: str | None = None
    audit_seq: int | None = None
    actions: list[ActionTaken] = field(default_factory=list)
    #: The version a rollback would restore, looked up when a trigger fired.
    last_known_good: str | None = None
    #: Why there is no last known good, when a trigger fired and none exists.
    no_last_known_good: str | None = None

    @property
    def status(self) -> TriggerStatus:
        """fired if any trigger fired; insufficient_data if none could tell; else not_fired."""
        statuses = {r.status for r in self.results}
        if TriggerStatus.FIRED in statuses:
            return TriggerStatus.FIRED
        if TriggerStatus.NOT_FIRED in statuses:
            return TriggerStatus.NOT_FIRED
        return TriggerStatus.INSUFFICIENT_DATA

    @property
    def fired(self) -> list[str]:
        """Names of the triggers that fired."""
        return [r.trigger.value for r in self.results if r.status is TriggerStatus.FIRED]

    @property
    def rolled_back(self) -> bool:
        """True when this check ran a rollback that completed."""
        return any(a.kind == "rollback" and a.ok for a in self.actions)

    @property
    def exit_code(self) -> int:
        """0 when nothing fired, 1 when a trigger fired (a check said no)."""
        return 1 if self.status is TriggerStatus.FIRED else 0

    def result(self, trigger: TriggerName | str) -> TriggerResult:
        """The result of ``trigger``."""
        for r in self.results:
            if r.trigger == trigger:
                return r
        raise KeyError(trigger)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; also the content of the report file."""
        return {
            "prompt": self.prompt,
            "env": self.env,
            "version": self.version,
            "sha256": self.sha256,
            "checked_at": self.checked_at.isoformat(),
            "status": self.status.value,
            "fired": self.fired,
            "dry_run": self.dry_run,
            "report": self.report,
            "audit_seq": self.audit_seq,
            "triggers": [r.to_dict() for r in self.results],
            "actions": [a.to_dict() for a in self.actions],
            "last_known_good": self.last_known_good,
            "no_last_known_good": self.no_last_known_good,
        }
