"""What the pages show, read from the registry, the audit log and the eval outputs.

Every figure comes from the same records the CLI reads; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...actions._monitor_record import TRIGGERS_DIR
from ...actions._policy import allowed_approver, same_person
from ...actions.gate import GateOptions, check_gate
from ...audit import AuditEntry, AuditLog, AuditVerifyReport
from ...errors import PromptGovError
from ...eval_runs import load_run_output
from ...gate import GateReport, TestRow, rows_from_v3
from ...model import GateResult, VersionRecord
from ...monitor.feedback import COMPLAINTS_DIR, complaints, complaints_path
from ...monitor.triggers.state import load_state
from ...registry import Registry


@dataclass(frozen=True)
class Row:
    """One prompt on the overview."""

    name: str
    latest: str | None
    envs: dict[str, str | None]
    status: dict[str, str]
    gate: dict[str, str]
    quarantined: list[str]
    complaints: int
    post_reviews: int
    pending: int
    triggers: dict[str, list[str]] = field(default_factory=dict)
    """env → the triggers whose checks are failing for the version it serves."""


def _last_gate(rec: VersionRecord, env: str) -> GateResult | None:
    gates = [g for g in rec.gate_results if g.env == env]
    return max(gates, key=lambda g: g.at) if gates else None


def overview(reg: Registry) -> list[Row]:
    """Each prompt with its pointers, the serving versions' status and last gate verdict."""
    envs = reg.repo.config.env_names
    # One listing each instead of a path check per prompt and environment.
    with_triggers = _listed(reg, TRIGGERS_DIR)
    with_complaints = _listed(reg, COMPLAINTS_DIR)
    rows = []
    for st in reg.status():
        status: dict[str, str] = {}
        gate: dict[str, str] = {}
        open_complaints = 0
        pending = 0
        triggers: dict[str, list[str]] = {}
        if st.versions:
            entry = reg.entry(st.name)
            by_version = {r.version: r for r in entry.versions}
            for env in envs:
                served = st.environments.get(env)
                rec = by_version.get(served) if served else None
                if rec is not None:
                    status[env] = rec.status.value
                    g = _last_gate(rec, env)
                    gate[env] = g.verdict.value if g else "none"
                    failing = (
                        open_triggers(reg, st.name, env, rec) if st.name in with_triggers else []
                    )
                    if failing:
                        triggers[env] = failing
            pending = sum(1 for _ in _waiting(reg, st.name, entry.versions, st.environments))
            prod = envs[-1]
            sha = next(
                (r.sha256 for r in entry.versions if r.version == st.environments.get(prod)), None
            )
            if sha is not None and complaints_path(st.name).rsplit("/", 1)[-1] in with_complaints:
                open_complaints = len(_complaints(reg, st.name, prod, sha))
        rows.append(
            Row(
                st.name,
                st.latest,
                st.environments,
                status,
                gate,
                st.quarantined,
                open_complaints,
                len(st.post_reviews),
                pending,
                triggers,
            )
        )
    return rows


def _listed(reg: Registry, rel: str) -> set[str]:
    """Names in the repository folder ``rel`` (none when it is missing or unreadable)."""
    try:
        return {p.name for p in reg.repo.path(rel).iterdir()}
    except (OSError, PromptGovError):
        return set()


def open_triggers(reg: Registry, name: str, env: str, rec: VersionRecord) -> list[str]:
    """Triggers with a run of failing checks against what ``env`` serves (``rec``), from
    its trigger state file; a missing or unreadable file opens none."""
    rel = f"{TRIGGERS_DIR}/{name}/{env}/state.json"
    try:
        raw = reg.repo.path(rel).read_bytes()
    except (OSError, PromptGovError):
        return []
    try:
        state = load_state(raw, rel, rec.version, rec.sha256)
    except PromptGovError:
        return []
    return sorted(str(t) for t, run in state.triggers.items() if run.streak > 0)


def _complaints(reg: Registry, name: str, env: str, sha: str) -> list[Any]:
    try:
        return complaints(reg, name, env=env, sha256=sha)
    except PromptGovError:
        return []


