"""CLI commands of production monitoring: triggers, monitor, report, audit flag, quarantine clear."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import JsonOpt, RepoOpt, SignOpt, console, emit_json, escape, repo_path

if TYPE_CHECKING:
    from ..actions.monitor import MonitorCycle, TriggerReport

quarantine_app = typer.Typer(
    name="quarantine",
    help="Versions kept out of last-known-good: clear a quarantine (approvers only).",
    no_args_is_help=True,
)

EnvOpt = Annotated[str, typer.Option("--env", help="Environment whose serving version is checked.")]
LogsOpt = Annotated[
    list[Path],
    typer.Option(
        "--logs",
        help="Production log file (JSON, JSONL, OTLP JSON or protobuf spans or log records, "
        "console span or log output, .gz); repeatable; span and log-record files are joined. "
        "Default: the JSON/JSONL/.binpb files directly in logs/.",
        show_default=False,
    ),
]
WindowOpt = Annotated[
    str | None,
    typer.Option("--window", help="Recent drift window, e.g. 24h (default: the policy's)."),
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", help="Evaluate as of this time (ISO 8601, e.g. 2026-03-09T12:00:00Z); default now."
    ),
]
AutoOpt = Annotated[
    bool,
    typer.Option(
        "--auto-rollback", help="Honour the policy: roll back after k consecutive failing checks."
    ),
]
NotifyOpt = Annotated[
    bool,
    typer.Option("--notify/--no-notify", help="Announce newly fired triggers to the owners."),
]

_MARK = {
    "fired": ("✘ fired", "red"),
    "not_fired": ("✔ not fired", "green"),
    "insufficient_data": ("? insufficient data", "yellow"),
    "disabled": ("– disabled", "dim"),
}


def _at(value: str | None) -> datetime | None:
    from ..errors import InputError

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--at {value!r} is not a time; use ISO 8601 like 2026-03-09T12:00:00Z."
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def print_report(report: TriggerReport) -> None:
    """Per trigger: status, what was measured against what, samples, evidence; then actions."""
    console.print(
        f"[bold]{escape(report.prompt)}[/bold] in {escape(report.env)} serving {escape(report.version)} — checked "
        f"{report.checked_at:%Y-%m-%d %H:%M:%S}Z: [bold]{report.status.value}[/bold]",
        markup=True,
    )
    for r in report.results:
        streak = escape(f" [{r.streak} of {r.consecutive_failures} in a row]") if r.streak else ""
        label, colour = _MARK[r.status.value]
        console.print(f"  [{colour}]{label:<20}[/{colour}] {r.trigger.value}{streak}", markup=True)
        console.print(f"      {r.summary}", markup=False)
        if r.samples:
            console.print(
                "      samples: " + ", ".join(f"{k} {v}" for k, v in r.samples.items()),
                markup=False,
            )
        for path in r.evidence:
            console.print(f"      evidence: {path}", markup=False)
        logs = r.details.get("logs")
        if logs and (logs["malformed_count"] or logs["skipped_other"]):
            console.print(
                f"      logs: {logs['accepted']} records used, {logs['malformed_count']} malformed, "
                f"{sum(logs['skipped_other'].values())} for other prompts or versions",
                markup=False,
            )
        for warning in (logs or {}).get("warnings", []):
            console.print(f"      warning: {warning}", markup=False)
    if report.last_known_good:
        console.print(f"Last known good: {report.last_known_good}", markup=False)
    elif report.no_last_known_good:
        console.print(f"No last known good: {report.no_last_known_good}", markup=False)
    if report.report:
        console.print(f"Trigger report: {report.report}", markup=False)
    for a in report.actions:
        mark = "[green]✔[/green]" if a.ok else "[red]✘[/red]"
        console.print(
            f"{mark} " + escape(f"{a.kind} ({', '.join(a.triggers)}): {a.detail}"), markup=True
        )


def print_cycle(cycle: MonitorCycle, *, json_: bool) -> None:
    """One monitor cycle: JSON (one object per prompt), or each report and error."""
    if json_:
        emit_json(cycle.to_list())
        return
    if not cycle.items:
        console.print(f"No prompt is deployed to {cycle.env}.")
    for item in cycle:
        if item.report is None:
            console.print(
                f"[red]error:[/red] {escape(item.prompt)}: {escape(str(item.error))}", markup=True
            )
        else:
            print_report(item.report)


def triggers(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    env: EnvOpt = "prod",
    logs: LogsOpt = [],  # noqa: B006
    window: WindowOpt = None,
    at: AtOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and print; write and count nothing.")
    ] = False,
    notify: NotifyOpt = True,
    auto_rollback: AutoOpt = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Evaluate every rollback trigger for the serving version; exit 1 when one fired."""
    from ..actions.monitor import CheckOptions, check_triggers
    from ..registry import Registry

    options = CheckOptions(
        env=env,
        logs=tuple(logs) or None,
        window=window,
        at=_at(at),
        dry_run=dry_run,
        notify=notify,
        auto_rollback=auto_rollback,
    )
    report = check_triggers(Registry(repo_path(repo)), name, options)
    emit_json(report.to_dict()) if json_ else print_report(report)
    raise typer.Exit(report.exit_code)


