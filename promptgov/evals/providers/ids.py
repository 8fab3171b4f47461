"""Which model a provider id names, spelled one way, so two spellings compare equal.

promptfoo reads ``openai:<model>`` as ``openai:chat:<model>`` and ``anthropic:<model>`` as
``anthropic:messages:<model>`` (its provider registry), so those pairs are one model;
``ollama:<model>`` is ``ollama:completion:<model>``, a different API from ``ollama:chat:``.
A dated snapshot (``gpt-4o-mini-2024-07-18``) is not its alias (``gpt-4o-mini``): the
alias moves when the vendor updates it. A python script is one provider however it is
named: ``file://x.py``, ``python:x.py`` and ``python:x.py:default`` (the id promptfoo's
output files record) are the same, and ``file://x.py:fn`` is ``python:x.py:fn``. Any other
id is compared as written.
"""

from __future__ import annotations

__all__ = ["model_key", "same_model"]

#: Per family: the API an id without one means, and the spellings of each API.
_FAMILIES: dict[str, tuple[str, dict[str, str]]] = {
    "openai": (
        "chat",
        {
            "chat": "chat",
            "completion": "completion",
            "embedding": "embedding",
            "embeddings": "embedding",
        },
    ),
    "anthropic": ("messages", {"messages": "messages", "completion": "completion"}),
    "ollama": (
        "completion",
        {
            "chat": "chat",
            "completion": "completion",
            "embedding": "embedding",
            "embeddings": "embedding",
        },
    ),
}


def model_key(provider_id: str) -> str:
    """``family:api:model`` for the families above, else the id itself (stripped)."""
    pid = provider_id.strip()
    if pid.startswith("python:") and pid.endswith(".py:default"):
        return "file://" + pid[len("python:") : -len(":default")]
    if pid.startswith("python:"):
        return "file://" + pid[len("python:") :]
    family, sep, rest = pid.partition(":")
    if not sep or family not in _FAMILIES or not rest:
        return pid
    default_api, apis = _FAMILIES[family]
    api, sep, model = rest.partition(":")
    if sep and api in apis and model:
        return f"{family}:{apis[api]}:{model}"
    return f"{family}:{default_api}:{rest}"


def same_model(a: str, b: str) -> bool:
    """Whether two provider ids name the same model through the same API."""
    return model_key(a) == model_key(b)
