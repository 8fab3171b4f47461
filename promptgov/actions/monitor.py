"""Rollback triggers: evaluate the five triggers for a serving version, keep the evidence, act.

:func:`check_triggers` reads as its steps: find what ``env`` serves; evaluate eval
regression, drift, failing tests, complaints and audit flags; record the check (evidence
files under ``logs/triggers/``, the consecutive-failure state and an audit entry, in one
transaction); notify the owners of newly fired triggers; and, when asked and the policy
says ``rollback``, run the full rollback flow once ``consecutive_failures`` checks in a row
have fired. A check that cannot tell (``insufficient_data``) neither counts towards a
rollback nor resets the count, so missing data never rolls back by itself.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from .. import stats
from ..errors import InputError, InvalidFile, NotFound, PromptGovError
from ..model import Environment, EvalRunRef, PromptEntry, VersionRecord, utcnow
from ..monitor.policy import (
    Action,
    AuditFlagsPolicy,
    ComplaintsPolicy,
    DriftPolicy,
    EvalRegressionPolicy,
    FailingTestsPolicy,
    TriggersPolicy,
    format_duration,
    parse_duration,
)
from ..registry import Registry
from ..repo import Repo
from ..store.files import Transaction

__all__ = [
    "DEFAULT_ENV",
    "TRIGGERS_DIR",
    "ActionTaken",
    "MonitorItem",
    "TriggerName",
    "TriggerReport",
    "TriggerResult",
    "TriggerStatus",
    "check_triggers",
    "deployed_prompts",
    "load_policy",
    "monitor",
    "monitor_once",
]

DEFAULT_ENV = "prod"
TRIGGERS_DIR = "logs/triggers"
#: Production log files picked up from ``logs/`` when no ``--logs`` is given.
LOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
#: Malformed production records listed in a trigger report (the drift report lists more).
_MALFORMED_SHOWN = 20


class TriggerName(StrEnum):
    """The five rollback triggers of the specification, in the order they are checked."""

    EVAL_REGRESSION = "eval_regression"
    """The latest eval run of the serving version is worse than its baseline run."""
    DRIFT = "drift"
    """Production behaviour of the serving version changed since it was promoted."""
    FAILING_TESTS = "failing_tests"
    """A scheduled re-run of the eval suite on the serving version fails its gate."""
    COMPLAINTS = "complaints"
    """Users or stakeholders complained about the serving version."""
    AUDIT_FLAGS = "audit_flags"
    """An auditor flagged the serving version."""


class TriggerStatus(StrEnum):
    """The answer of one trigger."""

    FIRED = "fired"
    """The trigger's condition holds, with the evidence to show it."""
    NOT_FIRED = "not_fired"
    """Enough data, and the condition does not hold."""
    INSUFFICIENT_DATA = "insufficient_data"
    """The trigger cannot tell (too few samples, no run, no logs): never rolls back."""
    DISABLED = "disabled"
    """Turned off in ``promptgov.yml``."""


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict, the numbers behind it and the policy it was judged by."""

    trigger: TriggerName
    status: TriggerStatus
    #: One line for people: what was measured against what.
    summary: str
    measured: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    action: Action = Action.NOTIFY
    #: k: failing checks in a row before an automatic rollback.
    consecutive_failures: int = 1
    #: Identity of the evidence (eval run id, window end…): the same evidence seen twice
    #: counts once towards ``consecutive_failures``.
    observation: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: Evidence files written for this trigger (repository-relative).
    evidence: tuple[str, ...] = ()
    #: Failing checks in a row, this one included (set when the check is recorded).
    streak: int = 0
    #: Extra evidence files to write: name suffix → bytes.
    files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the file contents are left out; their paths are in ``evidence``)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "files"}
        out["evidence"] = list(self.evidence)
        return stats._clean(out)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ActionTaken:
    """What a check did, or would do, about its fired triggers."""

    #: notify · rollback · waiting (k not reached) · due (k reached, auto-rollback off)
    kind: str
    triggers: tuple[str, ...]
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "triggers": list(self.triggers)}


@dataclass
class TriggerReport:
    """Every trigger for one prompt's serving version in one environment, and what followed."""

    prompt: str
    env: str
    version: str
    sha256: str
    checked_at: datetime
    results: list[TriggerResult]
    dry_run: bool = False
    #: The trigger report JSON written under ``logs/triggers/`` (None on a dry run).
    report: str | None = None
    audit_seq: int | None = None
    actions: list[ActionTaken] = field(default_factory=list)

    @property
    def status(self) -> TriggerStatus:
        """fired if any trigger fired; insufficient_data if none could tell; else not_fired."""
        statuses = {r.status for r in self.results}
        if TriggerStatus.FIRED in statuses:
            return TriggerStatus.FIRED
        if TriggerStatus.NOT_FIRED in statuses:
            return TriggerStatus.NOT_FIRED
        return TriggerStatus.INSUFFICIENT_DATA

    @property
    def fired(self) -> list[str]:
        """Names of the triggers that fired."""
        return [r.trigger.value for r in self.results if r.status is TriggerStatus.FIRED]

    @property
    def rolled_back(self) -> bool:
        """True when this check ran a rollback that completed."""
        return any(a.kind == "rollback" and a.ok for a in self.actions)

    @property
    def exit_code(self) -> int:
        """0 when nothing fired, 1 when a trigger fired (a check said no)."""
        return 1 if self.status is TriggerStatus.FIRED else 0

    def result(self, trigger: TriggerName | str) -> TriggerResult:
        """The result of ``trigger``."""
        for r in self.results:
            if r.trigger == trigger:
                return r
        raise KeyError(trigger)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; also the content of the report file."""
        return {
            "prompt": self.prompt,
            "env": self.env,
            "version": self.version,
            "sha256": self.sha256,
            "checked_at": self.checked_at.isoformat(),
            "status": self.status.value,
            "fired": self.fired,
            "dry_run": self.dry_run,
            "report": self.report,
            "audit_seq": self.audit_seq,
            "triggers": [r.to_dict() for r in self.results],
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass(frozen=True)
class _Subject:
    """The serving version under check."""

    name: str
    env: str
    entry: PromptEntry
    record: VersionRecord
    promoted_at: datetime
    owners: list[str]


# --------------------------------------------------------------------------- the check


def load_policy(repo: Repo) -> TriggersPolicy:
    """The ``triggers:`` section of ``promptgov.yml``, validated."""
    return TriggersPolicy.from_mapping(repo.config.triggers)


def check_triggers(
    registry: Registry,
    name: str,
    *,
    env: str = DEFAULT_ENV,
    logs: Sequence[str | Path] | None = None,
    window: str | timedelta | None = None,
    now: datetime | None = None,
    policy: TriggersPolicy | None = None,
    dry_run: bool = False,
    notify: bool = True,
    auto_rollback: bool = False,
    embedder: Any = None,
    run_options: Any = None,
    notify_policy: Any = None,
) -> TriggerReport:
    """Evaluate every trigger for the version ``name`` serves in ``env`` and act on the policy.

    ``logs`` are production log files (default: the JSON/JSONL files directly in ``logs/``);
    ``window`` overrides the drift policy's recent window; ``now`` is the end of that window
    (default: the current time). Unless ``dry_run``, the check writes its evidence under
    ``logs/triggers/<name>/<env>/``, updates the consecutive-failure state and, when any
    trigger fired or a count was reset, an audit entry — all in one transaction. Newly fired
    triggers are announced (``notify``); with ``auto_rollback`` a trigger whose action is
    ``rollback`` and that fired ``consecutive_failures`` checks in a row runs
    :func:`promptgov.rollback.rollback` with ``policy:<trigger>`` as the authorizer and the
    trigger report as evidence (at most once per run of failures).

    Raises:
        NotFound: unknown prompt or environment, nothing deployed, a log file missing.
        InvalidFile: a malformed ``triggers:`` policy or trigger state file.
        InputError: a bad ``window``.
    """
    repo = registry.repo
    repo.check_env(env)
    policy = policy or load_policy(repo)
    checked_at = _aware(now) if now is not None else utcnow()
    subject = _serving(registry, name, env)
    results = [
        _eval_regression(registry, subject, policy.eval_regression),
        _drift(registry, subject, policy.drift, logs, window, checked_at, embedder),
        _failing_tests(registry, subject, policy.failing_tests, checked_at),
        _complaints(registry, subject, policy.complaints, checked_at),
        _audit_flags(subject, policy.audit_flags),
    ]
    report = TriggerReport(
        name, env, subject.record.version, subject.record.sha256, checked_at, results, dry_run
    )
    if dry_run:
        return report
    due = _record(registry, report, subject, notify=notify, auto_rollback=auto_rollback)
    if due.notify:
        _notify(registry, report, subject, due.notify, notify_policy)
    if due.rollback:
        _auto_rollback(registry, report, subject, due, run_options, notify_policy)
    return report


def _aware(when: datetime) -> datetime:
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).astimezone(UTC)


def _serving(registry: Registry, name: str, env: str) -> _Subject:
    """The version ``env`` serves and when it started serving it."""
    entry = registry.entry(name)
    state = entry.environments.get(env, Environment())
    if state.current is None:
        raise NotFound(
            f"{name} is not deployed to {env}; there is nothing to check. Promote a version "
            f"first, or pass --env.",
            prompt=name,
            env=env,
        )
    rec = registry.record(name, state.current)
    moves = [m for m in state.history if m.version == state.current]
    promoted_at = moves[-1].at if moves else rec.created_at
    owners = registry.repo.get_card(rec.card_sha256).all_owners
    return _Subject(name, env, entry, rec, promoted_at, owners)


def _result(
    trigger: TriggerName, pol: Any, status: TriggerStatus, summary: str, **kw: Any
) -> TriggerResult:
    return TriggerResult(
        trigger,
        status,
        summary,
        action=pol.action,
        consecutive_failures=pol.consecutive_failures,
        **kw,
    )


def _disabled(trigger: TriggerName, pol: Any) -> TriggerResult:
    return _result(trigger, pol, TriggerStatus.DISABLED, "disabled in promptgov.yml")


# --------------------------------------------------------------------------- 1. eval regression


def _eval_regression(
    registry: Registry, subj: _Subject, pol: EvalRegressionPolicy
) -> TriggerResult:
    """Latest eval run of the serving content vs its baseline run: pass rate, metrics, cost."""
    from ..eval_runs import load_run_output
    from ..gate import rows_from_v3

    t = TriggerName.EVAL_REGRESSION
    if not pol.enabled:
        return _disabled(t, pol)
    runs = [
        run for r in subj.entry.versions if r.sha256 == subj.record.sha256 for run in r.eval_runs
    ]
    if not runs:
        return _result(
            t, pol, TriggerStatus.INSUFFICIENT_DATA, "no eval run of the serving version"
        )
    latest = max(runs, key=lambda run: run.at)
    baseline = _baseline_run(
        subj, [r for r in runs if r.suite_sha256 == latest.suite_sha256], latest
    )
    if baseline is None:
        return _result(
            t,
            pol,
            TriggerStatus.INSUFFICIENT_DATA,
            f"only one eval run ({latest.run_id}) on the current suite; a later run "
            "(e.g. 'promptgov monitor --run-evals') is compared with it",
            observation=latest.run_id,
        )
    cur = rows_from_v3(load_run_output(registry, latest), latest.output)
    base = rows_from_v3(load_run_output(registry, baseline), baseline.output)
    drafts = _regression_drafts(base, cur, pol)
    checks = _decide_all(drafts, pol.alpha)
    fired = [c for c in checks if c["status"] == TriggerStatus.FIRED]
    if fired:
        status = TriggerStatus.FIRED
    elif all(c["status"] == TriggerStatus.INSUFFICIENT_DATA for c in checks):
        status = TriggerStatus.INSUFFICIENT_DATA
    else:
        status = TriggerStatus.NOT_FIRED
    shown = fired or checks
    summary = "; ".join(f"{c['name']} {c['detail']}" for c in shown)
    return _result(
        t,
        pol,
        status,
        summary,
        measured={c["name"]: c["effect"] for c in checks},
        thresholds={c["name"]: c["threshold"] for c in checks},
        samples={"baseline": len(base), "current": len(cur), "min_samples": pol.min_samples},
        observation=latest.run_id,
        details={
            "baseline_run": baseline.run_id,
            "current_run": latest.run_id,
            "baseline_output": baseline.output,
            "current_output": latest.output,
            "alpha": pol.alpha,
            "correction": "benjamini-hochberg",
            "checks": checks,
        },
        evidence=(baseline.output, latest.output),
    )


def _baseline_run(
    subj: _Subject, same_suite: list[EvalRunRef], latest: EvalRunRef
) -> EvalRunRef | None:
    """The run that let the version into ``env`` (its passing gate), else its first run."""
    ids = {run.run_id: run for run in same_suite if run.run_id != latest.run_id}
    if not ids:
        return None
    gates = sorted(
        (
            g
            for r in subj.entry.versions
            if r.sha256 == subj.record.sha256
            for g in r.gate_results
            if g.env == subj.env
            and g.verdict.value == "pass"
            and g.run_id in ids
            and g.at <= subj.promoted_at
        ),
        key=lambda g: g.at,
    )
    if gates:
        return ids[gates[-1].run_id]
    return min(ids.values(), key=lambda run: run.at)


def _regression_drafts(
    base: list[Any], cur: list[Any], pol: EvalRegressionPolicy
) -> list[dict[str, Any]]:
    """One draft per comparison: effect, threshold and the scipy test behind it."""
    th, n_min = pol.thresholds, pol.min_samples
    bs, bn = sum(r.success for r in base), len(base)
    cs, cn = sum(r.success for r in cur), len(cur)
    fisher = stats.fisher_drop(bs, bn, cs, cn, alpha=pol.alpha, min_samples=n_min, min_drop=None)
    drafts = [
        _draft(
            "pass_rate_drop",
            "Fisher exact (one-sided)",
            fisher.outcome,
            fisher.p_value,
            (bs / bn - cs / cn) if bn and cn else None,
            th.pass_rate_drop,
            bs / bn if bn else None,
            cs / cn if cn else None,
            bn,
            cn,
            fisher.reason,
        )
    ]
    if th.metric_drop is not None:
        for m in sorted(
            {k for r in base for k in r.named_scores} & {k for r in cur for k in r.named_scores}
        ):
            b = [r.named_scores[m] for r in base if m in r.named_scores]
            c = [r.named_scores[m] for r in cur if m in r.named_scores]
            res = stats.mann_whitney_increase(c, b, alpha=pol.alpha, min_samples=n_min)
            bm, cm = sum(b) / len(b), sum(c) / len(c)
            drafts.append(
                _draft(
                    f"metric_drop:{m}",
                    "Mann-Whitney U (one-sided)",
                    res.outcome,
                    res.p_value,
                    bm - cm,
                    th.metric_drop,
                    bm,
                    cm,
                    len(b),
                    len(c),
                    res.reason,
                )
            )
    if th.cost_ratio is not None:
        b = [r.cost for r in base if r.cost is not None]
        c = [r.cost for r in cur if r.cost is not None]
        res = stats.mann_whitney_increase(b, c, alpha=pol.alpha, min_samples=n_min)
        drafts.append(
            _draft(
                "cost_ratio",
                "Mann-Whitney U (one-sided)",
                res.outcome,
                res.p_value,
                res.mean_ratio,
                th.cost_ratio,
                res.reference_mean,
                res.current_mean,
                len(b),
                len(c),
                res.reason,
            )
        )
    return drafts


def _draft(
    name: str,
    test: str,
    outcome: stats.Outcome,
    p: float | None,
    effect: float | None,
    threshold: float,
    baseline: float | None,
    current: float | None,
    nb: int,
    nc: int,
    reason: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "test": test,
        "effect": effect,
        "threshold": threshold,
        "baseline": baseline,
        "current": current,
        "baseline_n": nb,
        "current_n": nc,
        "p_value": p,
        "insufficient": reason if outcome is stats.Outcome.INCONCLUSIVE and p is None else None,
    }


def _decide_all(drafts: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """Benjamini–Hochberg over the tested drafts; fire on significant *and* ≥ threshold."""
    tested = [d for d in drafts if d["insufficient"] is None and d["p_value"] is not None]
    bh = stats.benjamini_hochberg([d["p_value"] for d in tested], alpha=alpha) if tested else None
    adjusted = {id(d): a for d, a in zip(tested, bh.adjusted if bh else (), strict=True)}
    out = []
    for d in drafts:
        adj = adjusted.get(id(d))
        effect, threshold = d.pop("effect"), d["threshold"]
        reason = d.pop("insufficient")
        if reason is not None or effect is None:
            status, detail = TriggerStatus.INSUFFICIENT_DATA, reason or "nothing to compare"
        else:
            big = effect >= threshold - 1e-12
            significant = adj is not None and adj <= alpha
            status = TriggerStatus.FIRED if big and significant else TriggerStatus.NOT_FIRED
            sign = "≥" if big else "<"
            detail = f"{effect:.4g} {sign} {threshold:g} (p={d['p_value']:.3g}, adjusted {adj:.3g})"
            if big and not significant:
                detail += ", not significant"
        out.append(
            {**d, "effect": effect, "adjusted_p_value": adj, "status": status, "detail": detail}
        )
    return out


# --------------------------------------------------------------------------- 2. drift


def _default_logs(repo: Repo) -> list[Path]:
    base = repo.root / "logs"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_file() and p.name.endswith(LOG_SUFFIXES))


def _drift(
    registry: Registry,
    subj: _Subject,
    pol: DriftPolicy,
    logs: Sequence[str | Path] | None,
    window: str | timedelta | None,
    now: datetime,
    embedder: Any,
) -> TriggerResult:
    """Recent production window vs the first days after promotion (see docs/monitoring.md)."""
    from ..monitor import check_drift_from_paths, default_windows

    t = TriggerName.DRIFT
    if window is not None:
        try:
            pol = pol.model_copy(update={"window": parse_duration(window)})
        except ValueError as exc:
            raise InputError(f"--window: {exc}.") from None
    if not pol.enabled:
        return _disabled(t, pol)
    paths = list(logs) if logs is not None else _default_logs(registry.repo)
    if not paths:
        return _result(
            t,
            pol,
            TriggerStatus.INSUFFICIENT_DATA,
            "no production logs: pass --logs PATH or put JSON/JSONL logs in logs/",
        )
    reference, recent = default_windows(
        subj.promoted_at, now, reference=pol.reference_window, recent=pol.window
    )
    rep = check_drift_from_paths(
        paths,
        reference=reference,
        recent=recent,
        prompt=subj.name,
        version=subj.record.version,
        env=subj.env,
        policy=pol,
        embedder=embedder,
    )
    status = TriggerStatus(rep.status.value)
    shown = [c for c in rep.checks if c.status.value == "fired"] or [
        c for c in rep.checks if c.status.value == "not_fired"
    ]
    summary = (
        "; ".join(
            f"{c.name} {c.effect_name} {_num(c.effect)} vs {_num(c.threshold)}" for c in shown[:6]
        )
        or "no check had enough records"
    )
    ref_n, cur_n = rep.reference.get("records", 0), rep.recent.get("records", 0)
    summary += f" ({ref_n} reference / {cur_n} recent records)"
    ingest = rep.ingest or {}
    return _result(
        t,
        pol,
        status,
        summary,
        measured={
            c.name: {
                "reference": c.reference_value,
                "recent": c.recent_value,
                "effect": c.effect,
                "effect_name": c.effect_name,
                "p_value": c.adjusted_p_value,
                "status": c.status.value,
            }
            for c in rep.checks
        },
        thresholds={c.name: c.threshold for c in rep.checks},
        samples={"reference": ref_n, "recent": cur_n, "min_samples": pol.min_samples},
        observation=recent.end.isoformat(),
        details={
            "fired": list(rep.fired),
            "model_changes": list(rep.model_changes),
            "reference_window": reference.to_dict(),
            "recent_window": recent.to_dict(),
            "logs": {
                "files": [str(p) for p in paths],
                "read": ingest.get("read", 0),
                "accepted": ingest.get("accepted", 0),
                "malformed_count": ingest.get("malformed_count", 0),
                "malformed": ingest.get("malformed", [])[:_MALFORMED_SHOWN],
                "skipped_other": ingest.get("skipped_other", {}),
            },
        },
        files={
            "-drift.json": (
                json.dumps(rep.to_dict(), indent=2, ensure_ascii=False) + "\n"
            ).encode(),
            "-drift.md": rep.to_markdown().encode(),
        },
    )


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


# --------------------------------------------------------------------------- 3. failing tests


def _failing_tests(
    registry: Registry, subj: _Subject, pol: FailingTestsPolicy, now: datetime
) -> TriggerResult:
    """The latest scheduled re-run of the serving content, judged by today's gate."""
    from ..eval_runs import load_run_output
    from ..gate import evaluate_gate, load_gate_config, rows_from_v3

    t = TriggerName.FAILING_TESTS
    if not pol.enabled:
        return _disabled(t, pol)
    runs = [
        run
        for r in subj.entry.versions
        if r.sha256 == subj.record.sha256
        for run in r.eval_runs
        if run.scheduled
    ]
    hint = "schedule 'promptgov monitor --run-evals' to re-run the suite on the serving version"
    if not runs:
        return _result(
            t,
            pol,
            TriggerStatus.INSUFFICIENT_DATA,
            f"no scheduled re-run of the serving version; {hint}",
        )
    run = max(runs, key=lambda r: r.at)
    if pol.window is not None and run.at < now - pol.window:
        return _result(
            t,
            pol,
            TriggerStatus.INSUFFICIENT_DATA,
            f"the last scheduled re-run ({run.run_id}) is older than {format_duration(pol.window)}; {hint}",
            observation=run.run_id,
        )
    rows = rows_from_v3(load_run_output(registry, run), run.output)
    gate = evaluate_gate(
        rows,
        load_gate_config(registry.repo).rules(subj.name, subj.env),
        env=subj.env,
        prompt=subj.name,
    )
    samples = {"results": len(rows)}
    # The gate's own min_results decides by default; an explicit min_samples adds a floor.
    if "min_samples" in pol.model_fields_set and len(rows) < pol.min_samples:
        status = TriggerStatus.INSUFFICIENT_DATA
        summary = (
            f"run {run.run_id} has {len(rows)} results, fewer than min_samples {pol.min_samples}"
        )
        samples["min_samples"] = pol.min_samples
    else:
        status = {"pass": TriggerStatus.NOT_FIRED, "fail": TriggerStatus.FIRED}.get(
            gate.verdict.value, TriggerStatus.INSUFFICIENT_DATA
        )
        failed = gate.failed()
        summary = f"gate {gate.verdict.value} on scheduled run {run.run_id}" + (
            ": " + "; ".join(f"{c.name} {c.measured} vs {c.threshold}" for c in failed)
            if failed
            else ""
        )
    return _result(
        t,
        pol,
        status,
        summary,
        measured={c.name: c.measured for c in gate.checks},
        thresholds={c.name: c.threshold for c in gate.checks},
        samples=samples,
        observation=run.run_id,
        details={"run": run.run_id, "run_at": run.at.isoformat(), "gate": gate.to_dict()},
        evidence=(run.output,),
    )


