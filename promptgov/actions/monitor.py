"""The monitor action: run the rollback triggers for a serving version, record them, act.

:func:`check_triggers` reads as its steps: find what ``env`` serves; run the trigger table
(:data:`promptgov.monitor.triggers.TRIGGERS`); record the check (evidence files under
``logs/triggers/``, the consecutive-failure state and audit entries, in one unit of work);
notify the owners of newly fired triggers; and, when asked and the policy says
``rollback``, run the full rollback flow once ``consecutive_failures`` checks in a row have
fired. A check that cannot tell (``insufficient_data``) neither counts towards a rollback
nor resets the count, so missing data never rolls back by itself. :func:`monitor` repeats
the check for every deployed prompt and returns a :class:`MonitorRun` whose ``exit_code``
is the command's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, NotFound, PromptGovError
from ..model import utcnow
from ..monitor.policy import TriggersPolicy, parse_duration
from ..monitor.triggers import (
    ActionTaken,
    CheckContext,
    Subject,
    TriggerName,
    TriggerReport,
    TriggerResult,
    TriggerStatus,
    run_triggers,
)
from ..registry import Registry
from ..repo import Repo
from ._monitor_record import TRIGGERS_DIR, auto_rollback, notify_fired, record_check
from ._policy_files import require_policy_in_force

if TYPE_CHECKING:
    from ..evals import RunOptions
    from ..monitor.embeddings import Embedder
    from ..notify import NotifyPolicy

__all__ = [
    "DEFAULT_ENV",
    "TRIGGERS_DIR",
    "ActionTaken",
    "CheckOptions",
    "MonitorCycle",
    "MonitorItem",
    "MonitorOptions",
    "MonitorRun",
    "TriggerName",
    "TriggerReport",
    "TriggerResult",
    "TriggerStatus",
    "check_triggers",
    "deployed_prompts",
    "load_policy",
    "monitor",
    "monitor_once",
]

DEFAULT_ENV = "prod"


@dataclass(frozen=True)
class CheckOptions:
    """How one trigger check runs: where, on which evidence, as of when, and what it may do."""

    env: str = DEFAULT_ENV
    """The environment whose serving version is checked."""
    logs: tuple[str | Path, ...] | None = None
    """Production log files (default: the JSON/JSONL files directly in ``logs/``)."""
    window: str | timedelta | None = None
    """Overrides the drift policy's recent window, e.g. ``"24h"``."""
    at: datetime | None = None
    """The check time, the end of the recent window (default: now)."""
    dry_run: bool = False
    """Evaluate and report; write, count and notify nothing."""
    notify: bool = True
    """Announce newly fired triggers to the owners."""
    auto_rollback: bool = False
    """Honour a ``rollback`` policy once its trigger fired ``consecutive_failures`` times."""
    policy: TriggersPolicy | None = None
    """The trigger policy (default: the ``triggers:`` section of ``promptgov.yml``)."""
    embedder: Embedder | None = None
    """The embedding model of embedding drift (default: the bundled MiniLM, if installed)."""
    run_options: RunOptions | None = None
    """Options of the eval runs (the automatic rollback's re-run, ``run_evals``)."""
    notify_policy: NotifyPolicy | None = None
    """Retry and timeout of notifications."""


@dataclass(frozen=True)
class MonitorOptions(CheckOptions):
    """A monitor cycle's options: the check's, and whether to re-run the evals first."""

    run_evals: bool = False
    """Re-run each serving version's eval suite first, recorded as a scheduled run."""


# --------------------------------------------------------------------------- the check


def load_policy(repo: Repo) -> TriggersPolicy:
    """The ``triggers:`` section of ``promptgov.yml``, validated."""
    return TriggersPolicy.from_mapping(repo.config.triggers)


def check_triggers(
    registry: Registry, name: str, options: CheckOptions | None = None
) -> TriggerReport:
    """Evaluate every trigger for the version ``name`` serves and act on the policy.

    Unless ``options.dry_run``, the check writes its evidence under
    ``logs/triggers/<name>/<env>/``, updates the consecutive-failure state and, when any
    trigger fired or a count was reset, an audit entry — all in one unit of work. Newly
    fired triggers are announced (``notify``); with ``auto_rollback`` a trigger whose action
    is ``rollback`` and that fired ``consecutive_failures`` checks in a row runs
    :func:`promptgov.actions.rollback.rollback` with ``policy:<trigger>`` as the authorizer,
    the prompt's owner as ``on_behalf_of`` and the trigger report as evidence (at most once
    per run of failures).

    Raises:
        NotFound: unknown prompt or environment, nothing deployed, a log file missing.
        InvalidFile: a malformed ``triggers:`` policy or trigger state file.
        InputError: a bad ``window``.
    """
    options = options or CheckOptions()
    repo = registry.repo
    repo.check_env(options.env)
    context = CheckContext(
        registry,
        options.policy or load_policy(repo),
        _aware(options.at) if options.at is not None else utcnow(),
        logs=options.logs,
        window=options.window,
        embedder=options.embedder,
    )
    if not options.dry_run:
        require_policy_in_force(repo)  # the triggers policy decides what is recorded and done
    subject = Subject.serving(registry, name, options.env)
    results = run_triggers(subject, context)
    rec = subject.record
    report = TriggerReport(
        name, options.env, rec.version, rec.sha256, context.at, results, options.dry_run
    )
    if report.fired:
        _find_last_known_good(registry, report)
    if options.dry_run:
        return report
    due = record_check(registry, report, subject, options)
    if due.notify:
        notify_fired(registry, report, subject, due.notify, options)
    if due.rollback:
        auto_rollback(registry, report, subject, due, options)
    return report


