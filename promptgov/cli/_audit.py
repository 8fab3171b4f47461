"""CLI commands of the audit log: verify, show, keygen, checkpoint, rotate-key, repair."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, err_console, print_table, repo_path

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..audit import AuditLog

KEY_ENV = "PROMPTGOV_AUDIT_KEY"

audit_app = typer.Typer(
    name="audit",
    help="The tamper-evident audit log: verify it, read it, sign checkpoints, manage keys.",
    no_args_is_help=True,
)

KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help=f"Private signing key file (default: ${KEY_ENV}, a path or the PEM itself).",
        show_default=False,
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor", help="Who is acting (default: the current OS user).", show_default=False
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command group to the main app."""
    app.add_typer(audit_app, name="audit")


def _root(repo: Path | None) -> Path:
    from ..audit import find_repo_root

    return find_repo_root(repo_path(repo))


def _log(repo: Path | None) -> AuditLog:
    from ..audit import AuditLog

    return AuditLog(_root(repo))


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _private_key(path: Path | None, root: Path) -> Ed25519PrivateKey:
    from ..audit import load_private_key
    from ..errors import InputError

    if path is not None:
        return load_private_key(path, repo_root=root)
    value = os.environ.get(KEY_ENV, "").strip()
    if not value:
        raise InputError(f"no signing key: pass --key FILE or set ${KEY_ENV} to the key file.")
    if value.startswith("-----BEGIN"):
        return load_private_key(value.encode(), repo_root=root)
    return load_private_key(Path(value).expanduser(), repo_root=root)


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A checkpoint file kept outside the repository."),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="The public key checkpoints must be signed by."),
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Check every entry, the hash chain and the signed checkpoints (exit 1 on any problem)."""
    from ..errors import VerificationFailed

    report = _log(repo).verify(checkpoint=checkpoint, public_key=public_key)
    if json_:
        emit_json(report.to_dict())
    if not report.ok:
        raise VerificationFailed(report.summary())
    if not json_:
        console.print(report.summary())
        for warning in report.warnings:
            err_console.print(f"note: {warning}")


@audit_app.command("show")
def show(
    prompt: Annotated[str | None, typer.Option("--prompt", help="Only this prompt.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action ('promote' includes 'emergency-promote')."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries at or after this time/date.")
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List audit entries, oldest first."""
    log = _log(repo)
    entries = list(log.entries(prompt=prompt, action=action, since=since))
    if action is not None and not entries:
        known = sorted({e.action for e in log.entries()})
        if action not in known:
            from ..errors import NotFound

            raise NotFound(
                f"no audit entry has action {action!r}; actions in this log: "
                f"{', '.join(known) or 'none yet'}."
            )
    if json_:
        emit_json([e.to_dict() for e in entries])
        return
    if not entries:
        console.print("no matching audit entries")
        return
    rows = []
    for e in entries:
        versions = f"{e.from_version or '—'} → {e.to_version}" if e.to_version else "—"
        outcome = e.outcome.value if hasattr(e.outcome, "value") else str(e.outcome)
        rows.append(
            [
                str(e.seq),
                e.time[:19].replace("T", " "),
                e.action,
                e.prompt or "—",
                e.env or "—",
                versions,
                e.actor,
                outcome,
                e.reason,
            ]
        )
    print_table(
        ["seq", "time (UTC)", "action", "prompt", "env", "versions", "actor", "outcome", "reason"],
        rows,
    )


@audit_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory outside the repository.")],
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create an Ed25519 key pair for signing checkpoints (private key 0600)."""
    from ..audit import find_repo_root, write_keypair
    from ..errors import NotFound

    try:
        root: Path | None = find_repo_root(repo_path(repo))
    except NotFound:
        root = None
    keys = write_keypair(out, repo_root=root)
    if json_:
        emit_json(
            {
                "key_id": keys.key_id,
                "private_key": str(keys.private_path),
                "public_key": str(keys.public_path),
            }
        )
        return
    console.print(f"key id {keys.key_id}")
    console.print(f"private key: {keys.private_path} (keep it secret; set ${KEY_ENV} to this path)")
    console.print(f"public key:  {keys.public_path} (publish it; verify with --public-key)")


@audit_app.command("checkpoint")
def checkpoint(key: KeyOpt = None, repo: RepoOpt = None, json_: JsonOpt = False) -> None:
    """Sign the log's current head and append it to audit/checkpoints.jsonl."""
    root = _root(repo)
    from ..audit import AuditLog

    result = AuditLog(root).checkpoint(_private_key(key, root))
    if json_:
        emit_json(result.to_dict())
    elif result.created:
        console.print(
            f"checkpoint signed by key {result.key_id}: entry {result.seq} {result.head[:16]}"
        )
    else:
        console.print(f"entry {result.seq} is already covered by the newest checkpoint")


@audit_app.command("rotate-key")
def rotate_key(
    new_key: Annotated[Path, typer.Option("--new-key", help="The new private key file.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the key is replaced.")],
    key: KeyOpt = None,
    actor: ActorOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Replace the signing key: a rotation entry signed by both keys, then a new checkpoint."""
    from ..audit import AuditLog, load_private_key

    root = _root(repo)
    old = _private_key(key, root)
    new = load_private_key(new_key, repo_root=root)
    entry = AuditLog(root).rotate_key(old, new, actor=_actor(actor), reason=reason)
    if json_:
        emit_json(entry.to_dict())
        return
    details: dict[str, Any] = entry.details
    console.print(
        f"key {details['old_key_id']} replaced by {details['new_key_id']} "
        f"(entry {entry.seq}, checkpoint signed by the new key)"
    )


@audit_app.command("repair")
def repair(
    actor: ActorOpt = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Recorded in the repair entry.")
    ] = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Remove a torn final entry left by a crash, recording that it did so."""
    result = _log(repo).repair(actor=_actor(actor), reason=reason)
    if json_:
        emit_json(result.to_dict())
    else:
        console.print(result.summary())