def _waiting(
    reg: Registry, name: str, versions: list[VersionRecord], served: dict[str, str | None]
) -> list[tuple[str, VersionRecord]]:
    """(env, version) pairs whose gate passed there but whose approvals are short."""
    out = []
    for env_cfg in reg.repo.config.environments:
        need = env_cfg.approvals.required
        if not need:
            continue
        for rec in versions:
            if rec.version == served.get(env_cfg.name) or rec.quarantine is not None:
                continue
            g = _last_gate(rec, env_cfg.name)
            if g is None or g.verdict.value == "fail":
                continue
            have = sum(1 for a in rec.approvals if a.env == env_cfg.name)
            if have < need:
                out.append((env_cfg.name, rec))
    return out


@dataclass(frozen=True)
class Waiting:
    """A version waiting for the signed-in user's approval in one environment."""

    prompt: str
    version: str
    env: str
    author: str
    serving: str | None
    verdict: str
    report: GateReport | None
    """The gate applied again to the latest run, without recording (None: it cannot be)."""
    diff: Any


def approvals_for(reg: Registry, who: str) -> list[Waiting]:
    """The queue of ``who``: versions the policy lets them approve, not yet approved by them."""
    out = []
    config = reg.repo.config
    for st in reg.status():
        if not st.versions:
            continue
        entry = reg.entry(st.name)
        for env, rec in _waiting(reg, st.name, entry.versions, st.environments):
            policy = config.environment(env)
            assert policy is not None
            if not allowed_approver(config, env, who):
                continue
            if same_person(rec.author, who) and not policy.approvals.allow_self_approval:
                continue
            if any(a.env == env and same_person(a.by, who) for a in rec.approvals):
                continue
            g = _last_gate(rec, env)
            assert g is not None
            serving = st.environments.get(env)
            out.append(
                Waiting(
                    st.name,
                    rec.version,
                    env,
                    rec.author,
                    serving,
                    g.verdict.value,
                    _gate_report(reg, f"{st.name}@{rec.version}", env),
                    reg.diff(st.name, serving, rec.version) if serving else None,
                )
            )
    return out


def _gate_report(reg: Registry, ref: str, env: str) -> GateReport | None:
    try:
        return check_gate(reg, ref, GateOptions(env=env, record=False))
    except PromptGovError:
        return None


@dataclass(frozen=True)
class VersionFigures:
    """A version's latest eval run: pass rate, mean cost per call and p95 latency."""

    version: str
    pass_rate: float | None
    cost: float | None
    p95_ms: float | None


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def figures(reg: Registry, name: str) -> list[VersionFigures]:
    """Per version, the figures of its newest eval run (None where the run reports none)."""
    out = []
    for rec in reg.entry(name).versions:
        if not rec.eval_runs:
            out.append(VersionFigures(rec.version, None, None, None))
            continue
        run = max(rec.eval_runs, key=lambda r: r.at)
        rows: list[TestRow] = []
        try:
            rows = rows_from_v3(load_run_output(reg, run), run.output)
        except PromptGovError:
            pass
        costs = [r.cost for r in rows if r.cost is not None]
        lat = [r.latency_ms for r in rows if r.latency_ms is not None]
        out.append(
            VersionFigures(
                rec.version,
                run.pass_rate,
                sum(costs) / len(costs) if costs else None,
                _p95(lat),
            )
        )
    return out


@dataclass
class AuditView:
    """The filtered entries and the chain's verify result."""

    entries: list[AuditEntry]
    report: AuditVerifyReport
    actions: list[str] = field(default_factory=list)


def audit_view(
    log: AuditLog,
    report: AuditVerifyReport,
    *,
    prompt: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
) -> AuditView:
    """Entries newest first, filtered as the audit page asks."""
    everything = list(log.entries())
    actions = sorted({e.action for e in everything})
    picked = [
        e
        for e in everything
        if (prompt is None or e.prompt == prompt)
        and (action is None or e.action == action)
        and (actor is None or actor.lower() in e.actor.lower())
        and (since is None or e.timestamp >= since)
        and (until is None or e.timestamp <= until)
    ]
    picked.reverse()
    return AuditView(picked[:limit], report, actions)
