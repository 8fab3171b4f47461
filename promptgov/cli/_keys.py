"""CLI commands of signing: keys add, list, revoke (the allowed-signers file); attest export."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, print_table, repo_path

keys_app = typer.Typer(
    help="Who may sign decisions, with which SSH key (the allowed-signers file; a governed "
    "policy file: apply changes with 'promptgov policy').",
    no_args_is_help=True,
)


def _repo(repo: Path | None) -> Any:
    from ..repo import Repo

    return Repo(repo_path(repo))


def _when(text: str | None) -> datetime | None:
    from ..signing import parse_time

    if text is None:
        return None
    try:
        return parse_time(text.replace("-", ""))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _rows(signers: list[Any]) -> list[dict[str, Any]]:
    from ..signing import format_time

    return [
        {
            "principals": list(s.principals),
            "fingerprint": s.fingerprint,
            "key_type": s.public_key.split()[0],
            "valid_after": format_time(s.valid_after) if s.valid_after else None,
            "valid_before": format_time(s.valid_before) if s.valid_before else None,
        }
        for s in signers
    ]


def _show(signers: list[Any], json_: bool) -> None:
    rows = _rows(signers)
    if json_:
        emit_json(rows)
        return
    print_table(
        ["principals", "fingerprint", "type", "valid after", "valid before"],
        [
            [
                ",".join(r["principals"]),
                r["fingerprint"],
                r["key_type"],
                r["valid_after"] or "—",
                r["valid_before"] or "—",
            ]
            for r in rows
        ],
    )


@keys_app.command("add")
def add(
    who: Annotated[str, typer.Argument(help="The person (as --by names them).")],
    key: Annotated[str, typer.Argument(help="Public key file (.pub) or 'ssh-ed25519 AAAA…'.")],
    valid_after: Annotated[
        str | None, typer.Option("--valid-after", help="YYYYMMDD[HHMM[SS]]: counts from then.")
    ] = None,
    valid_before: Annotated[
        str | None, typer.Option("--valid-before", help="YYYYMMDD[HHMM[SS]]: expires then.")
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Give a person a signing key (then apply it as a policy change)."""
    from ..actions.keys import KeyOptions, add_key

    options = KeyOptions(valid_after=_when(valid_after), valid_before=_when(valid_before))
    _show([add_key(_repo(repo), who, key, options)], json_)


@keys_app.command("list")
def list_(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Every allowed signer, its key fingerprint and validity."""
    from ..actions.keys import list_keys

    _show(list_keys(_repo(repo)), json_)


@keys_app.command("revoke")
def revoke(
    who: Annotated[str, typer.Argument(help="A person, or a key's SHA256:… fingerprint.")],
    at: Annotated[
        str | None, typer.Option("--at", help="YYYYMMDD[HHMM[SS]] (default: now).")
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """End a person's keys from a date on; what they signed before still counts."""
    from ..actions.keys import revoke_key

    _show(revoke_key(_repo(repo), who, at=_when(at)), json_)
    if not json_:
        console.print("Apply the change with 'promptgov policy propose'.")


def register(app: typer.Typer) -> None:
    """Add the ``keys`` and ``attest`` command groups to the main app."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(attest_app, name="attest")


@keys_app.command("upgrade")
def upgrade(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Set up signing in an older repository and list the decisions recorded unsigned."""
    from ..actions.keys import upgrade_signing

    up = upgrade_signing(_repo(repo))
    if json_:
        emit_json({"written": up.written, "unsigned": up.unsigned, "bad": up.bad})
        return
    for line in up.unsigned:
        console.print(f"unsigned: {line}", markup=False)
    for line in up.bad:
        console.print(f"bad signature: {line}", markup=False)
    console.print(f"{len(up.unsigned)} decision(s) unsigned, {len(up.bad)} bad signature(s).")
    if up.written:
        console.print(
            f"Wrote {', '.join(up.written)}: add keys ('promptgov keys add'), then "
            "'promptgov policy propose' to put them in force."
        )


attest_app = typer.Typer(
    help="Export the signed decisions behind a version, checkable with ssh-keygen alone.",
    no_args_is_help=True,
)


@attest_app.command("export")
def export(
    ref: Annotated[str, typer.Argument(help="name@version or name@env.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Directory to write the bundle to.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write statements, signatures, allowed signers and a README of ssh-keygen commands."""
    from ..actions.attest import export_attestations
    from ..registry import Registry

    bundle = export_attestations(Registry(repo_path(repo)), ref, out)
    if json_:
        emit_json(bundle.to_dict())
    else:
        console.print(
            f"Wrote {len(bundle.statements)} signed statement(s) for "
            f"{bundle.name}@{bundle.version} to {out} (see {out / 'README.md'})"
        )
