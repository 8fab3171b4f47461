"""The loaded config's types: prompts, provider entries, tests, scenarios, the config itself.

These are what :func:`promptgov.evals.load_config` returns and the runner reads; they hold
promptfoo's values after every ``file://``, glob, CSV and ``$ref`` has been resolved.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..assertions.interface import AssertionSpec
from ..providers.interface import Provider

__all__ = [
    "EvalConfig",
    "JsFunction",
    "Prompt",
    "PromptResolver",
    "ProviderEntry",
    "Scenario",
    "TestCase",
]


@dataclass(frozen=True)
class JsFunction:
    """A ``file://x.js[:fn]`` export promptfoo calls: the module, and the export's name."""

    path: Path
    name: str | None = None


@dataclass
class Prompt:
    """One prompt column source: its template text, label and optional function."""

    raw: str
    label: str
    #: The ``id:`` the config gave, if any (used by prompt filters).
    id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: A prompt function: called with ``{vars, provider, config}``, returns the prompt.
    function: Callable[[dict[str, Any]], Any] | None = None
    #: A JavaScript prompt function, called on the Node worker with the same context.
    js_function: JsFunction | None = None

    @property
    def prompt_id(self) -> str:
        """promptfoo's prompt id: sha256 of the label, else of the id, else of the raw text."""
        key = self.label or self.id or self.raw
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


#: Resolves a ``prompts:`` entry the engine does not know (``promptgov://greet@1.2.0``) to
#: prompts, or returns None when the reference is not its own.
PromptResolver = Callable[[str], "list[Prompt] | None"]


@dataclass
class ProviderEntry:
    """One ``providers:`` entry: what the config wrote, plus a ready provider for library use."""

    spec: Any
    id: str
    #: The configured ``label:`` (empty when none, as promptfoo prints it).
    label: str = ""
    #: ``prompts:`` filter of this provider, None for all.
    prompts: list[str] | None = None
    #: A provider object given directly (library callers and tests); else built from ``spec``.
    instance: Provider | None = None
    #: The id promptfoo's loaded provider reports when it is not ``id`` (a python script
    #: given as ``file://x.py`` runs as ``python:x.py:default``); the output files show it.
    shown_id: str | None = None

    @property
    def key(self) -> str:
        """promptfoo's ``getProviderIdentifier``: the label, else the id."""
        return self.label or self.id

    @property
    def reported_id(self) -> str:
        """The provider id the output files record (promptfoo's ``provider.id()``)."""
        return self.shown_id or self.id

    @property
    def reported_key(self) -> str:
        """The column's provider as the output files name it: the label, else the reported id."""
        return self.label or self.reported_id


@dataclass
class TestCase:
    """One test as written (before defaultTest merging and variable expansion)."""

    vars: dict[str, Any] = field(default_factory=dict)
    asserts: list[AssertionSpec] = field(default_factory=list)
    description: str | None = None
    threshold: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: A provider that replaces the column's provider for this test.
    provider: Any = None
    provider_output: Any = None
    prompts: list[str] | None = None
    providers: list[str] | None = None
    #: The mapping as written, echoed into results' ``testCase``.
    raw: dict[str, Any] = field(default_factory=dict)
    #: Where the test came from, for error messages.
    where: str = ""


@dataclass
class Scenario:
    """One ``scenarios:`` entry: data rows crossed with tests."""

    config: list[dict[str, Any]]
    tests: list[TestCase]


@dataclass
class EvalConfig:
    """A loaded promptfoo config, ready for :func:`~promptgov.evals.runner.run_eval`."""

    prompts: list[Prompt]
    providers: list[ProviderEntry]
    tests: list[TestCase]
    default_test: TestCase | None = None
    scenarios: list[Scenario] = field(default_factory=list)
    description: str | None = None
    evaluate_options: dict[str, Any] = field(default_factory=dict)
    #: The config's ``env:`` mapping, as strings.
    env: dict[str, str] = field(default_factory=dict)
    output_path: list[str] = field(default_factory=list)
    derived_metrics: list[dict[str, Any]] = field(default_factory=list)
    #: ``nunjucksFilters``: each filter's JavaScript module (its default export is the filter).
    nunjucks_filters: dict[str, JsFunction] = field(default_factory=dict)
    #: Directory ``file://`` references resolve against.
    base_dir: Path = field(default_factory=Path.cwd)
    #: The config file, when loaded from one.
    path: Path | None = None
    #: The config mapping as read (for the output's ``config``).
    raw: dict[str, Any] = field(default_factory=dict)

    def merged_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment overlaid with the config's ``env:`` (promptfoo's ``env``)."""
        merged = dict(os.environ if environ is None else environ)
        merged.update(self.env)
        return merged
