"""A Langfuse-compatible read of prompts, so an application using the ``langfuse`` SDK's
``get_prompt()`` / ``compile()`` can point ``LANGFUSE_HOST`` at promptgov unchanged.

Authentication is Langfuse's HTTP Basic: public key = the token id (``pgt_<id>``),
secret key = the whole token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from ..registry import Registry
from ._auth import Reader, State
from ._problems import PROBLEM_RESPONSES
from ._views import by_number, check_prompt_name, langfuse_view, selector

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["langfuse"])


@router.get("/api/public/v2/prompts/{name}", summary="A prompt in Langfuse's response shape")
def get_prompt(
    name: str,
    state: State,
    who: Reader,
    version: int | None = Query(default=None, ge=1, description="Langfuse's version number."),
    label: str | None = Query(default=None, description="production, latest or an environment."),
    resolve: bool | None = Query(default=None, description="Accepted and ignored."),
) -> dict[str, Any]:
    """Langfuse's ``Prompt``: ``type`` text or chat, ``version`` the position in the
    version list, ``labels`` the environments serving it."""
    check_prompt_name(name)
    production = state.policy().production_label

    def fn(reg: Registry) -> dict[str, Any]:
        semver = by_number(reg, name, version) if version is not None else None
        sel, _ = selector(reg, env=None, version=semver, label=label, production=production)
        return langfuse_view(reg, reg.get(f"{name}@{sel}"), production)

    return state.read(fn)
