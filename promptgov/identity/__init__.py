"""Who is calling: API tokens (hashed, vouched for by the audit chain) and roles by environment.

::

    created = create_token(repo, TokenOptions(name="alice", role="approver", envs=("prod",)), by="ops")
    print(created.secret)                      # shown once
    principal = check_tokens(repo).authenticate(created.secret)
    principal.require(Role.APPROVER, "prod", action="approve")
"""

from __future__ import annotations

from ._roles import Grant, Principal, Role, RoleBinding, ServerPolicy
from ._tokens import (
    CREATE_ACTION,
    REVOKE_ACTION,
    TOKENS_FILE,
    CreatedToken,
    TokenCheck,
    TokenFile,
    TokenOptions,
    TokenRecord,
    check_tokens,
    create_token,
    hash_secret,
    list_tokens,
    load_file,
    revoke_token,
)

__all__ = [
    "CREATE_ACTION",
    "REVOKE_ACTION",
    "TOKENS_FILE",
    "CreatedToken",
    "Grant",
    "Principal",
    "Role",
    "RoleBinding",
    "ServerPolicy",
    "TokenCheck",
    "TokenFile",
    "TokenOptions",
    "TokenRecord",
    "check_tokens",
    "create_token",
    "hash_secret",
    "list_tokens",
    "load_file",
    "revoke_token",
]
