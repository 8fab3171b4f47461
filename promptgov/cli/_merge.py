"""CLI commands of the git merge driver: install (once per clone) and run (called by git)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, err_console, escape, repo_path

merge_app = typer.Typer(
    help="The git merge driver that keeps one audit chain when clones pull each other.",
    no_args_is_help=True,
)

#: How to get out of a refused merge, printed with the refusal (git shows the driver's stderr).
RESOLVE_HINT = (
    "The merge stops with this file conflicted. Abort it ('git merge --abort' or "
    "'git rebase --abort'), then redo one side's action on top of the other (docs/team.md)."
)


def register(app: typer.Typer) -> None:
    """Add ``promptgov merge-driver …`` to ``app``."""
    app.add_typer(merge_app, name="merge-driver")


@merge_app.command("install")
def install(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Register the merge driver in this clone's git config and in .gitattributes."""
    from ..actions.merge import install as install_driver
    from ..repo import Repo

    result = install_driver(Repo(repo_path(repo)).root)
    if json_:
        emit_json(result.to_dict())
        return
    console.print(f"merge driver registered: {result.driver}")
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", markup=True)


@merge_app.command("run")
def run(
    ancestor: Annotated[Path, typer.Argument(help="%O: the common ancestor's version.")],
    ours: Annotated[Path, typer.Argument(help="%A: ours; the merged result is written here.")],
    theirs: Annotated[Path, typer.Argument(help="%B: theirs.")],
    path: Annotated[str, typer.Argument(help="%P: the file's path in the work tree.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Merge one governed file (git runs this in the work tree; see 'merge-driver install')."""
    from ..actions.merge import DriverOptions, run_driver
    from ..errors import Conflict

    options = DriverOptions(ancestor, ours, theirs, path)
    try:
        result = run_driver(repo or Path.cwd(), options, os.environ)
    except Conflict as exc:
        err_console.print(f"promptgov: {exc.message}\n{RESOLVE_HINT}", markup=False)
        raise typer.Exit(1) from None
    if json_:
        emit_json(result.to_dict())
    err_console.print(f"promptgov: {result.summary()}", markup=False)