# --------------------------------------------------------------------------- 4. complaints


def _complaints(
    registry: Registry, subj: _Subject, pol: ComplaintsPolicy, now: datetime
) -> TriggerResult:
    """Complaints about the serving content in ``env`` within the policy window."""
    from .feedback import complaints

    t = TriggerName.COMPLAINTS
    if not pol.enabled:
        return _disabled(t, pol)
    since = now - pol.window if pol.window is not None else None
    found = [
        c
        for c in complaints(
            registry, subj.name, env=subj.env, sha256=subj.record.sha256, since=since
        )
        if c.at <= now
    ]
    severities = [c.severity for c in found]
    fired = pol.fires(severities)
    worst = max(severities, key=lambda s: s.rank) if severities else None
    span = f" in the last {format_duration(pol.window)}" if pol.window is not None else ""
    summary = (
        f"{len(found)} complaint(s){span}"
        + (f", worst {worst.value}" if worst else "")
        + f" (fires at {pol.count}, or one ≥ {pol.severity.value})"
    )
    return _result(
        t,
        pol,
        TriggerStatus.FIRED if fired else TriggerStatus.NOT_FIRED,
        summary,
        measured={"count": len(found), "worst_severity": worst.value if worst else None},
        thresholds={
            "count": pol.count,
            "severity": pol.severity.value,
            "window": format_duration(pol.window) if pol.window else None,
        },
        samples={"complaints": len(found)},
        observation=found[-1].id if found else None,
        details={
            "complaints": [
                {
                    "id": c.id,
                    "at": c.at.isoformat(),
                    "by": c.by,
                    "severity": c.severity.value,
                    "version": c.version,
                    "text": c.text[:200],
                }
                for c in found
            ]
        },
    )