def _find_last_known_good(registry: Registry, report: TriggerReport) -> None:
    """Name the version a rollback would restore, so the alert says where safety is."""
    from ._last_known_good import locate_last_known_good

    try:
        plan = locate_last_known_good(registry, report.prompt, report.env, to=None, force=False)
    except NotFound as exc:
        report.no_last_known_good = exc.message
    else:
        report.last_known_good = plan.target


def _aware(when: datetime) -> datetime:
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).astimezone(UTC)


# --------------------------------------------------------------------------- monitor

#: Exit code of a monitor cycle in which a prompt could not be checked (as InputError's).
EXIT_ERROR = 2


@dataclass
class MonitorItem:
    """One prompt's outcome in a monitor cycle: a report, or the error that stopped it."""

    prompt: str
    report: TriggerReport | None = None
    error: str | None = None
    eval_run: str | None = None

    @property
    def exit_code(self) -> int:
        """2 when the prompt could not be checked, else its report's (1 fired, 0 not)."""
        if self.error is not None or self.report is None:
            return EXIT_ERROR
        return self.report.exit_code

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "prompt": self.prompt,
            "eval_run": self.eval_run,
            "error": self.error,
            "report": self.report.to_dict() if self.report else None,
        }


@dataclass
class MonitorCycle:
    """One pass over every deployed prompt; iterates over its items."""

    env: str
    items: list[MonitorItem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The worst item's: 2 if a prompt could not be checked, 1 if a trigger fired, else 0."""
        return max((i.exit_code for i in self.items), default=0)

    def __iter__(self) -> Iterator[MonitorItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_list(self) -> list[dict[str, object]]:
        """JSON-ready form: one object per prompt."""
        return [i.to_dict() for i in self.items]


@dataclass
class MonitorRun:
    """What a monitor run did: its cycles, and the verdict the ``monitor`` command exits with."""

    cycles: int = 0
    #: The worst cycle's exit code so far (0 nothing fired, 1 a trigger fired, 2 an error).
    exit_code: int = 0
    #: The latest cycle (None before the first).
    last: MonitorCycle | None = None

    def add(self, cycle: MonitorCycle) -> None:
        """Count ``cycle``; the run's verdict is the worst of its cycles'."""
        self.cycles += 1
        self.exit_code = max(self.exit_code, cycle.exit_code)
        self.last = cycle

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "cycles": self.cycles,
            "exit_code": self.exit_code,
            "last": self.last.to_list() if self.last else None,
        }


def deployed_prompts(registry: Registry, env: str = DEFAULT_ENV) -> list[str]:
    """Prompts with a version in ``env`` (read from the registry index only)."""
    registry.repo.check_env(env)
    return [s.name for s in registry.status() if s.environments.get(env)]


def monitor_once(registry: Registry, options: MonitorOptions | None = None) -> MonitorCycle:
    """Check every prompt deployed to ``options.env`` once; one prompt's error never stops
    the others.

    With ``run_evals`` the eval suite of each serving version is re-run first and recorded
    as a scheduled run, which the ``failing_tests`` and ``eval_regression`` triggers read.
    """
    options = options or MonitorOptions()
    cycle = MonitorCycle(options.env)
    for name in deployed_prompts(registry, options.env):
        item = MonitorItem(name)
        try:
            if options.run_evals:
                from .evaluate import run_version_eval

                outcome = run_version_eval(
                    registry,
                    f"{name}@{options.env}",
                    by="promptgov monitor",
                    scheduled=True,
                    options=options.run_options,
                )
                item.eval_run = outcome.run.run_id
            item.report = check_triggers(registry, name, options)
        except PromptGovError as exc:
            item.error = exc.message
        cycle.items.append(item)
    return cycle


def monitor(
    registry: Registry,
    options: MonitorOptions | None = None,
    *,
    interval: str | timedelta,
    cycles: int | None = None,
    on_cycle: Callable[[MonitorCycle], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MonitorRun:
    """Run :func:`monitor_once` every ``interval`` (``cycles`` times, or until interrupted).

    Each cycle starts ``interval`` after the previous one started, so a slow check does not
    drift the schedule; ``on_cycle`` sees each cycle as it ends (to print it).

    Raises:
        InputError: ``interval`` is not a duration.
    """
    try:
        every = parse_duration(interval).total_seconds()
    except ValueError as exc:
        raise InputError(f"interval: {exc}.", cli_hint="Check --interval.") from None
    run = MonitorRun()
    while cycles is None or run.cycles < cycles:
        started = time.monotonic()
        cycle = monitor_once(registry, options)
        run.add(cycle)
        if on_cycle is not None:
            on_cycle(cycle)
        if cycles is not None and run.cycles >= cycles:
            break
        sleep(max(0.0, every - (time.monotonic() - started)))
    return run
