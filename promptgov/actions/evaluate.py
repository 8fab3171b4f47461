"""The evaluate action: run a version's eval suite and record the run against its hash.

The eval engine (:mod:`promptgov.evals`) knows nothing of the registry: this module
resolves ``promptgov://<name>`` prompts to the version under test, runs the suite,
stores promptfoo v3 output under ``logs/evals/`` and records an
:class:`~promptgov.model.EvalRunRef` on the version, in one unit of work with its
audit entry.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import signed_decisions as _signatures
from ..declared_model import DeclaredModel, answered
from ..errors import InputError, InvalidFile
from ..eval_runs import EVAL_LOG_DIR, prompt_label, resolver_for, suite_path, suite_sha256
from ..gate import rows_from_v3
from ..model import EvalRunRef, utcnow
from ..registry import PromptVersion, Registry
from ..store import Edit
from ..store.commitments import file_digest
from ._policy_files import require_policy_in_force

if TYPE_CHECKING:
    from ..evals import RunOptions
    from ..repo import Repo


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


@dataclass(frozen=True)
class SuiteRun:
    """A finished run of a version's suite, not yet recorded."""

    version: PromptVersion
    suite: str
    suite_sha256: str
    v3: dict[str, Any]
    summary: Any
    declared: DeclaredModel
    """The model the version declares, under the policy the run was made with."""
    engine: str | None = None
    """The engine that ran it (None: imported results)."""


def run_version_eval(
    registry: Registry,
    ref: str,
    *,
    by: str,
    suite: str | None = None,
    options: RunOptions | None = None,
    scheduled: bool = False,
    fresh: bool = True,
    engine: str = "native",
    sign_with: str | None = None,
) -> EvalOutcome:
    """Run ``ref``'s eval suite against exactly that version and record the run.

    A recorded run is evidence a gate decides on, so it calls the model (``fresh``);
    a caller may let it reuse cached answers, which the run records and the gate's
    ``max_cached_fraction`` then judges. A scheduled re-run is always fresh. With
    ``engine="promptfoo"`` a real promptfoo runs the suite on the materialised version.

    The run's promptfoo v3 JSON is written to ``logs/evals/<name>/<run_id>.json``; the
    registry gains an :class:`EvalRunRef` keyed by the version's content hash; the audit
    log an ``eval`` entry. Provider errors are part of the results, not exceptions. With
    ``sign_with`` the run is signed by ``by``'s key over the output file's sha256.
    """
    require_policy_in_force(registry.repo)  # a recorded run is evidence: judged by the policy
    run = run_suite(
        registry, ref, suite=suite, options=options, fresh=fresh or scheduled, engine=engine
    )
    with registry.repo.edit(run.version.name) as e:
        ref_ = stage_run(e, run, by=by, scheduled=scheduled, signer=_signer(registry, sign_with))
    return EvalOutcome(run.version, ref_, run.summary)


def run_suite(
    registry: Registry,
    ref: str,
    *,
    suite: str | None = None,
    options: RunOptions | None = None,
    fresh: bool = False,
    engine: str = "native",
) -> SuiteRun:
    """Run the suite on ``ref``; writes nothing.

    With ``fresh`` every answer comes from the model, never from the response cache: a
    scheduled re-run, a monitor cycle or a rollback's re-run must see what the model
    says today, not what it said when the answers were cached.
    """
    from ..evals import RunOptions, load_config, run_eval
    from ..evals.promptfoo_engine import Engine

    v = registry.get(ref)
    rel = suite_path(registry, v.name, suite)
    resolver = resolver_for(registry, v)
    cfg = load_config(registry.repo.path(rel), prompt_resolver=resolver)
    if not resolver.used:
        raise InputError(
            f"{rel} never evaluates {v.ref}: none of its prompts is promptgov://{v.name}, so "
            f"its results would be no evidence of that version. Nothing was run or recorded; "
            f"add 'promptgov://{v.name}' to its prompts."
        )
    declared = DeclaredModel.of(registry.repo.config, v.content)
    prepared = declared.prepare(cfg, resolver.prompts, suite=rel, ref=v.ref)
    opts = options or RunOptions()
    if fresh:
        opts = replace(opts, no_cache=True)
    if Engine.named(engine) is Engine.PROMPTFOO:
        summary = _on_promptfoo(registry, v, rel, opts, rewritten=prepared is not cfg)
    else:
        summary = run_eval(prepared, opts)
    return SuiteRun(
        v,
        rel,
        suite_sha256(registry, rel),
        summary.to_v3_dict(),
        summary,
        declared,
        summary.engine,
    )


