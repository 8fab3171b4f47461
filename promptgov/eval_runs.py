"""Reading eval runs: which suite a version runs, its recorded runs and their stored output.

The eval engine (:mod:`promptgov.evals`) knows nothing of the registry: this module
resolves ``promptgov://<name>[@<version|env>]`` prompts to the version under test and
finds the runs :mod:`promptgov.actions.evaluate` recorded against a content hash.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .errors import IntegrityError, InvalidFile, NotFound
from .model import EvalRunRef, VersionRecord
from .registry import PromptVersion, Registry
from .store.commitments import file_digest
from .store.files import read_bytes

SCHEME = "promptgov://"
EVAL_LOG_DIR = "logs/evals"


def prompt_label(name: str, version: str) -> str:
    """The label a governed prompt has in eval results: ``name@version``."""
    return f"{name}@{version}"


def _engine_prompt(v: PromptVersion) -> Any:
    from .evals.config import Prompt

    if v.content.template is not None:
        raw = v.content.template
    else:
        raw = json.dumps([m.model_dump() for m in v.content.messages or []], ensure_ascii=False)
    return Prompt(raw=raw, label=prompt_label(v.name, v.version))


class VersionResolver:
    """Resolves ``promptgov://<name>[@<version|env>]`` prompts, remembering whether the
    version under test was among them: a run that never evaluated it is no evidence of it."""

    def __init__(self, registry: Registry, under_test: PromptVersion) -> None:
        self.registry = registry
        self.under_test = under_test
        #: The engine prompts that are the version under test (its declared model answers them).
        self.prompts: list[Any] = []

    @property
    def used(self) -> bool:
        """Whether the config evaluates the version under test at all."""
        return bool(self.prompts)

    def __call__(self, ref: str) -> list[Any] | None:
        if not ref.startswith(SCHEME):
            return None
        target = ref[len(SCHEME) :]
        name, _, sel = target.partition("@")
        v = self.under_test if name == self.under_test.name and not sel else None
        v = v or self.registry.get(target)
        prompt = _engine_prompt(v)
        if v.name == self.under_test.name and v.sha256 == self.under_test.sha256:
            self.prompts.append(prompt)
        return [prompt]


def resolver_for(registry: Registry, under_test: PromptVersion) -> VersionResolver:
    """A prompt resolver: ``promptgov://<name>`` of the prompt under test is that version;
    other references resolve through the registry."""
    return VersionResolver(registry, under_test)


def suite_path(registry: Registry, name: str, suite: str | None) -> str:
    """The eval config to run: ``suite`` if given, else the policy's (``promptgov.yml``).

    Never the card's ``eval_suite``: a version must not choose the suite that judges it.
    """
    rel = suite or registry.repo.config.suite_for(name)
    if not registry.repo.path(rel).is_file():
        raise NotFound(
            f"eval suite {rel} of {name} does not exist; create it or name another suite.",
            cli_hint="See --suite.",
        )
    return rel


def suite_sha256(registry: Registry, rel: str) -> str:
    """sha256 of the suite file's bytes."""
    data = read_bytes(registry.repo.path(rel))
    if data is None:
        raise NotFound(f"eval suite {rel} does not exist.")
    return hashlib.sha256(data).hexdigest()


def latest_run(
    registry: Registry, rec: VersionRecord, name: str, suite_sha: str | None = None
) -> EvalRunRef | None:
    """The newest run recorded for ``rec``'s content hash (on ``suite_sha`` when given).

    Runs are found through every version sharing the hash, so a rollback version
    inherits the runs of the version it restores.
    """
    entry = registry.entry(name)
    runs = [
        run
        for r in entry.versions
        if r.sha256 == rec.sha256
        for run in r.eval_runs
        if suite_sha is None or run.suite_sha256 == suite_sha
    ]
    return max(runs, key=lambda run: run.at) if runs else None


def load_run_output(registry: Registry, run: EvalRunRef) -> dict[str, Any]:
    """The stored v3 output of ``run``."""
    raw = read_bytes(registry.repo.path(run.output))
    if raw is None:
        raise NotFound(
            f"eval output {run.output} of run {run.run_id} is missing; re-run the evals."
        )
    if run.output_sha256 is not None and file_digest(raw) != run.output_sha256:
        raise IntegrityError(
            f"eval output {run.output} was changed after run {run.run_id} recorded it; "
            "nothing was decided. Restore it from git or re-run the evals."
        )
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidFile(
            f"eval output {run.output} of run {run.run_id} is not JSON; restore it from git "
            "or re-run the evals."
        )
    return data
