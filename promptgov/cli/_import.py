"""CLI command ``import``: govern the prompts of an existing promptfoo config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, repo_path


def import_(
    config: Annotated[Path, typer.Argument(help="The promptfoo config (promptfooconfig.yaml).")],
    by: Annotated[str, typer.Option("--by", "--author", help="Who imports (the author).")],
    name: Annotated[
        list[str],
        typer.Option("--name", help="Name of each prompt, in the config's order (repeatable)."),
    ] = [],  # noqa: B006
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="Provider id or label to declare as the model."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a governed prompt, its first version and its eval suite from each prompt of a
    promptfoo config; the config itself is left unchanged."""
    from ..actions.import_ import ImportOptions, import_config
    from ..registry import Registry

    options = ImportOptions(names=tuple(name), provider=provider, dry_run=dry_run)
    result = import_config(Registry(repo_path(repo)), config, options, by=by)
    if json_:
        emit_json(result.to_dict())
        return
    verb = "Dry run: would import" if dry_run else "Imported"
    console.print(f"{verb} {len(result.prompts)} prompt(s) from {result.config}:", markup=False)
    for p in result.prompts:
        console.print(
            f"  {p.name}@{p.version} sha256:{p.sha256[:12]}  from {p.origin}\n"
            f"    working copy {p.working_copy}, suite {p.suite}\n"
            f"    model {p.source.model.provider}; variables "
            f"{', '.join(v.name for v in p.source.variables) or '—'}",
            markup=False,
        )
        if p.other_providers:
            console.print(
                f"    the suite runs only the declared model; {result.config} also runs it "
                f"with {', '.join(p.other_providers)} (declare another with --provider)",
                markup=False,
            )
        if p.dropped_parameters:
            console.print(
                f"    not copied into the model (credentials): {', '.join(p.dropped_parameters)}",
                markup=False,
            )
    if not dry_run and result.prompts:
        first = result.prompts[0]
        console.print(
            f"{result.config} is unchanged and still runs with promptfoo.\n"
            "The new suites and their names in promptgov.yml are a policy change; put them in "
            "force, then evaluate:\n"
            f"  promptgov policy propose --reason 'import {result.config}' --by {by}\n"
            "  promptgov policy approve --by <an approver of the last environment>\n"
            f"  promptgov policy apply --by {by}\n"
            f"  promptgov eval {first.name}@{first.version}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Attach the import command."""
    app.command("import")(import_)