def _on_promptfoo(
    registry: Registry, v: PromptVersion, rel: str, opts: RunOptions, *, rewritten: bool
) -> Any:
    """Real promptfoo runs ``rel`` with ``promptgov://`` prompts materialised from ``v``."""
    from ..evals.promptfoo_engine import run_promptfoo

    if rewritten:
        raise InputError(
            f"{rel} does not answer {v.ref} with its declared model as written, and promptfoo "
            "runs the suite as written. Nothing was run or recorded; use the native engine, "
            "or add the declared model to the suite's providers.",
            cli_hint="Use --engine native, or add the declared model to the suite's providers.",
        )
    return run_promptfoo(
        registry.repo.path(rel),
        no_cache=opts.no_cache,
        max_concurrency=opts.max_concurrency,
        repeat=opts.repeat,
        prompt_resolver=resolver_for(registry, v),
    )


def record_run(
    registry: Registry,
    v: PromptVersion,
    v3: dict[str, Any],
    *,
    suite: str,
    by: str,
    scheduled: bool = False,
    sign_with: str | None = None,
) -> EvalOutcome:
    """Store v3 output for ``v`` and record the run (imported results, e.g. from CI); with
    ``sign_with``, signed by ``by`` (the CI job's key) over the output file's sha256."""
    require_policy_in_force(registry.repo)
    declared = DeclaredModel.of(registry.repo.config, v.content)
    run = SuiteRun(v, suite, suite_sha256(registry, suite), v3, None, declared)
    with registry.repo.edit(v.name) as e:
        ref = stage_run(e, run, by=by, scheduled=scheduled, signer=_signer(registry, sign_with))
    return EvalOutcome(v, ref, None)


def _signer(registry: Registry, key: str | None) -> tuple[Repo, str] | None:
    return None if key is None else (registry.repo, key)


def stage_run(
    e: Edit,
    run: SuiteRun,
    *,
    by: str,
    scheduled: bool = False,
    signer: tuple[Repo, str] | None = None,
) -> EvalRunRef:
    """Stage the run's output file, its record on the version and its audit entry;
    ``signer`` (the repository and a key) signs the run over the output's sha256."""
    successes, failures, errors = _counts(run.v3)
    rows = rows_from_v3(run.v3)
    cached = sum(row.cached for row in rows)
    total = successes + failures + errors
    v = run.version
    providers = answered(((r.prompt, r.provider) for r in rows), prompt_label(v.name, v.version))
    mismatch = run.declared.contradicting(providers)
    run_id = f"{utcnow():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    out_rel = f"{EVAL_LOG_DIR}/{v.name}/{run_id}.json"
    e.write_json(out_rel, run.v3)
    ref = EvalRunRef(
        run_id=run_id,
        sha256=v.sha256,
        suite=run.suite,
        suite_sha256=run.suite_sha256,
        output=out_rel,
        output_sha256=file_digest(e.read(out_rel)),
        at=utcnow(),
        by=by,
        successes=successes,
        failures=failures,
        errors=errors,
        pass_rate=successes / total if total else 0.0,
        cached=cached,
        scheduled=scheduled,
        declared_model=run.declared.provider,
        providers=providers,
        model_mismatch=mismatch,
        engine=run.engine,
    )
    if signer is not None:
        decision = _signatures.eval_decision(v.name, v.version, ref)
        signed = _signatures.sign(signer[0], decision, signer[1], what=f"{by}'s eval run")
        ref = ref.model_copy(update={"signed": signed})
    rec = e.record(v.version)
    e.replace(rec.model_copy(update={"eval_runs": [*rec.eval_runs, ref]}))
    e.audit(
        action="eval",
        actor=by,
        prompt=v.name,
        to_version=v.version,
        to_sha256=v.sha256,
        eval_run_id=run_id,
        evidence=[out_rel],
        reason=f"{successes}/{total} passed on {run.suite}"
        + (f", {cached} answers from the cache" if cached else "")
        + (
            f", answered by {', '.join(mismatch)} instead of the declared {run.declared.provider}"
            if mismatch
            else ""
        )
        + (" (scheduled)" if scheduled else ""),
    )
    return ref


def _counts(v3: dict[str, Any]) -> tuple[int, int, int]:
    """Successes, failures and errors of promptfoo v3 output."""
    stats = (v3.get("results", {}) or {}).get("stats") or {}
    try:
        return int(stats["successes"]), int(stats["failures"]), int(stats.get("errors", 0))
    except (KeyError, TypeError, ValueError):
        raise InvalidFile(
            "eval output has no results.stats; it is not promptfoo v3 output."
        ) from None
