"""CLI commands of the registry: init, add, list, status, show, history, diff, render, verify."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, escape, print_table, repo_path, span


def _registry(repo: Path | None) -> Any:
    from ..registry import Registry

    return Registry(repo_path(repo))


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    from ..errors import InputError

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--var expects key=value, got {pair!r}.")
        out[key] = value
    return out


def init(
    directory: Annotated[
        Path | None, typer.Argument(help="Where to create it (default: .).")
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Add a working sample prompt.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Lay out a governed repository."""
    from ..actions.init import init as do_init
    from ..actions.init import next_steps

    repo = do_init(directory or Path("."), example=example)
    steps = next_steps(example=example)
    if json_:
        emit_json({"root": str(repo.root), "example": example, "next_steps": steps})
    else:
        console.print(f"Initialised governed repository in {repo.root}", markup=False)
        console.print("Next steps:\n" + "\n".join(f"  {s}" for s in steps), markup=False)


def add(
    name: Annotated[str, typer.Argument(help="Prompt name (directory under prompts/).")],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")],
    author: Annotated[str, typer.Option("--author", "--by", help="Who wrote it.")],
    bump: Annotated[str, typer.Option(help="patch, minor or major.")] = "patch",
    version: Annotated[str | None, typer.Option("--version", help="Explicit X.Y.Z.")] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Register the working copy as a new immutable version."""
    from ..errors import InputError

    if bump not in ("patch", "minor", "major"):
        raise InputError(f"--bump must be patch, minor or major, not {bump!r}.")
    from ..actions.add import AddOptions
    from ..actions.add import add as do_add

    options = AddOptions(message=message, bump=bump, version=version)  # type: ignore[arg-type]
    rec = do_add(_registry(repo), name, options, by=author)
    if json_:
        emit_json(rec.model_dump(mode="json"))
    else:
        console.print(
            f"Registered {name}@{rec.version} sha256:{rec.sha256[:12]} ({rec.status.value})"
        )


def list_(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """List registered prompts."""
    status(None, repo, json_)


def status(
    name: Annotated[str | None, typer.Argument(help="One prompt (default: all).")] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Each prompt's latest version, environment pointers and open post-reviews."""
    from ..model import utcnow

    reg = _registry(repo)
    now = utcnow()
    rows = reg.status(name, now=now)
    if json_:
        emit_json([r.to_dict() for r in rows])
        return
    envs = reg.repo.config.env_names
    print_table(
        ["prompt", "versions", "latest", *envs, "working copy"],
        [
            [
                r.name,
                str(r.versions),
                r.latest or "—",
                *[_pointer(r, e) for e in envs],
                r.working_copy,
            ]
            for r in rows
        ],
    )
    for r in rows:
        by_version: dict[str, list[str]] = {}
        for env, version in r.serving_quarantined.items():
            by_version.setdefault(version, []).append(env)
        for version, where in by_version.items():
            sys.stdout.write(
                f"quarantined: {r.name}@{version} still serves {', '.join(where)}; promote a "
                f"good version there or roll back ('promptgov rollback {r.name} --env {where[0]}')\n"
            )
    for d in (d for r in rows for d in r.post_reviews):
        if d.overdue_by is not None:
            line = (
                f"post-review overdue: {d.what}, due {d.due:%Y-%m-%d}, {span(d.overdue_by)} overdue"
            )
        else:
            line = f"post-review due: {d.what}, due {d.due:%Y-%m-%d} (in {span(d.due - now)})"
        sys.stdout.write(line + "\n")


def _pointer(row: Any, env: str) -> str:
    """An environment's cell: its version, marked when that version is quarantined."""
    version = row.environments.get(env)
    if version is None:
        return "—"
    return f"{version} (quarantined)" if version in row.quarantined else version


def show(
    ref: Annotated[str, typer.Argument(help="name, name@version or name@env.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show a version: record, card and template."""
    v = _registry(repo).get(ref)
    if json_:
        emit_json(
            {
                "name": v.name,
                "record": v.record.model_dump(mode="json"),
                "content": v.content.model_dump(mode="json", exclude_none=True),
                "card": v.card.model_dump(mode="json"),
            }
        )
        return
    r = v.record
    lines = [
        f"{v.ref}  sha256:{r.sha256}",
        f"status: {r.status.value}   author: {r.author}   created: {r.created_at:%Y-%m-%d %H:%M:%S}Z",
        f"parent: {r.parent or '—'}   message: {r.message}",
    ]
    if r.restored_from:
        lines.append(f"restored from {r.restored_from}, rolled back from {r.rolled_back_from}")
    if r.quarantine:
        lines.append(f"quarantined: {r.quarantine.reason} ({r.quarantine.by})")
    lines += [
        f"model: {v.content.model.provider} {v.content.model.parameters}",
        f"variables: {', '.join(x.name for x in v.content.variables) or '—'}",
        f"owner: {v.card.owner}   eval suite: {v.card.eval_suite}",
        "",
    ]
    if v.content.template is not None:
        lines.append(v.content.template.rstrip("\n"))
    else:
        lines += [f"[{m.role}]\n{m.content}" for m in v.content.messages or []]
    sys.stdout.write("\n".join(lines) + "\n")


def checkout(
    ref: Annotated[str, typer.Argument(help="name@version, name@env or name@latest.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace unsaved edits too (kept as prompt.yml.before-checkout-*)."
        ),
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Load a registered version into the working copy prompts/<name>/prompt.yml."""
    from ..actions.checkout import CheckoutOptions
    from ..actions.checkout import checkout as do_checkout

    res = do_checkout(_registry(repo), ref, CheckoutOptions(force=force))
    if json_:
        emit_json(res.to_dict())
        return
    console.print(f"{res.path} now holds {res.prompt}@{res.version} sha256:{res.sha256[:12]}")
    if res.kept_edits:
        console.print(f"Your unsaved edits were kept in {res.kept_edits}.", markup=False)


def history(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """A prompt's timeline: versions, evals, gates, approvals, pointer moves."""
    events = _registry(repo).history(name)
    if json_:
        emit_json([e.to_dict() for e in events])
        return
    print_table(
        ["time (UTC)", "event", "version", "env", "by", "summary"],
        [
            [f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, e.version, e.env or "", e.by, e.summary]
            for e in events
        ],
    )


def diff(
    name: Annotated[str, typer.Argument(help="Prompt name, or name@version.")],
    a: Annotated[str | None, typer.Argument(help="Version, env or latest.")] = None,
    b: Annotated[
        str | None,
        typer.Argument(help="Version, env or latest (default: the working copy, 'working')."),
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Differences between two versions, or between a version and the working copy."""
    from ..errors import InputError

    if "@" in name:  # diff NAME@A [B]
        if b is not None:
            raise InputError("give NAME@A [B] or NAME A [B], not both forms.")
        name, _, first = name.partition("@")
        a, b = first, a
    if not a:
        raise InputError(f"name a version of {name} to compare: {name}@<version> [<version>].")
    d = _registry(repo).diff(name, a, b)
    if json_:
        emit_json(d.to_dict())
        return
    if d.identical:
        console.print(f"{name}@{d.a} and {name}@{d.b} are identical")
        return
    for line in d.template:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        console.print(line.rstrip("\n"), style=style, markup=False)
    for key, x, y in d.parameters:
        console.print(f"parameter {key}: {x!r} → {y!r}", markup=False)
    for line in d.variables:
        console.print(f"variable {line}", markup=False)
    for key, x, y in d.card:
        console.print(f"card {key}: {x!r} → {y!r}", markup=False)


def render(
    ref: Annotated[str, typer.Argument(help="name, name@version or name@env.")],
    var: Annotated[list[str], typer.Option("--var", help="key=value (repeatable).")] = [],  # noqa: B006
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Render a version with strict variables."""
    out = _registry(repo).render(ref, _parse_vars(var))
    if json_:
        emit_json({"rendered": out})
    elif isinstance(out, str):
        console.print(out, markup=False, end="")
    else:
        for m in out:
            console.print(f"[{m['role']}]", markup=False)
            console.print(m["content"], markup=False)


def verify(
    strict: Annotated[
        bool, typer.Option("--strict", help="Also fail on warnings (an overdue post-review).")
    ] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Re-hash every version and check every file (exit 1 on any problem)."""

    from ..actions.verify import verify as do_verify

    report = do_verify(_registry(repo).repo, strict=strict)
    if json_:
        emit_json(report.to_dict())
    else:
        for p in report.problems:
            console.print(f"[red]✗[/red] {escape(str(p))}", markup=True)
        for p in report.warnings:
            console.print("[yellow]![/yellow] " + escape(str(p)), markup=True)
        summary = ", ".join(f"{v} {k}" for k, v in report.checked.items())
        console.print(
            ("[green]✓ verified[/green] " if report.ok else "[red]✗ problems found[/red] ")
            + summary
        )
    if not report.ok:
        raise typer.Exit(1)


def schema(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Regenerate schemas/*.schema.json from the models."""
    from ..actions.regenerate import regenerate_schemas

    written = regenerate_schemas(_registry(repo).repo)
    emit_json(written) if json_ else console.print(
        "\n".join(f"wrote {p}" for p in written) or "up to date"
    )


def docs(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Regenerate the lifecycle, pipeline and rollback-flow docs and the CI install lines."""
    from ..actions.regenerate import regenerate_docs

    written = regenerate_docs(_registry(repo).repo)
    emit_json(written) if json_ else console.print(
        "\n".join(f"wrote {p}" for p in written) or "up to date"
    )


def register(app: typer.Typer) -> None:
    """Attach the registry commands."""
    app.command()(init)
    app.command()(add)
    app.command("list")(list_)
    app.command()(status)
    app.command()(show)
    app.command()(checkout)
    app.command()(history)
    app.command()(diff)
    app.command()(render)
    app.command()(verify)
    app.command()(schema)
    app.command()(docs)
