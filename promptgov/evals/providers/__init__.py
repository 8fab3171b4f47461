"""Provider loading: a promptfoo provider entry in, a ready :class:`Provider` out.

One module per provider family; this registry is the only place that knows them all.
HTTP-based providers are imported only when a config names one, so echo- and
python-only runs never import httpx.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .cache import ResponseCache, cache_key
from .interface import Provider, ProviderConfigError

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "KNOWN_PROVIDER_PREFIXES",
    "ResponseCache",
    "cache_key",
    "get_default_embedder",
    "get_default_grader",
    "load_provider",
    "load_providers",
]

#: The provider ids (exact, or prefixes ending in ``:``) this engine understands.
KNOWN_PROVIDER_PREFIXES: tuple[str, ...] = (
    "echo",
    "python:",
    "file://",
    "exec:",
    "http",
    "https",
    "openai:chat:",
    "openai:completion:",
    "openai:embedding:",
    "anthropic:messages:",
    "ollama:chat:",
)

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
    provider = _build(
        provider_path,
        explicit_id=explicit_id,
        config=config,
        label=_render_env(str(label), environ) if label else None,
        base_dir=base_dir,
        env=environ,
        max_concurrency=max(1, int(max_concurrency)),
        cache=cache if cache is not None else ResponseCache.from_env(environ),
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


def _unknown(provider_path: str) -> ProviderConfigError:
    known = ", ".join(KNOWN_PROVIDER_PREFIXES)
    return ProviderConfigError(
        f"unknown provider {provider_path!r}: use an id starting with one of {known}"
    )


def _build(
    provider_path: str,
    *,
    explicit_id: str | None,
    config: dict[str, Any],
    label: str | None,
    base_dir: Path,
    env: dict[str, str],
    max_concurrency: int,
    cache: ResponseCache,
) -> Provider:
    """Dispatch on the id's prefix; imports each family's module only when it is named."""
    if provider_path == "echo":
        from .echo import EchoProvider

        return EchoProvider(explicit_id or "echo", config, label)
    if provider_path.startswith("python:") or (
        provider_path.startswith("file://")
        and re.search(r"\.py(:[^/\\:]+)?$", provider_path) is not None
    ):
        return _python(provider_path, explicit_id, config, label, base_dir, cache, max_concurrency)
    if provider_path.startswith("exec:"):
        from .exec_ import ExecProvider

        return ExecProvider(
            provider_path,
            config,
            label,
            command=provider_path[len("exec:") :],
            base_dir=base_dir,
            cache=cache,
        )
    if provider_path in ("http", "https") or provider_path.startswith(("http://", "https://")):
        from .http import HttpProvider

        return HttpProvider(
            explicit_id or provider_path,
            config,
            label,
            url=None if provider_path in ("http", "https") else provider_path,
            env=env,
            base_dir=base_dir,
            cache=cache,
            max_concurrency=max_concurrency,
        )
    if provider_path.startswith("openai:"):
        from .openai import make_openai_provider

        return make_openai_provider(
            provider_path,
            explicit_id=explicit_id,
            config=config,
            label=label,
            env=env,
            cache=cache,
            max_concurrency=max_concurrency,
        )
    for prefix, (module, cls_name) in _MODEL_APIS.items():
        if provider_path.startswith(prefix):
            cls = getattr(importlib.import_module(module, __package__), cls_name)
            return cls(  # type: ignore[no-any-return]
                explicit_id or provider_path,
                config,
                label,
                model=provider_path[len(prefix) :],
                env=env,
                cache=cache,
                max_concurrency=max_concurrency,
            )
    raise _unknown(provider_path)


#: ``<prefix><model>`` providers of one wire format each: prefix → (module, class).
_MODEL_APIS: dict[str, tuple[str, str]] = {
    "anthropic:messages:": (".anthropic", "AnthropicMessagesProvider"),
    "ollama:chat:": (".ollama", "OllamaChatProvider"),
}


def _python(
    provider_path: str,
    explicit_id: str | None,
    config: dict[str, Any],
    label: str | None,
    base_dir: Path,
    cache: ResponseCache,
    max_concurrency: int,
) -> Provider:
    from .python import PythonProvider, split_script_ref

    prefix = "python:" if provider_path.startswith("python:") else "file://"
    rel, function = split_script_ref(provider_path[len(prefix) :])
    script = (base_dir / rel).expanduser()
    if not script.is_file():
        raise ProviderConfigError(
            f"provider {provider_path}: python file {script} not found; "
            "paths are relative to the config file"
        )
    # promptfoo names a string-given script provider python:<path>:<function|default>.
    default_id = f"python:{rel}:{function or 'default'}"
    return PythonProvider(
        explicit_id or default_id,
        config,
        label,
        script=script,
        function=function,
        base_dir=base_dir,
        cache=cache,
        max_concurrency=max_concurrency,
    )


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
