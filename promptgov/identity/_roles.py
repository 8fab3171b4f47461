"""Roles, who holds them, and the ``server:`` section of ``promptgov.yml`` that maps SSO
identities to roles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidFile, PermissionDenied
from ..model import ProjectConfig, identity_key

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Role(StrEnum):
    """What an identity may do over the API; each role includes the ones before it."""

    VIEWER = "viewer"
    """Read prompts, history, evals and the audit log."""
    AUTHOR = "author"
    """Also add versions, run evals and gates, report complaints."""
    APPROVER = "approver"
    """Also approve versions, flag them and clear quarantines."""
    RELEASER = "releaser"
    """Also promote and roll back."""
    ADMIN = "admin"
    """Everything, in every environment."""

    @property
    def rank(self) -> int:
        """Position in the order above: a higher rank includes every lower one."""
        return list(Role).index(self)


class Grant(BaseModel):
    """A role, in some environments (none listed: every environment)."""

    model_config = _FROZEN
    role: Role
    envs: tuple[str, ...] = Field(
        default=(), description="Environments the role holds in; empty means all."
    )

    def allows(self, role: Role, env: str | None) -> bool:
        """Whether this grant covers ``role`` in ``env`` (``None``: an action without one)."""
        if self.role.rank < role.rank:
            return False
        return self.role is Role.ADMIN or not self.envs or env is None or env in self.envs


class RoleBinding(BaseModel):
    """One line of ``server.roles``: an identity (or ``@group``) and its grant."""

    model_config = _FROZEN
    identity: str = Field(description="A name as the SSO proxy sends it, or '@group'.")
    role: Role
    envs: tuple[str, ...] = ()


class ServerPolicy(BaseModel):
    """``server:`` in ``promptgov.yml``: who may read, and what SSO identities may do."""

    model_config = _FROZEN
    reads: Literal["open", "token"] = Field(
        default="token", description="open: anyone may read; token: reads need a token too."
    )
    production_label: str = Field(
        default="prod",
        description="The environment Langfuse's 'production' label stands for.",
    )
    roles: tuple[RoleBinding, ...] = Field(
        default=(), description="Roles of identities signed in through a trusted SSO proxy."
    )

    @classmethod
    def from_config(cls, config: ProjectConfig) -> ServerPolicy:
        """Validate the ``server:`` section (absent: the defaults).

        Raises:
            InvalidFile: the section is malformed or names an unknown environment.
        """
        raw: Any = (config.model_extra or {}).get("server") or {}
        try:
            policy = cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise InvalidFile(
                f"promptgov.yml: server.{loc}: {first['msg']}. See docs/server.md."
            ) from None
        known = set(config.env_names)
        for env in [policy.production_label, *(e for b in policy.roles for e in b.envs)]:
            if env not in known:
                raise InvalidFile(
                    f"promptgov.yml: server names unknown environment {env!r}; "
                    f"configured: {', '.join(config.env_names)}."
                )
        return policy

    def grants_for(self, config: ProjectConfig, who: str) -> tuple[Grant, ...]:
        """The grants of an SSO identity: its own bindings and its groups'."""
        key = identity_key(who)
        out = []
        for b in self.roles:
            members = (
                config.groups.get(b.identity[1:], [])
                if b.identity.startswith("@")
                else [b.identity]
            )
            if any(identity_key(m) == key for m in members):
                out.append(Grant(role=b.role, envs=b.envs))
        return tuple(out)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as authenticated: the actor of everything they do."""

    name: str
    grants: tuple[Grant, ...]
    #: The token that authenticated the call (``None``: the SSO proxy vouched).
    token_id: str | None = None

    @property
    def credential(self) -> str:
        """How the call was authenticated, as the audit log records it (never a secret)."""
        return f"token {self.token_id}" if self.token_id else "sso-proxy"

    def allows(self, role: Role, env: str | None = None) -> bool:
        """Whether some grant covers ``role`` in ``env``."""
        return any(g.allows(role, env) for g in self.grants)

    def require(self, role: Role, env: str | None = None, *, action: str) -> None:
        """Refuse unless a grant covers ``role`` in ``env``.

        Raises:
            PermissionDenied: naming the action and the role it needs, never a credential.
        """
        if not self.allows(role, env):
            where = f" in {env}" if env else ""
            raise PermissionDenied(
                f"{self.name} may not {action}{where}: it needs the {role.value} role"
                f"{where}; ask an admin for a token with it.",
            )
