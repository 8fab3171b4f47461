"""Running a prompt version's eval suite and recording the run against its content hash.

The eval engine (:mod:`promptgov.evals`) knows nothing of the registry: this module
resolves ``promptgov://<name>[@<version|env>]`` prompts to the version under test, runs
the suite, stores promptfoo v3 output under ``logs/evals/`` and records an
:class:`~promptgov.model.EvalRunRef` on the version, in one transaction with its audit entry.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from ._fs import read_bytes
from .errors import InvalidFile, NotFound
from .model import EvalRunRef, VersionRecord, utcnow
from .registry import PromptVersion, Registry

SCHEME = "promptgov://"
EVAL_LOG_DIR = "logs/evals"


@dataclass(frozen=True)
class EvalOutcome:
    """A recorded run and the engine's summary of it."""

    version: PromptVersion
    run: EvalRunRef
    summary: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "prompt": self.version.name,
            "version": self.version.version,
            "run": self.run.model_dump(mode="json"),
        }


def _engine_prompt(v: PromptVersion) -> Any:
    from .evals.config import Prompt

    if v.content.template is not None:
        raw = v.content.template
    else:
        raw = json.dumps([m.model_dump() for m in v.content.messages or []], ensure_ascii=False)
    return Prompt(raw=raw, label=f"{v.name}@{v.version}")


def resolver_for(registry: Registry, under_test: PromptVersion) -> Any:
    """A prompt resolver: ``promptgov://<name>`` of the prompt under test is that version;
    other references resolve through the registry."""

    def resolve(ref: str) -> list[Any] | None:
        if not ref.startswith(SCHEME):
            return None
        target = ref[len(SCHEME) :]
        name, _, sel = target.partition("@")
        if name == under_test.name and not sel:
            return [_engine_prompt(under_test)]
        return [_engine_prompt(registry.get(target))]

    return resolve


def suite_path(registry: Registry, v: PromptVersion, suite: str | None) -> str:
    """The eval config to run: ``suite`` if given, else the card's, relative to the repo."""
    rel = suite or v.card.eval_suite
    if not registry.repo.path(rel).is_file():
        raise NotFound(
            f"eval suite {rel} of {v.ref} does not exist; create it or pass --suite.",
        )
    return rel


def suite_sha256(registry: Registry, rel: str) -> str:
    """sha256 of the suite file's bytes."""
    data = read_bytes(registry.repo.path(rel))
    if data is None:
        raise NotFound(f"eval suite {rel} does not exist.")
    return hashlib.sha256(data).hexdigest()


def run_version_eval(
    registry: Registry,
    ref: str,
    *,
    by: str,
    suite: str | None = None,
    options: Any = None,
    scheduled: bool = False,
) -> EvalOutcome:
    """Run ``ref``'s eval suite against exactly that version and record the run.

    The run's promptfoo v3 JSON is written to ``logs/evals/<run_id>.json``; the registry
    gains an :class:`EvalRunRef` keyed by the version's content hash; the audit log an
    ``eval`` entry. Provider errors are part of the results, not exceptions.
    """
    from .evals import RunOptions, load_config, run_eval

    v = registry.get(ref)
    rel = suite_path(registry, v, suite)
    cfg_file = registry.repo.path(rel)
    cfg = load_config(cfg_file, prompt_resolver=resolver_for(registry, v))
    summary = run_eval(cfg, options or RunOptions())
    return record_run(
        registry, v, summary.to_v3_dict(), suite=rel, by=by, scheduled=scheduled, summary=summary
    )


def record_run(
    registry: Registry,
    v: PromptVersion,
    v3: dict[str, Any],
    *,
    suite: str,
    by: str,
    scheduled: bool = False,
    summary: Any = None,
) -> EvalOutcome:
    """Store v3 output for ``v`` and record the run (also used for imported results)."""
    results = v3.get("results", {})
    stats = results.get("stats") or {}
    try:
        successes, failures, errors = (
            int(stats["successes"]),
            int(stats["failures"]),
            int(stats.get("errors", 0)),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidFile(
            "eval output has no results.stats; it is not promptfoo v3 output."
        ) from None
    total = successes + failures + errors
    run_id = f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    out_rel = f"{EVAL_LOG_DIR}/{v.name}/{run_id}.json"
    repo = registry.repo
    with repo.transaction() as txn:
        reg = repo.registry(txn)
        entry = registry.entry(v.name, reg)
        ref = EvalRunRef(
            run_id=run_id,
            sha256=v.sha256,
            suite=suite,
            suite_sha256=suite_sha256(registry, suite),
            output=out_rel,
            at=utcnow(),
            by=by,
            successes=successes,
            failures=failures,
            errors=errors,
            pass_rate=successes / total if total else 0.0,
            scheduled=scheduled,
        )
        repo.write_json(txn, out_rel, v3)
        versions = [
            r.model_copy(update={"eval_runs": [*r.eval_runs, ref]}) if r.version == v.version else r
            for r in entry.versions
        ]
        registry.save_entry(txn, reg, v.name, entry.model_copy(update={"versions": versions}))
        repo.audit(
            txn,
            action="eval",
            actor=by,
            prompt=v.name,
            to_version=v.version,
            to_sha256=v.sha256,
            eval_run_id=run_id,
            evidence=[out_rel],
            reason=f"{successes}/{total} passed on {suite}" + (" (scheduled)" if scheduled else ""),
        )
    return EvalOutcome(v, ref, summary)


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
    data: dict[str, Any] = json.loads(raw)
    return data