# --------------------------------------------------------------------------- 5. audit flags


def _audit_flags(subj: _Subject, pol: AuditFlagsPolicy) -> TriggerResult:
    """An auditor's flag on the serving content (any version with the same hash)."""
    t = TriggerName.AUDIT_FLAGS
    if not pol.enabled:
        return _disabled(t, pol)
    flags = [
        (r.version, r.quarantine)
        for r in subj.entry.versions
        if r.sha256 == subj.record.sha256
        and r.quarantine is not None
        and r.quarantine.source == "audit-flag"
    ]
    if not flags:
        return _result(
            t,
            pol,
            TriggerStatus.NOT_FIRED,
            "the serving version is not flagged",
            measured={"flags": 0},
            thresholds={"flags": 1},
        )
    summary = "; ".join(f"{v} flagged by {q.by}: {q.reason}" for v, q in flags)
    return _result(
        t,
        pol,
        TriggerStatus.FIRED,
        summary,
        measured={"flags": len(flags)},
        thresholds={"flags": 1},
        observation=max(q.at for _, q in flags).isoformat(),
        details={
            "flags": [
                {"version": v, "by": q.by, "reason": q.reason, "at": q.at.isoformat()}
                for v, q in flags
            ]
        },
    )


# --------------------------------------------------------------------------- record


