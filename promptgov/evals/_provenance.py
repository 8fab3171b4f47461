"""The run's provenance as promptfoo's output file records it: ``config`` and ``runtimeOptions``.

promptfoo writes the config its ``resolveConfigs`` built (the file's keys with its defaults
filled in), not the file as read, and the options the evaluator ran with; a consumer that
reads one promptfoo output reads ours the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``getEnvBool``'s true spellings.
_TRUE = frozenset({"1", "true", "yes", "yup", "yeppers"})


def output_config(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The config as ``resolveConfigs`` hands it to the evaluator (``evalRecord.config``).

    Absent keys get promptfoo's defaults (``tags``, ``env``, ``metadata``,
    ``evaluateOptions`` empty; ``extensions``, ``outputPath`` lists); ``sharing`` is false
    when ``PROMPTFOO_DISABLE_SHARING`` is set; ``defaultTest`` is read as a test.
    """
    out: dict[str, Any] = {"tags": dict(raw.get("tags") or {})}
    if raw.get("description"):
        out["description"] = raw["description"]
    out["prompts"] = raw.get("prompts") or []
    out["providers"] = raw.get("providers") or raw.get("targets") or []
    out["tests"] = raw.get("tests") or []
    if raw.get("scenarios") is not None:
        out["scenarios"] = raw["scenarios"]
    out["env"] = raw.get("env") or {}
    if (env.get("PROMPTFOO_DISABLE_SHARING") or "").strip().lower() in _TRUE:
        out["sharing"] = False
    elif raw.get("sharing") is not None:
        out["sharing"] = raw["sharing"]
    default_test = raw.get("defaultTest")
    if isinstance(default_test, Mapping):
        out["defaultTest"] = {
            **default_test,
            "vars": default_test.get("vars") or {},
            "options": default_test.get("options") or {},
            "metadata": default_test.get("metadata") or {},
        }
    elif default_test:
        out["defaultTest"] = default_test
    for key in ("derivedMetrics",):
        if raw.get(key) is not None:
            out[key] = raw[key]
    path = raw.get("outputPath")
    out["outputPath"] = [path] if isinstance(path, str) else list(path or [])
    out["extensions"] = list(raw.get("extensions") or [])
    out["metadata"] = raw.get("metadata") or {}
    for key in ("redteam", "tracing"):
        if raw.get(key) is not None:
            out[key] = raw[key]
    out["evaluateOptions"] = raw.get("evaluateOptions") or {}
    return out


def runtime_options(
    evaluate_options: Mapping[str, Any],
    *,
    event_source: str,
    show_progress_bar: bool,
    repeat: int,
    max_concurrency: int,
    cache: bool,
    delay_ms: int,
) -> dict[str, Any]:
    """promptfoo's ``runtimeOptions``: the config's ``evaluateOptions`` overlaid with what ran."""
    out = {k: v for k, v in evaluate_options.items() if k != "providerFilter"}
    out.update(
        eventSource=event_source,
        showProgressBar=show_progress_bar,
        repeat=repeat,
        maxConcurrency=max_concurrency,
        cache=cache,
    )
    out.pop("delay", None)
    if delay_ms > 0:
        out["delay"] = delay_ms
    return out
