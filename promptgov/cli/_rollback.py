"""CLI command of the rollback flow."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..actions._rerun import DEFAULT_EVAL_TIMEOUT
from ._common import JsonOpt, RepoOpt, SignOpt, console, emit_json, escape, repo_path


def print_result(res: Any) -> None:
    """The plan (dry run) or the checklist with each line's true status."""
    plan = res.plan
    for c in plan.candidates:
        mark = "[green]✓[/green]" if c.eligible else "[yellow]skip[/yellow]"
        console.print(
            f"  {mark} " + escape(c.version + ("" if c.eligible else f": {'; '.join(c.reasons)}")),
            markup=True,
        )
    if res.dry_run:
        recorded = (
            f"serving {plan.new_version} again, which holds that content"
            if plan.reused
            else f"recorded as {plan.new_version}"
        )
        console.print(
            f"Dry run: would roll {plan.prompt} in {plan.env} back from {plan.current} to {plan.target} "
            f"({recorded}); nothing was changed."
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
        console.print(
            f"  {mark} " + escape(f"{line.task:<26} {line.reference:<36} {line.detail}"),
            markup=True,
        )
    for w in res.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}", markup=True)
    _print_kept(res)


def _print_kept(res: Any) -> None:
    """Where the author's unsaved edits went when the working copy was replaced."""
    if res.kept_edits:
        console.print(
            f"Your unsaved edits to prompts/{res.plan.prompt}/prompt.yml were kept in "
            f"{res.kept_edits}; copy them back when you resume work.",
            markup=False,
        )


def print_resumed(res: Any) -> None:
    """Each rollback finished, then each move published to git."""
    if not res.rollbacks and not res.published:
        console.print("No interrupted rollback to resume and no move waiting for git.")
    for r in res.rollbacks:
        print_result(r)
    for p in res.published:
        pub = p.publication
        what = f"{pub.action} of {pub.prompt} in {pub.env} (audit #{pub.audit_seq})"
        if not p.done:
            console.print(f"[yellow]Not yet in git:[/yellow] {escape(what)}", markup=True)
            continue
        where = [f"commit {p.commit[:12]}" if p.commit else "already committed"]
        where += [f"deploy branch {p.branch}"] if p.branch else []
        where += [f"tag {p.tag}"] if p.tag else []
        console.print(f"Published {what} to git: {', '.join(where)}.")
    for w in (w for p in res.published for w in p.warnings):
        console.print(f"[yellow]warning:[/yellow] {escape(w)}", markup=True)


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
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish interrupted rollbacks and git publications."),
    ] = False,
    undo: Annotated[
        bool,
        typer.Option(
            "--undo",
            help="Undo the unfinished rollback of NAME in --env: put back what it replaced.",
        ),
    ] = False,
    eval_timeout: Annotated[
        float,
        typer.Option(
            "--eval-timeout", help="Seconds the whole eval re-run may take before it is stopped."
        ),
    ] = DEFAULT_EVAL_TIMEOUT,
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Roll back to the last known good version: restore, re-run evals, log, notify."""
    from ..actions.rollback import RollbackOptions, UndoOptions
    from ..actions.rollback import resume as do_resume
    from ..actions.rollback import rollback as do_rollback
    from ..actions.rollback import undo as do_undo
    from ..errors import InputError
    from ..registry import Registry

    registry = Registry(repo_path(repo))
    if resume and undo:
        raise InputError("--resume finishes a rollback and --undo reverts it: pass one of them.")
    if resume:
        resumed = do_resume(registry, name, eval_timeout=eval_timeout)
        _render(resumed, json_, print_resumed)
        if not resumed.ok:
            raise typer.Exit(1)
        return
    if name is None:
        raise InputError("name the prompt to roll back (or pass --resume).")
    if undo:
        if to or force or dry_run or emergency or skip_evals or evidence or description:
            raise InputError("--undo takes only --env, --reason and --authorized-by.")
        undone = do_undo(registry, name, UndoOptions(reason=reason, env=env), by=authorized_by)
        _render(undone, json_, print_undone)
        return
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
        eval_timeout=eval_timeout,
        sign_with=sign_with,
    )
    res = do_rollback(registry, name, options, by=authorized_by)
    _render(res, json_, print_result)
    if not (res.ok or res.dry_run):
        raise typer.Exit(1)


def _render(res: Any, json_: bool, human: Any) -> None:
    if json_:
        emit_json(res.to_dict())
    else:
        human(res)


def print_undone(res: Any) -> None:
    """What the undo put back."""
    rb = res.record
    console.print(
        f"Undid the rollback of {res.plan.prompt} in {rb.env}: it serves {rb.rollback_of} again "
        f"({rb.new_version} no longer serves; audit entry #{rb.audit_seq})."
    )
    for w in res.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}", markup=True)
    _print_kept(res)


def register(app: typer.Typer) -> None:
    """Attach the rollback command."""
    app.command()(rollback)
