"""Provider loading: a promptfoo provider entry in, a ready :class:`Provider` out.

One module per provider family, the interface in :mod:`.interface`, and the one table that
maps provider ids to families in :mod:`._registry`; this module turns a config entry (any of
promptfoo's spellings, ``{{ env.X }}`` references, ``file://providers.yaml``) into a call to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._registry import KNOWN_PROVIDER_PREFIXES, PROVIDER_TABLE, BuildRequest, build
from .cache import ResponseCache, cache_key
from .interface import Provider, ProviderConfigError

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "KNOWN_PROVIDER_PREFIXES",
    "PROVIDER_TABLE",
    "ResponseCache",
    "cache_key",
    "get_default_embedder",
    "get_default_grader",
    "load_provider",
    "load_providers",
]

#: Sizes thread pools and HTTP connection pools when the runner does not say.
DEFAULT_MAX_CONCURRENCY = 4

#: promptfoo 0.123.1's default OpenAI grading and embedding models.
DEFAULT_GRADER_MODEL = "gpt-5.6-sol"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-large"

_ENV_REF = re.compile(r"\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ENTRY_KEYS = ("id", "label", "config", "prompts", "transform", "delay", "env", "inputs")


def _render_env(value: Any, env: Mapping[str, str]) -> Any:
    """Expand ``{{ env.NAME }}`` in every string of ``value`` (promptfoo renders these at load)."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: env.get(m.group(1), ""), value)
    if isinstance(value, list):
        return [_render_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _render_env(v, env) for k, v in value.items()}
    return value


def _normalise_entry(spec: Any) -> dict[str, Any]:
    """Turn any promptfoo provider entry form into ``{id, label, config, …}``."""
    if isinstance(spec, str):
        return {"id": spec}
    if isinstance(spec, Mapping):
        entry = dict(spec)
        if "id" in entry:
            return entry
        # ProviderOptionsMap: {"openai:chat:gpt-4o": {config: …}}
        if len(entry) == 1:
            ((key, value),) = entry.items()
            if isinstance(key, str) and (value is None or isinstance(value, Mapping)):
                return {**dict(value or {}), "id": key, "_from_map": True}
        raise ProviderConfigError(
            f"provider entry {dict(entry)!r} has no 'id': give a provider id such as 'echo' "
            "or 'openai:chat:gpt-4o-mini'"
        )
    raise ProviderConfigError(
        f"provider entry {spec!r} is not a string or a mapping: give a provider id such as 'echo'"
    )


def _read_provider_file(ref: str, base_dir: Path) -> list[Any]:
    """The entries of a ``file://providers.yaml`` (one mapping or a list of them)."""
    import yaml  # only configs that reference provider files pay for the parser

    path = (base_dir / ref[len("file://") :]).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProviderConfigError(
            f"cannot read provider file {path}: {exc.strerror or exc}"
        ) from exc
    try:
        data = yaml.safe_load(text) if path.suffix != ".json" else __import__("json").loads(text)
    except Exception as exc:
        raise ProviderConfigError(f"provider file {path} is not valid YAML/JSON: {exc}") from exc
    entries = data if isinstance(data, list) else [data]
    for entry in entries:
        if not isinstance(entry, Mapping) or not entry.get("id"):
            raise ProviderConfigError(f"every provider in {path} must be a mapping with an 'id'")
    return entries


def _is_provider_file(ref: str) -> bool:
    return ref.startswith("file://") and ref.lower().endswith((".yaml", ".yml", ".json"))


def load_providers(
    specs: Any,
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    cache: ResponseCache | None = None,
) -> list[Provider]:
    """Load a config's ``providers:``/``targets:`` value (string, entry, or list of entries).

    ``file://providers.yaml`` entries expand to every provider the file lists, as in promptfoo.

    Raises:
        ProviderConfigError: an entry is malformed or names an unknown provider.
    """
    items = specs if isinstance(specs, list) else [specs]
    out: list[Provider] = []
    for item in items:
        if isinstance(item, str) and _is_provider_file(item):
            for entry in _read_provider_file(item, base_dir):
                out.append(
                    load_provider(
                        entry,
                        base_dir=base_dir,
                        env=env,
                        max_concurrency=max_concurrency,
                        cache=cache,
                    )
                )
        else:
            out.append(
                load_provider(
                    item, base_dir=base_dir, env=env, max_concurrency=max_concurrency, cache=cache
                )
            )
    return out


