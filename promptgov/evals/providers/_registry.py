"""The one provider table: which provider id builds which class.

Dispatch (:func:`build`), validation (:func:`unknown`'s message, ``KNOWN_PROVIDER_PREFIXES``)
and the provider list in ``docs/evals.md`` (checked by a test) all read :data:`PROVIDER_TABLE`,
so adding a provider family is one row here and one module beside this file. Each row's
builder imports its module only when a config names it, so echo- and python-only runs never
import an HTTP client.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import ResponseCache
from .interface import Provider, ProviderConfigError

__all__ = ["KNOWN_PROVIDER_PREFIXES", "PROVIDER_TABLE", "BuildRequest", "ProviderFamily", "build"]

_PY_FILE = re.compile(r"\.py(:[^/\\:]+)?$")
_JS_FILE = re.compile(r"\.[cm]?[jt]s$", re.IGNORECASE)


@dataclass(frozen=True)
class BuildRequest:
    """Everything a family's builder needs to construct one provider."""

    provider_path: str
    #: The entry's own ``id`` when given as a mapping (promptfoo keeps it for display).
    explicit_id: str | None
    config: dict[str, Any]
    label: str | None
    base_dir: Path
    env: dict[str, str]
    max_concurrency: int
    cache: ResponseCache


@dataclass(frozen=True)
class ProviderFamily:
    """One row: the ids it answers to, and how to build it."""

    #: The ids as users write them (exact, or prefixes ending in ``:``), for messages and docs.
    ids: tuple[str, ...]
    matches: Callable[[str], bool]
    build: Callable[[BuildRequest], Provider]


def _echo(r: BuildRequest) -> Provider:
    from .echo import EchoProvider

    return EchoProvider(r.explicit_id or "echo", r.config, r.label)


def _python(r: BuildRequest) -> Provider:
    from .python import PythonProvider, split_script_ref

    prefix = "python:" if r.provider_path.startswith("python:") else "file://"
    rel, function = split_script_ref(r.provider_path[len(prefix) :])
    script = (r.base_dir / rel).expanduser()
    if not script.is_file():
        raise ProviderConfigError(
            f"provider {r.provider_path}: python file {script} not found; "
            "paths are relative to the config file"
        )
    # promptfoo names a string-given script provider python:<path>:<function|default>.
    default_id = f"python:{rel}:{function or 'default'}"
    return PythonProvider(
        r.explicit_id or default_id,
        r.config,
        r.label,
        script=script,
        function=function,
        base_dir=r.base_dir,
        cache=r.cache,
        env=r.env,
        max_concurrency=r.max_concurrency,
    )


def _exec(r: BuildRequest) -> Provider:
    from .exec_ import ExecProvider

    return ExecProvider(
        r.provider_path,
        r.config,
        r.label,
        command=r.provider_path[len("exec:") :],
        base_dir=r.base_dir,
        cache=r.cache,
        env=r.env,
    )


def _http(r: BuildRequest) -> Provider:
    from .http import HttpProvider

    bare = r.provider_path in ("http", "https")
    return HttpProvider(
        r.explicit_id or r.provider_path,
        r.config,
        r.label,
        url=None if bare else r.provider_path,
        env=r.env,
        base_dir=r.base_dir,
        cache=r.cache,
        max_concurrency=r.max_concurrency,
    )


def _openai(r: BuildRequest) -> Provider:
    from .openai import make_openai_provider

    return make_openai_provider(
        r.provider_path,
        explicit_id=r.explicit_id,
        config=r.config,
        label=r.label,
        env=r.env,
        cache=r.cache,
        max_concurrency=r.max_concurrency,
    )


def _model_api(prefix: str, module: str, class_name: str) -> ProviderFamily:
    """A ``<prefix><model>`` family of one wire format, built by ``module.class_name``."""

    def build_one(r: BuildRequest) -> Provider:
        cls = getattr(importlib.import_module(module, __package__), class_name)
        return cls(  # type: ignore[no-any-return]
            r.explicit_id or r.provider_path,
            r.config,
            r.label,
            model=r.provider_path[len(prefix) :],
            env=r.env,
            cache=r.cache,
            max_concurrency=r.max_concurrency,
        )

    return ProviderFamily((prefix,), lambda path: path.startswith(prefix), build_one)


def _javascript(r: BuildRequest) -> Provider:
    from .javascript import JavascriptProvider
    from .python import call_timeout_s

    rel = r.provider_path.removeprefix("file://")
    path = r.base_dir / rel
    if not path.is_file():
        raise ProviderConfigError(f"provider {r.provider_path}: file {path} not found")
    options: dict[str, Any] = {"config": r.config}
    if r.label:
        options["label"] = r.label
    return JavascriptProvider(
        r.explicit_id or r.provider_path,
        path,
        options,
        r.label,
        timeout_s=call_timeout_s(r.config, r.env, what=r.provider_path),
    )


#: Checked in order; the first row whose ``matches`` accepts the id builds the provider.
PROVIDER_TABLE: tuple[ProviderFamily, ...] = (
    ProviderFamily(("echo",), lambda path: path == "echo", _echo),
    ProviderFamily(
        ("python:", "file://"),
        lambda path: (
            path.startswith("python:")
            or (path.startswith("file://") and _PY_FILE.search(path) is not None)
        ),
        _python,
    ),
    ProviderFamily(
        ("file://provider.js",),
        lambda path: path.startswith("file://") and _JS_FILE.search(path) is not None,
        _javascript,
    ),
    ProviderFamily(("exec:",), lambda path: path.startswith("exec:"), _exec),
    ProviderFamily(
        ("http", "https"),
        lambda path: path in ("http", "https") or path.startswith(("http://", "https://")),
        _http,
    ),
    ProviderFamily(
        ("openai:chat:", "openai:completion:", "openai:embedding:"),
        lambda path: path.startswith("openai:"),
        _openai,
    ),
    _model_api("anthropic:messages:", ".anthropic", "AnthropicMessagesProvider"),
    _model_api("ollama:chat:", ".ollama", "OllamaChatProvider"),
)

#: The provider ids (exact, or prefixes ending in ``:``) this engine understands.
KNOWN_PROVIDER_PREFIXES: tuple[str, ...] = tuple(i for row in PROVIDER_TABLE for i in row.ids)


def build(request: BuildRequest) -> Provider:
    """Build the provider the first matching row describes.

    Raises:
        ProviderConfigError: no row knows the id, or the family rejects its config.
    """
    for family in PROVIDER_TABLE:
        if family.matches(request.provider_path):
            return family.build(request)
    known = ", ".join(KNOWN_PROVIDER_PREFIXES)
    raise ProviderConfigError(
        f"unknown provider {request.provider_path!r}: use an id starting with one of {known}"
    )
