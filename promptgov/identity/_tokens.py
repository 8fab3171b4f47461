"""API tokens: created once, stored only as the sha256 of their secret, vouched for by the
audit chain.

A token reads ``pgt_<id>_<secret>``: ``id`` is 12 hex characters (safe to print, log and
record), ``secret`` 256 random bits. ``identity/tokens.yml`` keeps each token's id, holder,
grant, expiry and the secret's sha256. Every creation and revocation is an audit entry
carrying the same facts, and a token counts only when its line agrees with the chain: a
line added or widened by hand, or a revocation removed, is a problem ``verify`` reports
and the server ignores.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .. import _yaml
from ..audit import AuditLog
from ..errors import InputError, NotAuthenticated, NotFound
from ..model import identity, utcnow, validate_model
from ..repo import Repo
from ..store.files import read_bytes
from ._roles import Grant, Principal, Role

#: Where the token hashes live, relative to the repository root.
TOKENS_FILE = "identity/tokens.yml"
TOKEN_PREFIX = "pgt"
_TOKEN_RE = re.compile(r"^pgt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_ID_RE = re.compile(r"^[0-9a-f]{12}$")
_HEADER = "# API tokens (promptgov token create|list|revoke): only sha256 hashes, never secrets.\n"
CREATE_ACTION = "token-create"
REVOKE_ACTION = "token-revoke"
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TokenRecord(BaseModel):
    """One token as stored: everything but its secret."""

    model_config = _FROZEN
    id: str = Field(pattern=_ID_RE.pattern, description="Public id, the token's second part.")
    name: str = Field(min_length=1, description="Who holds it: the actor of what it does.")
    role: Role
    envs: tuple[str, ...] = Field(default=(), description="Where the role holds; empty: all.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the secret part.")
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    audit_seq: int = Field(ge=1, description="The token-create audit entry that vouches for it.")

    def __repr__(self) -> str:
        return f"TokenRecord(id={self.id!r}, name={self.name!r}, role={self.role.value!r})"

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def facts(self) -> dict[str, Any]:
        """What the audit entry binds: every field that decides what the token may do."""
        return {
            "token_id": self.id,
            "name": self.name,
            "role": self.role.value,
            "envs": list(self.envs),
            "sha256": self.sha256,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class TokenFile(BaseModel):
    """``identity/tokens.yml``."""

    model_config = _FROZEN
    tokens: tuple[TokenRecord, ...] = ()


@dataclass(frozen=True)
class TokenOptions:
    """What a new token may do, and for how long."""

    name: str
    """Who will hold it (recorded as the actor of everything it does)."""
    role: Role | str
    envs: tuple[str, ...] = ()
    """Environments the role holds in (none: every environment)."""
    expires: timedelta | None = None
    """Lifetime from now (``None``: until revoked)."""


@dataclass(frozen=True)
class CreatedToken:
    """A new token: ``secret`` is shown once and stored nowhere."""

    record: TokenRecord
    secret: str = field(repr=False)


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def load_file(repo: Repo) -> TokenFile:
    """The token file as written (an absent file has no tokens).

    Raises:
        InvalidFile: the file is malformed.
    """
    raw = read_bytes(repo.root / TOKENS_FILE)
    if raw is None:
        return TokenFile()
    data = _yaml.loads(raw, TOKENS_FILE) or {}
    result: TokenFile = validate_model(TokenFile, data, TOKENS_FILE)
    return result


def create_token(repo: Repo, options: TokenOptions, *, by: str) -> CreatedToken:
    """Create a token for ``options.name``; the file and the audit entry in one unit of work.

    Raises:
        InputError: an unknown role or environment, an empty name or a non-positive lifetime.
    """
    by, name = identity(by), identity(options.name)
    if not name or not by:
        raise InputError("a token needs the holder's name and who creates it.")
    role = _role(options.role)
    for env in options.envs:
        repo.check_env(env)
    if options.expires is not None and options.expires <= timedelta(0):
        raise InputError("a token's lifetime must be positive.")
    now = utcnow()
    tokens = load_file(repo)
    taken = {t.id for t in tokens.tokens}
    token_id = secrets.token_hex(6)
    while token_id in taken:
        token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with repo.edit() as e:
        draft = TokenRecord(
            id=token_id,
            name=name,
            role=role,
            envs=tuple(dict.fromkeys(options.envs)),
            sha256=hash_secret(secret),
            created_at=now,
            created_by=by,
            expires_at=now + options.expires if options.expires else None,
            audit_seq=1,  # the entry's number, known once staged below
        )
        seq = e.audit(
            action=CREATE_ACTION,
            actor=by,
            reason=f"token {token_id} for {name} as {role.value}",
            details=draft.facts(),
        )
        record = draft.model_copy(update={"audit_seq": seq})
        _write(e, TokenFile(tokens=(*tokens.tokens, record)))
    return CreatedToken(record, f"{TOKEN_PREFIX}_{token_id}_{secret}")


def revoke_token(repo: Repo, token_id: str, *, by: str, reason: str = "revoked") -> TokenRecord:
    """Revoke a token at once; the file and the audit entry in one unit of work.

    Raises:
        NotFound: no token has that id.
        InputError: it is already revoked.
    """
    by = identity(by)
    tokens = load_file(repo)
    current = next((t for t in tokens.tokens if t.id == token_id), None)
    if current is None:
        raise NotFound(
            f"no token has id {token_id!r}.", cli_hint="See 'promptgov token list'.", token=token_id
        )
    if current.revoked_at is not None:
        raise InputError(f"token {token_id} is already revoked.")
    revoked = current.model_copy(update={"revoked_at": utcnow(), "revoked_by": by})
    with repo.edit() as e:
        e.audit(
            action=REVOKE_ACTION,
            actor=by,
            reason=reason or "revoked",
            details={"token_id": token_id},
        )
        _write(
            e, TokenFile(tokens=tuple(revoked if t.id == token_id else t for t in tokens.tokens))
        )
    return revoked


def list_tokens(repo: Repo) -> list[TokenRecord]:
    """Every token of the file, oldest first (hashes included, secrets never stored)."""
    return list(load_file(repo).tokens)


def _write(e: Any, tokens: TokenFile) -> None:
    data = {"tokens": [t.model_dump(mode="json", exclude_none=True) for t in tokens.tokens]}
    e.write(TOKENS_FILE, _yaml.dump_block(data, _HEADER).encode())


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InputError(
            f"unknown role {value!r}; use one of {', '.join(r.value for r in Role)}."
        ) from None


# --------------------------------------------------------------------------- checking


@dataclass
class TokenCheck:
    """The tokens the audit chain vouches for, and what disagrees with it."""

    tokens: dict[str, TokenRecord]
    problems: list[str]

    def authenticate(self, token: str, *, now: datetime | None = None) -> Principal:
        """The holder of ``token``, if it is vouched for, unexpired and not revoked.

        Raises:
            NotAuthenticated: with one message for every refusal, so a caller learns nothing
                about which tokens exist; the token itself is never part of it.
        """
        m = _TOKEN_RE.match(token)
        record = self.tokens.get(m[1]) if m else None
        if (
            m is None
            or record is None
            or not hmac.compare_digest(record.sha256, hash_secret(m[2]))
            or record.state(now or utcnow()) != "active"
        ):
            raise NotAuthenticated("this token is not valid (unknown, expired or revoked).")
        return Principal(
            name=record.name,
            grants=(Grant(role=record.role, envs=record.envs),),
            token_id=record.id,
        )


def check_tokens(repo: Repo) -> TokenCheck:
    """Replay the token entries of the audit chain against ``identity/tokens.yml``.

    A line counts only when a ``token-create`` entry states its exact facts; a revocation
    in the chain counts although the file lost it. Read-only.

    Raises:
        InvalidFile: the token file is malformed.
    """
    created: dict[str, dict[str, Any]] = {}
    revoked: set[str] = set()
    for entry in AuditLog(repo.root).entries():
        if entry.action == CREATE_ACTION:
            created[str(entry.details.get("token_id"))] = {**entry.details, "seq": entry.seq}
        elif entry.action == REVOKE_ACTION:
            revoked.add(str(entry.details.get("token_id")))
    vouched: dict[str, TokenRecord] = {}
    problems: list[str] = []
    for record in load_file(repo).tokens:
        facts = created.get(record.id)
        if facts is None or facts["seq"] != record.audit_seq:
            problems.append(f"token {record.id} has no token-create audit entry; it is ignored")
            continue
        if {k: facts.get(k) for k in record.facts()} != record.facts():
            problems.append(
                f"token {record.id} differs from its audit entry #{record.audit_seq}; it is ignored"
            )
            continue
        if record.id in revoked and record.revoked_at is None:
            problems.append(f"token {record.id} was revoked in the audit log; it stays revoked")
            continue
        vouched[record.id] = record
    return TokenCheck(vouched, problems)
