"""Which providers answer a prompt, and a config where chosen providers answer it instead.

A caller that knows which model a prompt is written for (the governance layer, from the
version it resolved) reads the providers a config would call for that prompt and, if it
must, pins the prompt to others; every other prompt keeps the providers the config gave
it. The grid keeps promptfoo's order: the pinned providers take the place of the first
provider that answered the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .._steps import prompt_allowed
from ..providers.interface import Provider
from .model import EvalConfig, Prompt, ProviderEntry

__all__ = ["answering", "pin", "provider_entry", "test_providers", "with_config"]


def answering(cfg: EvalConfig, prompt: Prompt) -> list[ProviderEntry]:
    """The ``providers:`` entries whose prompt filter lets them answer ``prompt``."""
    return [e for e in cfg.providers if prompt_allowed(prompt, e.prompts)]


def test_providers(cfg: EvalConfig, prompt: Prompt) -> list[str]:
    """Ids of the providers tests (or ``defaultTest``) name for themselves on ``prompt``.

    A test's own ``provider:`` replaces the column's provider for that test.
    """
    tests = [*cfg.tests, *(t for s in cfg.scenarios for t in s.tests)]
    if cfg.default_test is not None:
        tests.append(cfg.default_test)
    return sorted(
        {
            _spec_id(t.provider)
            for t in tests
            if t.provider is not None and prompt_allowed(prompt, t.prompts)
        }
    )


def provider_entry(
    provider_id: str, config: dict[str, Any], prompts: Sequence[Prompt]
) -> ProviderEntry:
    """An entry for ``provider_id`` with ``config`` that answers only ``prompts``."""
    labels = [p.label for p in prompts]
    spec = {"id": provider_id, "config": dict(config), "prompts": labels}
    return ProviderEntry(spec=spec, id=provider_id, prompts=labels)


def with_config(
    entry: ProviderEntry, config: dict[str, Any], prompts: Sequence[Prompt]
) -> ProviderEntry:
    """``entry`` answering only ``prompts``, its ``config`` overlaid with ``config``."""
    spec = _spec_dict(entry)
    spec["config"] = {**(spec.get("config") or {}), **config}
    spec["prompts"] = [p.label for p in prompts]
    return replace(entry, spec=spec, prompts=list(spec["prompts"]))


def pin(cfg: EvalConfig, prompts: Sequence[Prompt], entries: Sequence[ProviderEntry]) -> EvalConfig:
    """``cfg`` where exactly ``entries`` answer ``prompts``; other prompts keep their providers.

    A provider that answered ``prompts`` and others keeps the others; one that answered
    only ``prompts`` is dropped. The config echoed in the output (``raw``) says the same.
    """
    pinned = {id(p) for p in prompts}
    others = [p for p in cfg.prompts if id(p) not in pinned]
    out: list[ProviderEntry] = []
    placed = False
    for entry in cfg.providers:
        if not any(prompt_allowed(p, entry.prompts) for p in prompts):
            out.append(entry)
            continue
        if not placed:
            out.extend(entries)
            placed = True
        kept = [p.label for p in others if prompt_allowed(p, entry.prompts)]
        if kept:
            spec = _spec_dict(entry)
            spec["prompts"] = kept
            out.append(replace(entry, spec=spec, prompts=kept))
    if not placed:
        out[:0] = entries
    raw = {**cfg.raw, "providers": [_spec_dict(e) for e in out]}
    raw.pop("targets", None)
    return replace(cfg, providers=out, raw=raw)


def _spec_dict(entry: ProviderEntry) -> dict[str, Any]:
    """The entry's spec as an ``{id, …}`` mapping (a string id becomes ``{id}``)."""
    if isinstance(entry.spec, dict):
        spec = dict(entry.spec)
    else:
        spec = {"id": entry.id}
    if entry.label:
        spec.setdefault("label", entry.label)
    if entry.prompts is not None:
        spec["prompts"] = list(entry.prompts)
    return spec


def _spec_id(spec: Any) -> str:
    if isinstance(spec, Provider):
        return spec.id
    if isinstance(spec, dict):
        if isinstance(spec.get("id"), str):
            return str(spec["id"])
        if len(spec) == 1:
            return str(next(iter(spec)))
    return str(spec)
