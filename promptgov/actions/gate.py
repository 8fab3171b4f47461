"""The gate action: apply an environment's gate to a version's latest eval run and record it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import signed_decisions as _signatures
from ..declared_model import DeclaredModel
from ..errors import InputError, NotFound
from ..eval_runs import latest_run, load_run_output, prompt_label, suite_path, suite_sha256
from ..gate import GateReport, evaluate_gate, gate_file_sha256, load_gate_config, rows_from_v3
from ..lifecycle import after_gate
from ..model import (
    Environment,
    EvalRunRef,
    GateResult,
    GateVerdict,
    VersionRecord,
    identity,
    utcnow,
)
from ..registry import Registry
from ..store import Edit
from ._policy_files import require_policy_in_force


@dataclass(frozen=True)
class GateOptions:
    """Which gate to apply and against what."""

    env: str
    """The environment whose gate rules apply."""
    baseline: str | None = None
    """A version or environment to compare with (default: what ``env`` serves now)."""
    record: bool = True
    """Store the verdict against the content hash and gate file hash."""
    by: str | None = None
    """Who (or which CI job) runs the gate: the identity ``sign_with``'s key has."""
    sign_with: str | None = None
    """The SSH key that signs the verdict over the results file's hash (needs ``by``)."""


def check_gate(registry: Registry, ref: str, options: GateOptions) -> GateReport:
    """Apply the gate for ``options.env`` to the latest eval run of ``ref``'s content hash.

    The baseline is compared on the same suite. With ``record`` the verdict is stored
    and the version's lifecycle state follows it.
    """
    registry.repo.check_env(options.env)
    require_policy_in_force(registry.repo)
    name, rec = registry.resolve(ref)
    suite_sha, run = _latest_run(registry, name, rec)
    v3 = load_run_output(registry, run)
    report, base_label = gate_report(registry, name, rec, v3, run.output, suite_sha, options)
    if options.record:
        with registry.repo.edit(name) as e:
            stage_verdict(
                registry, e, rec, report, run.run_id, base_label, signer=_signer(options, run)
            )
    return report


def _signer(options: GateOptions, run: EvalRunRef) -> tuple[str, str, str] | None:
    """(who, key, results file) when the verdict is to be signed."""
    if options.sign_with is None:
        return None
    if not options.by:
        raise InputError("a signed gate verdict needs who runs it.", cli_hint="Pass --by.")
    return identity(options.by), options.sign_with, run.output


#: ``--env all``: every environment of ``promptgov.yml``, in promotion order.
ALL_ENVS = "all"


def check_gates(
    registry: Registry, ref: str, envs: Sequence[str], options: GateOptions
) -> list[GateReport]:
    """:func:`check_gate` for each environment of ``envs`` (``all``: every one, in order);
    ``options.env`` is ignored. Every environment is checked before any verdict is written."""
    names = list(registry.repo.config.env_names) if ALL_ENVS in envs else list(dict.fromkeys(envs))
    for env in names:
        registry.repo.check_env(env)
    return [check_gate(registry, ref, replace(options, env=env)) for env in names]


def gates_exit_code(reports: Sequence[GateReport]) -> int:
    """The exit code of several gates: 1 if one failed, else 3 if one was inconclusive, else 0."""
    codes = {r.exit_code for r in reports}
    return 1 if 1 in codes else 3 if 3 in codes else 0


def gate_report(
    registry: Registry,
    name: str,
    rec: VersionRecord,
    v3: dict[str, Any],
    label: str,
    suite_sha: str,
    options: GateOptions,
) -> tuple[GateReport, str | None]:
    """The gate's verdict on ``v3`` (a run of ``rec`` on the suite ``suite_sha``) and the
    baseline it compared with; writes nothing."""
    rows = rows_from_v3(v3, label)
    rules = load_gate_config(registry.repo).rules(name, options.env)
    base_rows, base_label = _baseline(registry, name, rec, options, suite_sha)
    content = registry.repo.get_content(rec.sha256)
    report = evaluate_gate(
        rows,
        rules,
        env=options.env,
        prompt=name,
        baseline=base_rows,
        baseline_label=base_label,
        declared=DeclaredModel.of(registry.repo.config, content),
        under_test=prompt_label(name, rec.version),
    )
    report.version = rec.version
    return report, base_label


