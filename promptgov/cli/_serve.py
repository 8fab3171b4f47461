"""CLI commands of the server and its identities: serve, token create|list|revoke."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, print_table, repo_path

token_app = typer.Typer(
    name="token",
    help="API tokens for 'promptgov serve': create (shown once), list, revoke.",
    no_args_is_help=True,
)

ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="Who does it (default: the account name).", show_default=False),
]


def _repo(repo: Any) -> Any:
    from ..repo import Repo

    return Repo(repo_path(repo))


def _by(by: str | None) -> str:
    return by or getpass.getuser()


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8700,
    trusted_proxy_header: Annotated[
        str | None,
        typer.Option(
            "--trusted-proxy-header",
            help="Header an SSO proxy sets to the signed-in user (e.g. X-Forwarded-User).",
        ),
    ] = None,
    trusted_proxy_cidr: Annotated[
        list[str],
        typer.Option("--trusted-proxy-cidr", help="Proxy address range (repeatable)."),
    ] = [],  # noqa: B006
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Serve the repository over HTTP: reads, writes under roles, events, metrics."""
    from ..server import DOCS_PATH, ServerOptions, create_app
    from ..server import serve as run

    options = ServerOptions(
        trusted_proxy_header=trusted_proxy_header, trusted_proxy_cidrs=tuple(trusted_proxy_cidr)
    )
    app = create_app(_repo(repo), options)
    url = f"http://{host}:{port}"
    if json_:
        emit_json({"url": url, "docs": f"{url}{DOCS_PATH}", "openapi": f"{url}/openapi.json"})
    else:
        console.print(f"Serving on {url} (API docs: {url}{DOCS_PATH}); Ctrl-C stops.", markup=False)
    run(app, host=host, port=port)


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who holds the token (the actor).")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, author, approver, releaser or admin.")
    ],
    env: Annotated[
        list[str],
        typer.Option("--env", help="Environment the role holds in (repeatable; default: all)."),
    ] = [],  # noqa: B006
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime such as 90d or 12h (default: none).")
    ] = None,
    by: ByOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create a token; it is printed once and only its sha256 is stored."""
    from ..errors import InputError
    from ..identity import TokenOptions, create_token
    from ..monitor.policy import parse_duration

    try:
        lifetime = parse_duration(expires) if expires else None
    except ValueError as exc:
        raise InputError(f"--expires: {exc}.") from None
    options = TokenOptions(name=name, role=role, envs=tuple(env), expires=lifetime)
    created = create_token(_repo(repo), options, by=_by(by))
    rec = created.record
    if json_:
        emit_json({**_row(rec), "token": created.secret, "public_key": f"pgt_{rec.id}"})
        return
    console.print(created.secret, markup=False)
    console.print(
        f"Token {rec.id} for {rec.name} as {rec.role.value} "
        f"({', '.join(rec.envs) or 'every environment'}); shown once, store it now. "
        f"Langfuse SDK: public key pgt_{rec.id}, secret key the token.",
        markup=False,
    )


@token_app.command("list")
def list_(repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """List tokens: id, holder, role, environments, state (never a secret)."""
    from ..identity import list_tokens

    rows = [_row(t) for t in list_tokens(_repo(repo))]
    if json_:
        emit_json(rows)
        return
    print_table(
        ["id", "name", "role", "envs", "state", "expires"],
        [
            [
                r["id"],
                r["name"],
                r["role"],
                ",".join(r["envs"]) or "all",
                r["state"],
                r["expires_at"] or "never",
            ]
            for r in rows
        ],
    )


@token_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (see 'promptgov token list').")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "revoked",
    by: ByOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Revoke a token at once."""
    from ..identity import revoke_token

    rec = revoke_token(_repo(repo), token_id, by=_by(by), reason=reason)
    if json_:
        emit_json(_row(rec))
    else:
        console.print(f"Revoked token {rec.id} of {rec.name}.", markup=False)


def _row(rec: Any) -> dict[str, Any]:
    from ..model import utcnow

    return {
        "id": rec.id,
        "name": rec.name,
        "role": rec.role.value,
        "envs": list(rec.envs),
        "state": rec.state(utcnow()),
        "created_at": rec.created_at.isoformat(),
        "created_by": rec.created_by,
        "expires_at": rec.expires_at.isoformat() if rec.expires_at else None,
        "audit_seq": rec.audit_seq,
    }


def register(app: typer.Typer) -> None:
    """Attach ``serve`` and the ``token`` group."""
    app.command()(serve)
    app.add_typer(token_app, name="token")