@dataclass
class _Due:
    """What the recorded check decided to do after the commit."""

    notify: list[str] = field(default_factory=list)
    rollback: list[str] = field(default_factory=list)
    pending_seq: int | None = None


def _state_dir(name: str, env: str) -> str:
    return f"{TRIGGERS_DIR}/{name}/{env}"


def _load_state(txn: Transaction, rel: str, version: str, sha: str) -> dict[str, Any]:
    raw = txn.read(rel)
    fresh: dict[str, Any] = {"version": version, "sha256": sha, "triggers": {}}
    if raw is None:
        return fresh
    try:
        state = json.loads(raw)
        if not isinstance(state, dict) or not isinstance(state.get("triggers"), dict):
            raise ValueError("no 'triggers' mapping")
    except ValueError as exc:
        raise InvalidFile(
            f"{rel} is not a trigger state file ({exc}); delete it to start counting failing "
            "checks afresh."
        ) from None
    if state.get("version") != version or state.get("sha256") != sha:
        return fresh  # a new version serves: its failures are counted from zero
    return state


def _advance(entry: dict[str, Any] | None, r: TriggerResult, at: str) -> dict[str, Any] | None:
    """The next state of one trigger's run of failures (None = no run)."""
    if r.status is TriggerStatus.FIRED:
        if not entry:
            return {
                "streak": 1,
                "since": at,
                "observation": r.observation,
                "notified": False,
                "rollback_attempted": False,
            }
        if r.observation is None or r.observation != entry.get("observation"):
            return {
                **entry,
                "streak": int(entry.get("streak", 0)) + 1,
                "observation": r.observation,
            }
        return entry  # the same evidence again: it counts once
    if r.status is TriggerStatus.INSUFFICIENT_DATA:
        return entry  # cannot tell: neither counts nor resets
    return None


