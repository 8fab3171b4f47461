"""Who is calling: a token (Bearer, or HTTP Basic as Langfuse's SDK sends it), or a user a
trusted SSO proxy vouches for. Refusals never say which tokens exist or echo a credential."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBearer

from ..errors import NotAuthenticated
from ..identity import Principal
from ..model import identity
from ._state import ServerState

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


def reader(
    request: Request,
    _b: Annotated[object, Depends(_bearer)] = None,
    _c: Annotated[object, Depends(_basic)] = None,
) -> Principal | None:
    """The caller of a read: anyone when ``server.reads`` is ``open``, else someone."""
    state = server_state(request)
    who = authenticate(request, state)
    if who is None and state.policy().reads != "open":
        raise NotAuthenticated("reads need a token on this server.")
    return who


def writer(
    request: Request,
    _b: Annotated[object, Depends(_bearer)] = None,
    _c: Annotated[object, Depends(_basic)] = None,
) -> Principal:
    """The caller of a write: always someone, whose role the route then checks."""
    who = authenticate(request, server_state(request))
    if who is None:
        raise NotAuthenticated("writes need a token.")
    return who


Reader = Annotated[Principal | None, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
State = Annotated[ServerState, Depends(server_state)]
