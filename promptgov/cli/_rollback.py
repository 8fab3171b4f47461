"""CLI command of the rollback flow."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, repo_path


def print_result(res: Any) -> None:
    """The plan (dry run) or the checklist with each line's true status."""
    plan = res.plan
    for c in plan.candidates:
        mark = "[green]✓[/green]" if c.eligible else "[yellow]skip[/yellow]"
        console.print(
            f"  {mark} {c.version}" + ("" if c.eligible else f": {'; '.join(c.reasons)}"),
            markup=True,
        )
    if res.dry_run:
        console.print(
            f"Dry run: would roll {plan.prompt} in {plan.env} back from {plan.current} to {plan.target} "
            f"(recorded as {plan.new_version}); nothing was changed."
        )
        return
    if res.already_done:
        console.print(
            f"Already rolled back: {plan.env} serves {plan.new_version} (restored {plan.target}, rolled back from {plan.current}); nothing was repeated."
        )
    else:
        console.print(
            f"Rolled back {plan.prompt} in {plan.env}: {plan.current} → {plan.new_version} (restored {plan.target})"
        )
    if res.gate is not None:
        from ._gate import print_gate

        print_gate(res.gate)
    console.print("\n[bold]Rollback checklist[/bold]", markup=True)
    for line in res.checklist:
        mark = "[green]✔[/green]" if line.ok else "[red]✘[/red]"
        console.print(f"  {mark} {line.task:<26} {line.reference:<36} {line.detail}", markup=True)
    for w in res.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", markup=True)


def rollback(
    name: Annotated[str | None, typer.Argument(help="Prompt name.")] = None,
    env: Annotated[str, typer.Option("--env", help="Environment to roll back.")] = "prod",
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded and announced).")] = "",
    authorized_by: Annotated[
        str, typer.Option("--authorized-by", "--by", help="Who authorized it.")
    ] = "",
    evidence: Annotated[
        list[str],
        typer.Option("--evidence", help="Failing eval run, drift report, complaint… (repeatable)."),
    ] = [],  # noqa: B006
    to: Annotated[
        str | None,
        typer.Option("--to", help="Restore this version instead of the last known good."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="With --to: restore a target that is not eligible (recorded)."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan and every skipped candidate; change nothing."
        ),
    ] = False,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Keep the restore even if its gate fails (flagged, follow-up recorded).",
        ),
    ] = False,
    skip_evals: Annotated[
        bool,
        typer.Option("--skip-evals", help="With --emergency only: do not re-run evals (recorded)."),
    ] = False,
    description: Annotated[
        str | None,
        typer.Option("--description", help="Short title (default 'Rollback to <version>')."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish interrupted rollbacks.")] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Roll back to the last known good version: restore, re-run evals, log, notify."""
    from ..actions.rollback import RollbackOptions
    from ..actions.rollback import resume as do_resume
    from ..actions.rollback import rollback as do_rollback
    from ..errors import InputError
    from ..registry import Registry

    registry = Registry(repo_path(repo))
    if resume:
        results = do_resume(registry, name)
    elif name is None:
        raise InputError("name the prompt to roll back (or pass --resume).")
    else:
        options = RollbackOptions(
            reason=reason,
            env=env,
            evidence=tuple(evidence),
            to=to,
            force=force,
            dry_run=dry_run,
            emergency=emergency,
            skip_evals=skip_evals,
            description=description,
        )
        results = [do_rollback(registry, name, options, by=authorized_by)]
    if json_:
        emit_json(results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results])
    else:
        if not results:
            console.print("No interrupted rollback to resume.")
        for res in results:
            print_result(res)
    if any(not (r.ok or r.dry_run) for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the rollback command."""
    app.command()(rollback)
