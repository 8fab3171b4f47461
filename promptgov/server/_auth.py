"""Who is calling: a token (Bearer, or HTTP Basic as Langfuse's SDK sends it), or a user a
trusted SSO proxy vouches for. Refusals never say which tokens exist or echo a credential."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..errors import NotAuthenticated
from ..identity import Principal, ServerPolicy, TokenCheck
from ..model import identity
from ._state import POLICY_FILES, TOKEN_FILES, ServerState

# Declared so the OpenAPI document shows both schemes; the header is parsed below.
_bearer = HTTPBearer(auto_error=False, description="A token from 'promptgov token create'.")
_basic = HTTPBasic(
    auto_error=False, description="Langfuse style: the token id as user, the token as password."
)


def server_state(request: Request) -> ServerState:
    """The app's :class:`ServerState`."""
    state: ServerState = request.app.state.promptgov
    return state


def _token(header: str) -> str:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthenticated("the Basic credentials are not valid base64.") from None
        # The token pair: public key = token id (pgt_<id>), secret key = the whole token.
        if sep and password and (not user or password.startswith(user + "_")):
            return password
    raise NotAuthenticated("send 'Authorization: Bearer <token>' or HTTP Basic with a token pair.")


def authenticate(request: Request, state: ServerState) -> Principal | None:
    """The caller, or None when the request carries no credential.

    A credential that is present but wrong is refused, never treated as anonymous.
    """
    header = request.headers.get("authorization")
    if header is not None:
        return state.tokens().authenticate(_token(header))
    name = state.options.trusted_proxy_header
    if name:
        user = request.headers.get(name)
        peer = request.client.host if request.client else None
        if user and state.options.trusts(peer):
            who = identity(user)
            repo = state.registry().repo
            return Principal(name=who, grants=state.policy().grants_for(repo.config, who))
    return None


async def policy(state: ServerState) -> ServerPolicy:
    """The ``server:`` policy, from memory on the event loop when unchanged on disk."""
    hit: ServerPolicy | None = state.cached("policy", POLICY_FILES)
    return hit if hit is not None else await run_in_threadpool(state.policy)


async def _caller(request: Request, state: ServerState) -> Principal | None:
    """:func:`authenticate`, on the event loop when the token check is in memory (the
    common case: a worker thread per request costs more than the whole answer)."""
    header = request.headers.get("authorization")
    check: TokenCheck | None = state.cached("tokens", TOKEN_FILES)
    if header is not None and check is not None:
        return check.authenticate(_token(header))  # without the lock a slow read may hold
    return await run_in_threadpool(authenticate, request, state)


async def reader(
    request: Request,
    _b: Annotated[object, Depends(_bearer)] = None,
    _c: Annotated[object, Depends(_basic)] = None,
) -> Principal | None:
    """The caller of a read: anyone when ``server.reads`` is ``open``, else someone."""
    state = server_state(request)
    who = await _caller(request, state)
    if who is None and (await policy(state)).reads != "open":
        raise NotAuthenticated("reads need a token on this server.")
    return who


async def writer(
    request: Request,
    _b: Annotated[object, Depends(_bearer)] = None,
    _c: Annotated[object, Depends(_basic)] = None,
) -> Principal:
    """The caller of a write: always someone, whose role the route then checks."""
    who = await _caller(request, server_state(request))
    if who is None:
        raise NotAuthenticated("writes need a token.")
    return who


Reader = Annotated[Principal | None, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]


async def _state(request: Request) -> ServerState:
    """:func:`server_state` as a dependency the event loop answers itself."""
    return server_state(request)


State = Annotated[ServerState, Depends(_state)]
