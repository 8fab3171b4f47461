"""Loading promptfoo configs: prompts, providers, tests, defaultTest, scenarios and options.

The loader follows promptfoo 0.123's ``resolveConfigs``/``readPrompts``/``readTests`` so the
same file yields the same prompts (labels and ids included), the same tests in the same order,
and the same errors. Every problem is an :class:`~promptgov.errors.InvalidFile` (or
``NotFound``) naming the file and the key; nothing is run here except test generators and the
provider constructors that validate provider ids.

Three concerns, one module each: :mod:`.loader` reads files (YAML as js-yaml does, UTF-8,
``file://``, ``$ref``, ``env``), :mod:`.prompts` and :mod:`.tests` expand the entries of the
grid's axes and its tests, :mod:`.model` holds the resulting types. :func:`load_config` is the
one entry point that runs them in promptfoo's order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import InvalidFile, NotFound, PromptGovError
from .. import js
from ..providers.interface import ProviderError
from .loader import dereference, env_str, load_yaml, read_text, render_config_env
from .model import EvalConfig, Prompt, PromptResolver, ProviderEntry, Scenario, TestCase
from .prompts import _PromptReader
from .tests import _TestReader, assertion_from_string

__all__ = [
    "EvalConfig",
    "Prompt",
    "PromptResolver",
    "ProviderEntry",
    "Scenario",
    "TestCase",
    "assertion_from_string",
    "load_config",
]


class _Loader(_PromptReader, _TestReader):
    """Reads every part of one config: prompts and providers, then tests and scenarios."""


# --------------------------------------------------------------------------- entry point


def load_config(
    source: str | Path | Mapping[str, Any],
    base_dir: str | Path | None = None,
    prompt_resolver: PromptResolver | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    validate_providers: bool = True,
) -> EvalConfig:
    """Read a promptfoo config file (or mapping) into an :class:`EvalConfig`.

    ``prompt_resolver`` sees every ``prompts:`` string first; the prompts it returns are used
    as they are. Providers are constructed once to validate their ids and configs.

    Raises:
        InvalidFile: malformed YAML/JSON, an unknown assertion type, provider or prompt file,
            or a malformed entry; the message names the file and the key.
        NotFound: the config or a file it references does not exist.
    """
    env_in = dict(os.environ if environ is None else environ)
    if isinstance(source, Mapping):
        data: Any = dict(source)
        label_base = str(base_dir) if base_dir is not None else "."
        cfg_path: Path | None = None
        where = "config"
    else:
        cfg_path = Path(source)
        where = str(cfg_path)
        if not cfg_path.is_file():
            raise NotFound(f"config file not found: {cfg_path}")
        text = read_text(cfg_path, where)
        if _JS_HINT.search(text):
            js.prestart()  # Node boots while the rest of the config is read
        data = load_yaml(text, where)
        label_base = str(base_dir) if base_dir is not None else os.path.dirname(str(source)) or "."
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise InvalidFile(f"{where}: a promptfoo config must be a mapping of keys")
    data = dereference(data, data, where)
    data = render_config_env(data, env_in)
    env = {str(k): env_str(v) for k, v in (data.get("env") or {}).items()}
    loader = _Loader(
        where=where,
        label_base=label_base,
        resolver=prompt_resolver,
        code_timeout_s=_request_timeout_s({**env_in, **env}, where),
    )
    if "providers" in data and "targets" in data:
        raise InvalidFile(f"{where}: use either 'providers' or 'targets', not both")
    provider_specs = data.get("providers", data.get("targets"))
    if not provider_specs:
        raise InvalidFile(f"{where}: providers: specify at least one provider (e.g. 'echo')")
    prompt_specs = _prompt_specs(data, where)
    prompts = loader.prompts(prompt_specs)
    filters = loader.nunjucks_filters(data.get("nunjucksFilters"))
    providers = loader.providers(provider_specs)
    if validate_providers:
        _validate_providers(providers, loader, {**env_in, **env})
    tests = loader.tests(data.get("tests"), "tests")
    default_test = None
    if data.get("defaultTest") is not None:
        raw_default = data["defaultTest"]
        if isinstance(raw_default, str) and raw_default.startswith("file://"):
            raw_default = loader.external(raw_default, "defaultTest")
        default_test = loader.test(raw_default, "defaultTest", loader.base, is_default=True)
    scenarios = loader.scenarios(data.get("scenarios"))
    options = data.get("evaluateOptions") or {}
    if not isinstance(options, dict):
        raise InvalidFile(f"{where}: evaluateOptions: must be a mapping")
    output_path = data.get("outputPath") or []
    derived = data.get("derivedMetrics") or []
    if not isinstance(derived, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("value"), str)
        for d in derived
    ):
        raise InvalidFile(f"{where}: derivedMetrics: a list of {{name, value}} with a formula")
    return EvalConfig(
        prompts=prompts,
        providers=providers,
        tests=tests,
        default_test=default_test,
        scenarios=scenarios,
        description=data.get("description"),
        evaluate_options=dict(options),
        env=env,
        output_path=[output_path] if isinstance(output_path, str) else list(output_path),
        derived_metrics=list(derived),
        nunjucks_filters=filters,
        base_dir=loader.base,
        path=cfg_path,
        raw=data,
    )


#: Text that suggests a config runs JavaScript: a JS/TS file, or a ``javascript`` assertion.
_JS_HINT = re.compile(r"\.[cm]?[jt]s\b|javascript|nunjucksFilters")


def _request_timeout_s(env: Mapping[str, str], where: str) -> float | None:
    """``REQUEST_TIMEOUT_MS`` in seconds, the limit of code run while loading; None if unset."""
    value = env.get("REQUEST_TIMEOUT_MS")
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < 2**53:
        raise InvalidFile(f"{where}: REQUEST_TIMEOUT_MS must be a number of milliseconds")
    return number / 1000


#: promptfoo's prompt for a config without ``prompts``: each test's ``prompt`` variable.
DEFAULT_PROMPT = "{{prompt}}"


def _prompt_specs(data: Mapping[str, Any], where: str) -> Any:
    """The ``prompts:`` entries, with promptfoo's default when the key is absent or falsy.

    promptfoo's ``readConfig`` fills in ``["{{prompt}}"]`` for a missing, null or empty
    string ``prompts``; an empty list or mapping is JavaScript-truthy, kept, and refused.
    """
    specs = data.get("prompts")
    if specs is None or specs is False or specs == "" or specs == 0:
        return [DEFAULT_PROMPT]
    if isinstance(specs, list | dict) and not specs:
        raise InvalidFile(f"{where}: prompts: provide at least one prompt")
    return specs


def _validate_providers(
    providers: list[ProviderEntry], loader: _Loader, env: Mapping[str, str]
) -> None:
    from ..providers import load_provider

    for i, entry in enumerate(providers):
        if entry.instance is not None:
            continue
        try:
            provider = load_provider(entry.spec, base_dir=loader.base, env=env)
        except ProviderError as exc:
            raise InvalidFile(f"{loader.where}: providers[{i}] ({entry.id}): {exc}") from exc
        except PromptGovError as exc:
            raise InvalidFile(
                f"{loader.where}: providers[{i}] ({entry.id}): {exc.message}"
            ) from exc
        if entry.prompts is None and provider.prompts is not None:
            entry.prompts = list(provider.prompts)
