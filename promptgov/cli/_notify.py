"""CLI commands of notifications: add, test, retry, pending."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, escape, repo_path

notify_app = typer.Typer(
    help="Add notification targets, send test notifications, retry failed deliveries.",
    no_args_is_help=True,
)


def _repo(repo: Any) -> Any:
    from ..repo import Repo

    return Repo(repo_path(repo))


def _report(results: list[Any], json_: bool, empty: str) -> None:
    if json_:
        emit_json([r.to_dict() for r in results])
    elif not results:
        console.print(empty)
    for r in results if not json_ else []:
        console.print(
            ("[green]✔[/green] " if r.ok else "[red]✘[/red] ") + escape(str(r)), markup=True
        )
    if any(not r.ok for r in results):
        raise typer.Exit(1)


@notify_app.command("add")
def add(
    name: str = typer.Argument(..., help="Unique target name, e.g. oncall."),
    url: str = typer.Argument(
        ..., help="apprise URL (slack://, mailto://, json://…) or https URL."
    ),
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events", help="Events it receives, comma-separated or repeated (default: all)."
        ),
    ] = None,
    kind: str = typer.Option("apprise", "--kind", help="apprise, or webhook (signed JSON)."),
    secret_env: str | None = typer.Option(
        None, "--secret-env", help="Webhook only: env var holding the signing secret."
    ),
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Add a notification target to promptgov.yml (comments kept; a policy change)."""
    from ..actions.notify import AddTargetOptions, add_target

    chosen = tuple(e.strip() for item in events or [] for e in item.split(",") if e.strip())
    options = AddTargetOptions(name, url, chosen, kind, secret_env)
    added = add_target(_repo(repo), options)
    if json_:
        emit_json(added.to_dict())
        return
    console.print(f"added notification target {added.target.display}", markup=False)
    if added.needs_policy_change:
        console.print(
            "promptgov.yml now differs from the policy in force: put it in force with "
            "'promptgov policy propose', then 'policy approve' and 'policy apply'.",
            markup=False,
        )


@notify_app.command("test")
def test(
    by: str = typer.Option("promptgov", "--by", help="Who sends it."),
    all_targets: bool = typer.Option(
        False, "--all", help="Also send to targets not subscribed to test messages."
    ),
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Send a test message to every target subscribed to test events (exit 1 if one fails)."""
    from ..actions.notify import send_test

    sent = send_test(_repo(repo), by=by, all_targets=all_targets)
    if json_:
        emit_json(sent.to_dict())
    else:
        if not sent.results and not sent.skipped:
            console.print("no notification targets configured in promptgov.yml")
        for r in sent.results:
            console.print(
                ("[green]✔[/green] " if r.ok else "[red]✘[/red] ") + escape(str(r)), markup=True
            )
        if sent.skipped:
            console.print(
                f"skipped (not subscribed to test messages): {', '.join(sent.skipped)}; "
                "pass --all to send to them too",
                markup=False,
            )
    if not sent.ok:
        raise typer.Exit(1)


@notify_app.command("retry")
def retry(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Re-send every failed delivery waiting in the outbox (exit 1 if one still fails)."""
    from ..actions.notify import retry_pending

    _report(retry_pending(_repo(repo)), json_, "nothing to retry")


@notify_app.command("pending")
def pending(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """List deliveries waiting for a retry."""
    from ..notify import Outbox

    items = Outbox(_repo(repo).root).pending()
    if json_:
        emit_json([i.to_dict() for i in items])
        return
    for i in items:
        console.print(
            f"{i.target}: {i.notification.title} ({i.attempts} attempt(s), last error: {i.last_error})"
        )
    if not items:
        console.print("nothing pending")


def register(app: typer.Typer) -> None:
    """Attach the ``notify`` group."""
    app.add_typer(notify_app, name="notify")