def _record(
    registry: Registry, report: TriggerReport, subj: _Subject, *, notify: bool, auto_rollback: bool
) -> _Due:
    """One transaction: evidence files, report, state, check history, audit entries."""
    repo = registry.repo
    base = _state_dir(subj.name, subj.env)
    stamp = f"{report.checked_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    report.report = f"{base}/{stamp}-{report.version}.json"
    at = report.checked_at.isoformat()
    due = _Due()
    with repo.edit() as e:
        txn = e.txn
        state = _load_state(txn, f"{base}/state.json", report.version, report.sha256)
        before = {k: dict(v) for k, v in state["triggers"].items()}
        results, resets, counted = [], [], []
        for r in report.results:
            evidence = list(r.evidence)
            for suffix, data in r.files.items():
                rel = f"{base}/{stamp}-{report.version}{suffix}"
                txn.write(rel, data)
                evidence.append(rel)
            prev = before.get(r.trigger.value)
            nxt = _advance(prev, r, at)
            if nxt is None:
                state["triggers"].pop(r.trigger.value, None)
                if prev and prev.get("streak"):
                    resets.append(r.trigger.value)
            else:
                state["triggers"][r.trigger.value] = nxt
                if nxt is not prev:
                    counted.append(r.trigger.value)
            results.append(replace(r, evidence=tuple(evidence), streak=nxt["streak"] if nxt else 0))
        report.results = results
        _plan_actions(report, state, due, notify=notify, auto_rollback=auto_rollback)
        evidence = [
            report.report,
            *(e for r in results for e in r.evidence if e.startswith(TRIGGERS_DIR)),
        ]
        # Every check is in checks.jsonl; the audit log gets the ones that moved a count.
        if counted or resets or due.rollback:
            report.audit_seq = e.audit(
                action="trigger",
                actor="promptgov",
                prompt=subj.name,
                env=subj.env,
                to_version=report.version,
                to_sha256=report.sha256,
                reason=_reason(report, resets),
                evidence=evidence,
                details={
                    "statuses": {r.trigger.value: r.status.value for r in results},
                    "streaks": {r.trigger.value: r.streak for r in results},
                    "reset": resets,
                },
            )
        if due.rollback:
            lead = due.rollback[0]
            due.pending_seq = e.audit(
                action="auto-rollback",
                actor=f"policy:{lead}",
                on_behalf_of=subj.owners[0],
                prompt=subj.name,
                env=subj.env,
                from_version=report.version,
                from_sha256=report.sha256,
                reason=f"{', '.join(due.rollback)} fired in consecutive checks; rolling back",
                outcome="pending",
                evidence=evidence,
                details={"triggers": due.rollback},
            )
        state["updated_at"] = at
        e.write_json(report.report, report.to_dict())
        e.write_json(f"{base}/state.json", state)
        line = {
            "at": at,
            "version": report.version,
            "report": report.report,
            "statuses": {r.trigger.value: r.status.value for r in results},
            "streaks": {r.trigger.value: r.streak for r in results},
        }
        txn.append(f"{base}/checks.jsonl", (json.dumps(line) + "\n").encode())
    return due