def load_provider(
    spec: str | Mapping[str, Any],
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    cache: ResponseCache | None = None,
) -> Provider:
    """Build the provider a promptfoo provider entry describes.

    ``spec`` is a provider id (``"echo"``), an entry ``{id, label, config, prompts,
    transform, delay}``, a ``{"<id>": {config…}}`` map, or ``file://providers.yaml``
    holding exactly one entry. ``env`` defaults to ``os.environ`` and is used for
    ``{{ env.X }}`` references, API keys and base URLs. ``max_concurrency`` sizes
    connection and thread pools. Nothing touches the network here.

    Raises:
        ProviderConfigError: the entry is malformed, names an unknown provider, or names
            a script that does not exist.
    """
    environ: dict[str, str] = dict(os.environ if env is None else env)
    if isinstance(spec, str) and _is_provider_file(spec):
        entries = _read_provider_file(spec, base_dir)
        if len(entries) != 1:
            raise ProviderConfigError(
                f"{spec} lists {len(entries)} providers; name it under 'providers:' to load all"
            )
        spec = entries[0]
    entry = _normalise_entry(spec)
    entry_env = entry.get("env")
    if isinstance(entry_env, Mapping):
        environ.update({str(k): str(v) for k, v in entry_env.items()})
    provider_path = _render_env(str(entry["id"]), environ)
    config = _render_env(dict(entry.get("config") or {}), environ)
    if not isinstance(entry.get("config") or {}, Mapping):
        raise ProviderConfigError(f"provider {provider_path}: 'config' must be a mapping")
    # promptfoo keeps an explicit entry id for display; a bare string gets the provider's own.
    explicit_id = provider_path if isinstance(spec, Mapping) and "id" in spec else None
    label = entry.get("label")
    provider = build(
        BuildRequest(
            provider_path=provider_path,
            explicit_id=explicit_id,
            config=config,
            label=_render_env(str(label), environ) if label else None,
            base_dir=base_dir,
            env=environ,
            max_concurrency=max(1, int(max_concurrency)),
            cache=cache if cache is not None else ResponseCache.from_env(environ),
        )
    )
    delay = entry.get("delay")
    if delay is not None:
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ProviderConfigError(
                f"provider {provider_path}: 'delay' must be a number of ms, got {delay!r}"
            )
        provider.delay = int(delay)
    prompts = entry.get("prompts")
    if prompts is not None:
        provider.prompts = [str(p) for p in (prompts if isinstance(prompts, list) else [prompts])]
    transform = entry.get("transform")
    if transform is not None:
        provider.transform = str(transform)
    return provider


def get_default_grader(
    env: Mapping[str, str] | None = None,
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    cache: ResponseCache | None = None,
) -> Provider | None:
    """The grader for model-graded assertions when the config names none.

    An OpenAI-compatible chat provider when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL``
    (or ``OPENAI_API_BASE_URL``) is set, so a local vLLM/Ollama endpoint can grade
    offline; ``PROMPTFOO_DEFAULT_GRADER_MODEL`` picks the model. None when nothing is set.
    """
    environ = dict(os.environ if env is None else env)
    if not any(
        environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE_URL")
    ):
        return None
    model = environ.get("PROMPTFOO_DEFAULT_GRADER_MODEL") or DEFAULT_GRADER_MODEL
    return load_provider(
        f"openai:chat:{model}",
        base_dir=Path.cwd(),
        env=environ,
        max_concurrency=max_concurrency,
        cache=cache,
    )


def _has_openai_endpoint(env: Mapping[str, str]) -> bool:
    return any(env.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE_URL"))


def get_default_embedder(
    env: Mapping[str, str] | None = None,
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    cache: ResponseCache | None = None,
) -> Provider | None:
    """The embedding provider for ``similar`` when the config names none.

    Same rule as :func:`get_default_grader`; ``PROMPTFOO_DEFAULT_EMBEDDING_MODEL`` picks
    the model. None when no OpenAI-compatible endpoint is configured.
    """
    environ = dict(os.environ if env is None else env)
    if not _has_openai_endpoint(environ):
        return None
    model = environ.get("PROMPTFOO_DEFAULT_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL
    return load_provider(
        f"openai:embedding:{model}",
        base_dir=Path.cwd(),
        env=environ,
        max_concurrency=max_concurrency,
        cache=cache,
    )
