"""How a version looks over HTTP: promptgov's own shape and Langfuse's."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import InputError, NotFound
from ..model import ChatMessage, ModelSpec, PromptCard, Variable, check_name
from ..registry import LATEST, PromptVersion, Registry


class PromptView(BaseModel):
    """One version as ``GET /v1/prompts/{name}`` serves it: immutable facts only, plus the
    environment it was resolved through."""

    name: str
    version: str
    sha256: str = Field(description="The content hash: log it beside every output.")
    env: str | None = Field(description="The environment asked for, if any.")
    type: Literal["text", "chat"]
    template: str | None = None
    messages: list[ChatMessage] | None = None
    model: ModelSpec
    variables: list[Variable]
    card: PromptCard


def check_prompt_name(name: str) -> str:
    """``name`` if valid; an :class:`~promptgov.errors.UnsafePath` (400) otherwise."""
    from ..errors import UnsafePath

    try:
        return check_name(name)
    except ValueError as exc:
        raise UnsafePath(f"{exc}.", prompt=name[:100]) from None


def selector(
    registry: Registry,
    *,
    env: str | None,
    version: str | None,
    label: str | None,
    production: str,
) -> tuple[str, str | None]:
    """The ``@…`` selector of a request and the environment it names (if any).

    ``label`` is Langfuse's word: ``production`` is the environment ``production``
    (``server.production_label``), ``latest`` the newest version, any environment's name
    that environment. No selector: the production environment.
    """
    given = [x for x in (env, version, label) if x is not None]
    if len(given) > 1:
        raise InputError("give one of env, version or label, not several.")
    if version is not None:
        return version, None
    if label is not None:
        if label == LATEST:
            return LATEST, None
        env = production if label == "production" else label
        if env not in registry.repo.config.env_names:
            raise NotFound(f"no label {label!r}: use production, latest or an environment name.")
    env = env or production
    registry.repo.check_env(env)
    return env, env


def prompt_view(v: PromptVersion, env: str | None) -> PromptView:
    """The /v1 body of ``v``."""
    c = v.content
    return PromptView(
        name=v.name,
        version=v.version,
        sha256=v.sha256,
        env=env,
        type="text" if c.template is not None else "chat",
        template=c.template,
        messages=list(c.messages) if c.messages is not None else None,
        model=c.model,
        variables=list(c.variables),
        card=v.card,
    )


def etag(body: bytes) -> str:
    """A strong validator of a response body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def dump(data: Any) -> bytes:
    """Compact JSON bytes (what the cache keeps and the ETag covers)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def langfuse_view(registry: Registry, v: PromptVersion, production: str) -> dict[str, Any]:
    """``v`` in the shape of Langfuse's ``GET /api/public/v2/prompts/{name}``.

    Langfuse numbers versions 1, 2, 3…: here that is the position in the prompt's
    version list. ``labels`` are the environments serving it (``production`` for the
    production one) and ``latest``; ``config`` holds the model parameters, the provider
    and promptgov's own version and hash.
    """
    entry = registry.entry(v.name)
    number = next(i for i, r in enumerate(entry.versions, 1) if r.version == v.version)
    labels = [
        "production" if env == production else env
        for env, state in entry.environments.items()
        if state.current == v.version
    ]
    latest = entry.latest()
    if latest is not None and latest.version == v.version:
        labels.append(LATEST)
    c = v.content
    prompt: Any = (
        c.template
        if c.template is not None
        else [
            {"type": "chatmessage", "role": m.role, "content": m.content} for m in c.messages or []
        ]
    )
    return {
        "id": f"{v.name}@{v.version}",
        "name": v.name,
        "version": number,
        "type": "text" if c.template is not None else "chat",
        "prompt": prompt,
        "config": {
            **c.model.parameters,
            "provider": c.model.provider,
            "promptgov_version": v.version,
            "sha256": v.sha256,
        },
        "labels": labels,
        "tags": list(v.card.tags),
        "commitMessage": v.record.message,
        "resolutionGraph": None,
    }


def by_number(registry: Registry, name: str, number: int) -> str:
    """The semantic version at Langfuse version ``number`` (1-based)."""
    versions = registry.entry(name).versions
    if not 1 <= number <= len(versions):
        raise NotFound(f"{name} has no version {number} (it has {len(versions)}).", prompt=name)
    return versions[number - 1].version