def _plan_actions(
    report: TriggerReport, state: dict[str, Any], due: _Due, *, notify: bool, auto_rollback: bool
) -> None:
    """Decide notifications (once per run of failures) and rollbacks (at k, once per run)."""
    for r in report.results:
        if r.status is not TriggerStatus.FIRED:
            continue
        entry = state["triggers"][r.trigger.value]
        if notify and not entry["notified"]:
            entry["notified"] = True
            due.notify.append(r.trigger.value)
        if r.action is not Action.ROLLBACK:
            continue
        k = r.consecutive_failures
        if r.streak < k:
            report.actions.append(
                ActionTaken(
                    "waiting",
                    (r.trigger.value,),
                    True,
                    f"{r.streak} of {k} consecutive failing checks before an automatic rollback",
                )
            )
        elif not auto_rollback:
            report.actions.append(
                ActionTaken(
                    "due",
                    (r.trigger.value,),
                    True,
                    f"{r.streak} of {k} consecutive failing checks: the policy says roll back; run "
                    f"'promptgov monitor --auto-rollback' or 'promptgov rollback {report.prompt} --env {report.env}'",
                )
            )
        elif not entry["rollback_attempted"]:
            entry["rollback_attempted"] = True
            due.rollback.append(r.trigger.value)


def _reason(report: TriggerReport, resets: list[str]) -> str:
    parts = [
        f"{r.trigger.value} fired ({r.streak} of {r.consecutive_failures})"
        for r in report.results
        if r.status is TriggerStatus.FIRED
    ]
    parts += [f"{t} no longer fires (count reset)" for t in resets]
    return "; ".join(parts)