def monitor(
    env: EnvOpt = "prod",
    interval: Annotated[
        str, typer.Option("--interval", help="Time between cycles, e.g. 5m.")
    ] = "5m",
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle and exit (cron, CI).")
    ] = False,
    cycles: Annotated[
        int | None, typer.Option("--cycles", min=1, help="Stop after N cycles.")
    ] = None,
    auto_rollback: AutoOpt = False,
    run_evals: Annotated[
        bool,
        typer.Option(
            "--run-evals", help="Re-run each serving version's evals first (scheduled runs)."
        ),
    ] = False,
    logs: LogsOpt = [],  # noqa: B006
    window: WindowOpt = None,
    at: AtOpt = None,
    notify: NotifyOpt = True,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Check every prompt deployed to ENV on a schedule; exit 1 if a trigger fired, 2 on errors."""
    from ..actions.monitor import MonitorOptions
    from ..actions.monitor import monitor as run_monitor
    from ..registry import Registry

    options = MonitorOptions(
        env=env,
        logs=tuple(logs) or None,
        window=window,
        at=_at(at),
        auto_rollback=auto_rollback,
        run_evals=run_evals,
        notify=notify,
    )
    run = run_monitor(
        Registry(repo_path(repo)),
        options,
        interval=interval,
        cycles=1 if once else cycles,
        on_cycle=lambda cycle: print_cycle(cycle, json_=json_),
    )
    raise typer.Exit(run.exit_code)


def report(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    complaint: Annotated[
        str, typer.Option("--complaint", help="What went wrong, in the reporter's words.")
    ],
    by: Annotated[str, typer.Option("--by", help="Who reported it.")],
    severity: Annotated[
        str, typer.Option("--severity", help="low, medium, high or critical.")
    ] = "medium",
    evidence: Annotated[
        list[str], typer.Option("--evidence", help="Transcript, ticket or file (repeatable).")
    ] = [],  # noqa: B006
    env: Annotated[
        str, typer.Option("--env", help="Environment whose output is complained about.")
    ] = "prod",
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record a complaint against the version serving in ENV (audit-logged)."""
    from ..actions.feedback import ComplaintOptions, report_complaint
    from ..registry import Registry

    options = ComplaintOptions(
        complaint=complaint,
        env=env,
        severity=severity,
        evidence=tuple(evidence),
        sign_with=sign_with,
    )
    c = report_complaint(Registry(repo_path(repo)), name, options, by=by)
    if json_:
        emit_json(c.model_dump(mode="json"))
    else:
        console.print(
            f"Recorded {c.severity.value} complaint {c.id} against {c.prompt}@{c.version} in {c.env} "
            f"(audit entry #{c.audit_seq}).",
            markup=False,
        )


def flag(
    ref: Annotated[str, typer.Argument(help="name@version to flag.")],
    reason: Annotated[str, typer.Option("--reason", help="The anomaly found.")],
    by: Annotated[str, typer.Option("--by", help="The auditor.")],
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Flag a version as anomalous: it is quarantined and never chosen as last known good."""
    from ..actions.feedback import FlagOptions, flag_version
    from ..registry import Registry

    rec = flag_version(
        Registry(repo_path(repo)), ref, FlagOptions(reason=reason, sign_with=sign_with), by=by
    )
    if json_:
        emit_json(rec.model_dump(mode="json"))
    else:
        console.print(
            f"Flagged {ref.partition('@')[0]}@{rec.version}: quarantined ({reason}).", markup=False
        )


def clear(
    ref: Annotated[str, typer.Argument(help="name@version whose quarantine is lifted.")],
    by: Annotated[str, typer.Option("--by", help="An approver allowed for the environment.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the version may be trusted again.")],
    env: Annotated[
        str | None,
        typer.Option("--env", help="Environment whose approvers decide (default: the last)."),
    ] = None,
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Lift a quarantine (rolled back, flagged, complaint): recorded in the audit log."""
    from ..actions.feedback import ClearOptions, clear_quarantine
    from ..registry import Registry

    options = ClearOptions(reason=reason, env=env, sign_with=sign_with)
    rec = clear_quarantine(Registry(repo_path(repo)), ref, options, by=by)
    if json_:
        emit_json(rec.model_dump(mode="json"))
    else:
        console.print(
            f"Cleared the quarantine of {ref.partition('@')[0]}@{rec.version}; now {rec.status.value}."
        )


def register(app: typer.Typer) -> None:
    """Attach triggers, monitor, report, quarantine clear, and ``flag`` under ``audit``."""
    app.command()(triggers)
    app.command()(monitor)
    app.command()(report)
    quarantine_app.command("clear")(clear)
    app.add_typer(quarantine_app, name="quarantine")
    try:
        from ._audit import audit_app
    except ImportError:
        audit_app = typer.Typer(name="audit", help="The audit log.", no_args_is_help=True)
        app.add_typer(audit_app, name="audit")
    audit_app.command("flag")(flag)