def _latest_run(registry: Registry, name: str, rec: VersionRecord) -> tuple[str, EvalRunRef]:
    """The suite's hash and the newest run of this content on it."""
    suite = suite_path(registry, name, None)
    sha = suite_sha256(registry, suite)
    run = latest_run(registry, rec, name, sha)
    if run is None:
        raise NotFound(
            f"{name}@{rec.version} has no eval run on the current {suite}; evaluate it first.",
            cli_hint=f"Run 'promptgov eval {name}@{rec.version}'.",
            prompt=name,
            version=rec.version,
        )
    return sha, run


def _baseline(
    registry: Registry,
    name: str,
    rec: VersionRecord,
    options: GateOptions,
    suite_sha: str,
) -> tuple[list[Any] | None, str | None]:
    """The rows to compare with, and how to name them in the report."""
    entry = registry.entry(name)
    if options.baseline is None:
        current = entry.environments.get(options.env, Environment()).current
        if current is None or current == rec.version:
            return None, None
        base_rec = registry.record(name, current)
    else:
        _, base_rec = registry.resolve(f"{name}@{options.baseline}")
    if base_rec.sha256 == rec.sha256:
        return None, None
    run = latest_run(registry, base_rec, name, suite_sha)
    if run is None:
        return None, f"{base_rec.version} (no run on this suite)"
    rows = rows_from_v3(load_run_output(registry, run), run.output)
    return rows, f"{base_rec.version} (run {run.run_id})"


def stage_verdict(
    registry: Registry,
    e: Edit,
    rec: VersionRecord,
    report: GateReport,
    run_id: str,
    base: str | None,
    *,
    signer: tuple[str, str, str] | None = None,
) -> None:
    """Stage the verdict on every version with this content, and its audit entry; with
    ``signer`` (who, key, results file) the verdict is signed over the results' hash."""
    gate_sha = gate_file_sha256(registry.repo)
    result = GateResult(
        env=report.env,
        verdict=report.verdict,
        sha256=rec.sha256,
        gate_sha256=gate_sha,
        run_id=run_id,
        baseline_version=base,
        at=utcnow(),
        by=signer[0] if signer else None,
    )
    if signer is not None:
        assert e.name is not None  # a verdict is staged in one prompt's unit of work
        decision = _signatures.gate_decision(registry.repo, e.name, rec, result, signer[2])
        signed = _signatures.sign(
            registry.repo, decision, signer[1], what=f"{signer[0]}'s gate verdict"
        )
        result = result.model_copy(update={"signed": signed})
    for r in e.entry.versions:
        if r.sha256 == rec.sha256:
            e.replace(
                r.model_copy(
                    update={
                        "gate_results": [*r.gate_results, result],
                        "status": after_gate(r.status, report.verdict, version=r.version),
                    }
                )
            )
    failed = "; ".join(f"{c.name}: {c.status}" for c in report.failed())
    # A verdict other than pass is a failed gate: the log says so, not "success".
    passed = report.verdict is GateVerdict.PASS
    e.audit(
        action="gate",
        actor="gate",
        prompt=e.name,
        env=report.env,
        to_version=rec.version,
        to_sha256=rec.sha256,
        eval_run_id=run_id,
        gate_verdict=report.verdict.value,
        reason=failed or "all checks passed",
        outcome="success" if passed else "failure",
        error=None if passed else f"gate {report.verdict.value}: {failed}",
        details={"gate_sha256": gate_sha, "baseline": base},
    )