# --------------------------------------------------------------------------- act


def _notify(
    registry: Registry, report: TriggerReport, subj: _Subject, fired: list[str], policy: Any
) -> None:
    """Announce newly fired triggers to the owners; failures wait in the outbox."""
    from ..notify import render_notification
    from .notify import announce

    results = [report.result(t) for t in fired]
    note = render_notification(
        "trigger",
        prompt=subj.name,
        env=subj.env,
        from_version=report.version,
        reason="; ".join(f"{r.trigger.value}: {r.summary}" for r in results),
        evidence=[report.report or "", *(e for r in results for e in r.evidence)],
        owners=subj.owners,
        key=f"trigger-{report.report}",
        extra={
            "triggers": ", ".join(fired),
            "actions": ", ".join(f"{r.trigger.value} → {r.action.value}" for r in results),
        },
    )
    deliveries = announce(
        registry.repo,
        note,
        prompt=subj.name,
        env=subj.env,
        version=report.version,
        policy=policy,
        details={"report": report.report},
    )
    report.actions.append(
        ActionTaken(
            "notify",
            tuple(fired),
            all(d.ok for d in deliveries),
            f"{len(deliveries)} target(s) notified"
            if deliveries
            else "no notification target subscribes to triggers",
            {"deliveries": [d.to_dict() for d in deliveries]},
        )
    )


def _auto_rollback(
    registry: Registry,
    report: TriggerReport,
    subj: _Subject,
    due: _Due,
    run_options: Any,
    notify_policy: Any,
) -> None:
    """Run the full rollback flow with the policy as authorizer; settle the pending entry."""
    from .rollback import RollbackOptions, rollback

    lead = due.rollback[0]
    evidence = [report.report or "", *(e for t in due.rollback for e in report.result(t).evidence)]
    current = registry.entry(subj.name).environments.get(subj.env, Environment()).current
    try:
        if current != report.version:
            raise InputError(f"{subj.env} moved to {current} since the check; nothing rolled back")
        why = "; ".join(f"{t}: {report.result(t).summary}" for t in due.rollback)
        options = RollbackOptions(
            reason=f"automatic rollback: {why}"[:500],
            env=subj.env,
            evidence=tuple(evidence),
            run_options=run_options,
            notify_policy=notify_policy,
        )
        res = rollback(registry, subj.name, options, by=f"policy:{lead}")
        record = res.record
        action = ActionTaken(
            "rollback",
            tuple(due.rollback),
            True,
            f"rolled back {report.version} → {res.plan.new_version} (restored {res.plan.target})",
            {
                "rollback_id": record.id if record else None,
                "new_version": res.plan.new_version,
                "restored": res.plan.target,
                "authorized_by": f"policy:{lead}",
            },
        )
    except PromptGovError as exc:
        action = ActionTaken(
            "rollback", tuple(due.rollback), False, exc.message, {"error": type(exc).__name__}
        )
    report.actions.append(action)
    repo = registry.repo
    with repo.edit() as e:
        e.audit(
            action="auto-rollback",
            actor=f"policy:{lead}",
            on_behalf_of=subj.owners[0],
            prompt=subj.name,
            env=subj.env,
            from_version=report.version,
            from_sha256=report.sha256,
            reason=action.detail,
            outcome="success" if action.ok else "failure",
            error=None if action.ok else action.detail,
            evidence=evidence,
            details={"pending_seq": due.pending_seq, **action.data},
        )


# --------------------------------------------------------------------------- monitor


@dataclass
class MonitorItem:
    """One prompt's outcome in a monitor cycle: a report, or the error that stopped it."""

    prompt: str
    report: TriggerReport | None = None
    error: str | None = None
    eval_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "prompt": self.prompt,
            "eval_run": self.eval_run,
            "error": self.error,
            "report": self.report.to_dict() if self.report else None,
        }


def deployed_prompts(registry: Registry, env: str = DEFAULT_ENV) -> list[str]:
    """Prompts with a version in ``env`` (read from the registry index only)."""
    registry.repo.check_env(env)
    return [s.name for s in registry.status() if s.environments.get(env)]


def monitor_once(
    registry: Registry,
    *,
    env: str = DEFAULT_ENV,
    logs: Sequence[str | Path] | None = None,
    window: str | timedelta | None = None,
    now: datetime | None = None,
    auto_rollback: bool = False,
    run_evals: bool = False,
    notify: bool = True,
    **options: Any,
) -> list[MonitorItem]:
    """Check every prompt deployed to ``env`` once; one prompt's error never stops the others.

    With ``run_evals`` the eval suite of each serving version is re-run first and recorded
    as a scheduled run, which the ``failing_tests`` and ``eval_regression`` triggers read.
    """
    items = []
    for name in deployed_prompts(registry, env):
        item = MonitorItem(name)
        try:
            if run_evals:
                from .evaluate import run_version_eval

                outcome = run_version_eval(
                    registry,
                    f"{name}@{env}",
                    by="promptgov monitor",
                    scheduled=True,
                    options=options.get("run_options"),
                )
                item.eval_run = outcome.run.run_id
            item.report = check_triggers(
                registry,
                name,
                env=env,
                logs=logs,
                window=window,
                now=now,
                notify=notify,
                auto_rollback=auto_rollback,
                **options,
            )
        except PromptGovError as exc:
            item.error = exc.message
        items.append(item)
    return items


def monitor(
    registry: Registry,
    *,
    interval: str | timedelta,
    cycles: int | None = None,
    on_cycle: Callable[[list[MonitorItem]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **options: Any,
) -> int:
    """Run :func:`monitor_once` every ``interval`` (``cycles`` times, or until interrupted).

    Returns the number of cycles run. Each cycle starts ``interval`` after the previous one
    started, so a slow check does not drift the schedule.
    """
    try:
        every = parse_duration(interval).total_seconds()
    except ValueError as exc:
        raise InputError(f"--interval: {exc}.") from None
    done = 0
    while cycles is None or done < cycles:
        started = time.monotonic()
        items = monitor_once(registry, **options)
        done += 1
        if on_cycle is not None:
            on_cycle(items)
        if cycles is not None and done >= cycles:
            break
        sleep(max(0.0, every - (time.monotonic() - started)))
    return done
