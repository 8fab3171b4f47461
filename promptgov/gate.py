"""The eval gate: what a version's eval results must show before it may enter an environment.

``ci/eval-gate.yml`` is a :class:`GateConfig`: defaults, per-environment overrides and
per-prompt overrides, merged into one :class:`GateRules`. :func:`evaluate_gate` applies
the rules to promptfoo v3 results (and, for regressions, to a baseline's results) and
returns a :class:`GateReport` with every check, its threshold, the measured value and
the baseline's. It is pure: recording verdicts is :mod:`promptgov.actions.gate`'s job.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .declared_model import POLICY_HINT, DeclaredModel, answered
from .errors import InvalidFile, NotFound
from .model import DeclaredModelPolicy, GateVerdict, validate_model
from .repo import Repo
from .store.files import load_yaml, read_bytes
from .store.paths import GATE_FILE as DEFAULT_GATE_FILE

_STRICT = ConfigDict(frozen=True, extra="forbid")


class MetricRule(BaseModel):
    """A minimum mean score for one named metric."""

    model_config = _STRICT
    min: float = Field(ge=0, description="Minimum mean of the metric's per-test scores.")


class RegressionRules(BaseModel):
    """How much worse than the baseline a version may be, and how sure the test must be."""

    model_config = _STRICT
    max_pass_rate_drop: float | None = Field(
        default=0.0, ge=0, le=1, description="Largest allowed absolute drop in pass rate."
    )
    max_metric_drop: float | None = Field(
        default=0.05, ge=0, description="Largest allowed drop of any named metric's mean."
    )
    max_cost_increase: float | None = Field(
        default=0.25,
        ge=0,
        description="Largest allowed relative increase of mean cost (0.25 = +25%).",
    )
    max_latency_increase: float | None = Field(
        default=None, ge=0, description="Largest allowed relative increase of mean latency."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level of the tests.")
    min_samples: int = Field(
        default=5, ge=1, description="Per side, below which a regression test cannot tell."
    )


class GateRules(BaseModel):
    """The thresholds in force for one prompt and environment (all optional in overrides)."""

    model_config = _STRICT
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    min_results: int | None = Field(default=None, ge=0)
    errors_count_as_failures: bool | None = None
    metrics: dict[str, MetricRule] | None = None
    critical_tests: list[str] | None = Field(
        default=None, description="Test descriptions that must all pass."
    )
    critical_metrics: list[str] | None = Field(
        default=None, description="Metrics whose every assertion must pass."
    )
    max_cost_per_call: float | None = Field(default=None, ge=0)
    max_p95_latency_ms: float | None = Field(default=None, ge=0)
    regression: RegressionRules | None = None
    allowed_providers: list[str] | None = Field(
        default=None, description="Glob patterns of provider ids the results may come from."
    )
    max_cached_fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Largest share of answers the evidence may take from the response cache "
        "(default 0.5: evidence that is mostly cached does not show what the model says now).",
    )

    def merged(self, override: GateRules | None) -> GateRules:
        """``self`` with every field ``override`` sets replaced."""
        if override is None:
            return self
        # Re-validate rather than model_copy(update=…): the dump turns nested rules
        # (metrics, regression) into plain dicts, which model_copy would keep as dicts.
        data = self.model_dump(exclude_none=True)
        data.update(override.model_dump(exclude_unset=True, exclude_none=True))
        return GateRules.model_validate(data)


class GateConfig(BaseModel):
    """``ci/eval-gate.yml``."""

    model_config = _STRICT
    defaults: GateRules = Field(default_factory=GateRules)
    environments: dict[str, GateRules] = Field(default_factory=dict)
    prompts: dict[str, dict[str, GateRules]] = Field(
        default_factory=dict,
        description="Per prompt: 'all' applies to every environment, else per environment.",
    )

    def rules(self, prompt: str | None, env: str) -> GateRules:
        """Defaults ← environment ← prompt (all) ← prompt (this environment)."""
        rules = _BUILTIN.merged(self.defaults).merged(self.environments.get(env))
        per_prompt = self.prompts.get(prompt or "", {})
        return rules.merged(per_prompt.get("all")).merged(per_prompt.get(env))


_BUILTIN = GateRules(
    min_pass_rate=1.0,
    min_results=1,
    errors_count_as_failures=True,
    metrics={},
    critical_tests=[],
    critical_metrics=[],
    regression=RegressionRules(),
    allowed_providers=[],
    max_cached_fraction=0.5,
)


def load_gate_config(repo: Repo) -> GateConfig:
    """Read and validate the repository's gate file."""
    rel = repo.config.gate_file
    data = load_yaml(repo.path(rel), rel) or {}
    cfg: GateConfig = validate_model(GateConfig, data, rel)
    return cfg


def gate_file_sha256(repo: Repo) -> str:
    """sha256 of the gate file's bytes: a promotion needs a verdict under the current file."""
    data = read_bytes(repo.path(repo.config.gate_file))
    if data is None:
        raise InvalidFile(
            f"{repo.config.gate_file} is missing; restore it from git.",
            cli_hint="Or run 'promptgov init' to write a default one.",
        )
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TestRow:
    """One result row of a promptfoo v3 output, reduced to what the gate reads."""

    key: str
    description: str
    success: bool
    error: bool
    score: float
    named_scores: dict[str, float]
    cost: float | None
    latency_ms: float | None
    provider: str
    failed_metrics: frozenset[str]
    cached: bool = False
    """The answer came from the response cache, not from the model."""
    prompt: str = ""
    """The prompt's label (``name@version`` for a governed prompt)."""


def rows_from_v3(data: Mapping[str, Any], label: str = "results") -> list[TestRow]:
    """Read promptfoo v3 JSON output (``{"results": {"results": [...]}}``) into rows."""
    try:
        results = data["results"]["results"] if "results" in data["results"] else data["results"]
    except (KeyError, TypeError):
        raise InvalidFile(
            f"{label} is not promptfoo v3 output JSON (no results.results).",
            cli_hint="Write it with 'promptgov eval -o out.json' or 'promptfoo eval -o out.json'.",
        ) from None
    if not isinstance(results, list):
        raise InvalidFile(f"{label}: results.results must be a list.")
    rows = []
    for i, r in enumerate(results):
        try:
            rows.append(_row(r))
        except (AttributeError, TypeError, ValueError):
            raise InvalidFile(
                f"{label}: result {i + 1} is not a promptfoo v3 result (a field has the wrong "
                "type); re-run the evals to write it again."
            ) from None
    return rows


def _row(r: Any) -> TestRow:
    """One v3 result as a gate row (wrong field types raise and are reported by the caller)."""
    tc = r.get("testCase") or {}
    desc = tc.get("description") or r.get("description") or ""
    vars_ = r.get("vars") or tc.get("vars") or {}
    key = f"{r.get('promptIdx', 0)}|{desc}|{json.dumps(vars_, sort_keys=True, default=str)}"
    grading = r.get("gradingResult") or {}
    failed = frozenset(
        (c.get("assertion") or {}).get("metric")
        for c in grading.get("componentResults") or []
        if not c.get("pass") and (c.get("assertion") or {}).get("metric")
    )
    provider = r.get("provider")
    response = r.get("response")
    prompt = r.get("prompt")
    return TestRow(
        key=key,
        description=desc,
        success=bool(r.get("success")),
        error=r.get("failureReason") == 2
        or (not r.get("success") and bool(r.get("error")) and r.get("failureReason") is None),
        score=float(r.get("score") or 0.0),
        named_scores={k: float(v) for k, v in (r.get("namedScores") or {}).items()},
        cost=_num(r.get("cost")),
        latency_ms=_num(r.get("latencyMs")),
        provider=(provider.get("id") if isinstance(provider, dict) else str(provider or "")) or "",
        failed_metrics=failed,  # type: ignore[arg-type]
        cached=isinstance(response, dict) and response.get("cached") is True,
        prompt=str(prompt.get("label") or "") if isinstance(prompt, dict) else "",
    )


def cached_answers(v3: Mapping[str, Any]) -> int:
    """How many answers of promptfoo v3 output came from the response cache."""
    return sum(row.cached for row in rows_from_v3(v3))


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def load_results(path: Path) -> list[TestRow]:
    """Rows of a promptfoo v3 output file."""
    raw = read_bytes(path)
    if raw is None:
        raise InvalidFile(f"results file {path} does not exist.")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidFile(f"{path} is not valid JSON: {exc}.") from exc
    return rows_from_v3(data, str(path))


# --------------------------------------------------------------------------- report


CheckStatus = Literal["pass", "fail", "inconclusive", "skipped"]


@dataclass(frozen=True)
class Check:
    """One gate check: its threshold, the measured value, and the baseline's."""

    name: str
    status: CheckStatus
    threshold: Any
    measured: Any
    baseline: Any = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class GateReport:
    """Every check of one gate evaluation, and the verdict they add up to."""

    prompt: str | None
    env: str
    checks: list[Check]
    samples: int
    baseline_samples: int | None = None
    baseline_label: str | None = None
    newly_failing: list[str] = field(default_factory=list)
    newly_passing: list[str] = field(default_factory=list)
    version: str | None = None
    """The version gated (None for a results file)."""

    @property
    def subject(self) -> str:
        """What was gated, for people: ``support-reply@1.1.0``, ``greet`` or ``results``."""
        if self.prompt and self.version:
            return f"{self.prompt}@{self.version}"
        return self.prompt or "results"

    @property
    def verdict(self) -> GateVerdict:
        """fail if any check failed, else inconclusive if any could not tell, else pass."""
        statuses = {c.status for c in self.checks}
        if "fail" in statuses:
            return GateVerdict.FAIL
        if "inconclusive" in statuses:
            return GateVerdict.INCONCLUSIVE
        return GateVerdict.PASS

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 3 inconclusive."""
        return {GateVerdict.PASS: 0, GateVerdict.FAIL: 1, GateVerdict.INCONCLUSIVE: 3}[self.verdict]

    def failed(self) -> list[Check]:
        """Checks that did not pass."""
        return [c for c in self.checks if c.status in ("fail", "inconclusive")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "prompt": self.prompt,
            "version": self.version,
            "env": self.env,
            "verdict": self.verdict.value,
            "samples": self.samples,
            "baseline": self.baseline_label,
            "baseline_samples": self.baseline_samples,
            "checks": [c.to_dict() for c in self.checks],
            "newly_failing": self.newly_failing,
            "newly_passing": self.newly_passing,
        }

    def to_markdown(self) -> str:
        """A summary for PR comments and ``$GITHUB_STEP_SUMMARY``."""
        icon = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "skipped": "➖"}
        lines = [
            f"### Eval gate for {self.subject} → {self.env}: **{self.verdict.value}**",
            "",
            f"{self.samples} results"
            + (
                f"; baseline {self.baseline_label} ({self.baseline_samples} results)"
                if self.baseline_label
                else ""
            ),
            "",
            "| check | status | threshold | measured | baseline |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in self.checks:
            lines.append(
                f"| {c.name} | {icon[c.status]} {c.status} | {_fmt(c.threshold)} | {_fmt(c.measured)} | {_fmt(c.baseline)} |"
            )
        if self.newly_failing:
            lines += ["", "Newly failing: " + ", ".join(self.newly_failing)]
        if self.newly_passing:
            lines += ["", "Newly passing: " + ", ".join(self.newly_passing)]
        return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# --------------------------------------------------------------------------- evaluation


def _pass_counts(rows: list[TestRow], errors_fail: bool) -> tuple[int, int]:
    counted = rows if errors_fail else [r for r in rows if not r.error]
    return sum(r.success for r in counted), len(counted)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _mean(values: Iterable[float]) -> float | None:
    vals = list(values)
    return sum(vals) / len(vals) if vals else None


def evaluate_gate(
    rows: list[TestRow],
    rules: GateRules,
    *,
    env: str,
    prompt: str | None = None,
    baseline: list[TestRow] | None = None,
    baseline_label: str | None = None,
    declared: DeclaredModel | None = None,
    under_test: str = "",
) -> GateReport:
    """Apply ``rules`` to ``rows`` (and regression rules against ``baseline``).

    With ``declared``, the rows of the prompt labelled ``under_test`` must come from that
    model (or the policy must allow another).
    """
    errors_fail = bool(rules.errors_count_as_failures)
    checks: list[Check] = []
    n = len(rows)
    min_results = rules.min_results or 0
    checks.append(
        Check(
            "min results",
            "pass" if n >= min_results else "inconclusive",
            min_results,
            n,
            detail="" if n >= min_results else "too few results to judge",
        )
    )
    if rules.max_cached_fraction is not None and n:
        cached = sum(r.cached for r in rows)
        fresh = cached / n <= rules.max_cached_fraction + 1e-12
        checks.append(
            Check(
                "cached answers",
                "pass" if fresh else "fail",
                rules.max_cached_fraction,
                round(cached / n, 6),
                detail=f"{cached}/{n} from the response cache"
                + ("" if fresh else "; re-run with 'promptgov eval --no-cache'"),
            )
        )
    if declared is not None and n:
        checks.append(_declared_model_check(declared, rows, under_test))
    passed, counted = _pass_counts(rows, errors_fail)
    rate = passed / counted if counted else 0.0
    base_rate = None
    if baseline is not None:
        bp, bc = _pass_counts(baseline, errors_fail)
        base_rate = bp / bc if bc else None
    if rules.min_pass_rate is not None:
        checks.append(
            Check(
                "pass rate",
                "pass" if counted and rate >= rules.min_pass_rate - 1e-12 else "fail",
                rules.min_pass_rate,
                round(rate, 6),
                base_rate,
                f"{passed}/{counted} passed" + ("" if errors_fail else " (errors excluded)"),
            )
        )
    for metric, rule in sorted((rules.metrics or {}).items()):
        values = [r.named_scores[metric] for r in rows if metric in r.named_scores]
        mean = _mean(values)
        base = _mean(r.named_scores[metric] for r in baseline or [] if metric in r.named_scores)
        status: CheckStatus = (
            "inconclusive" if mean is None else "pass" if mean >= rule.min - 1e-12 else "fail"
        )
        checks.append(
            Check(f"metric {metric}", status, rule.min, mean, base, f"{len(values)} scores")
        )
    for desc in rules.critical_tests or []:
        matching = [r for r in rows if r.description == desc]
        status = "fail" if not matching or not all(r.success for r in matching) else "pass"
        checks.append(
            Check(
                f"critical test {desc!r}",
                status,
                "all pass",
                f"{sum(r.success for r in matching)}/{len(matching)}",
                detail="" if matching else "no result with this description",
            )
        )
    for metric in rules.critical_metrics or []:
        bad = [r.description or r.key for r in rows if metric in r.failed_metrics]
        checks.append(
            Check(
                f"critical metric {metric}",
                "fail" if bad else "pass",
                "all pass",
                f"{len(bad)} failing",
                detail=", ".join(bad[:5]),
            )
        )
    costs = [r.cost for r in rows if r.cost is not None]
    if rules.max_cost_per_call is not None:
        mean_cost = _mean(costs)
        checks.append(
            Check(
                "mean cost per call",
                "inconclusive"
                if mean_cost is None
                else "pass"
                if mean_cost <= rules.max_cost_per_call
                else "fail",
                rules.max_cost_per_call,
                mean_cost,
                _mean(r.cost for r in baseline or [] if r.cost is not None),
                "" if costs else "no result reports a cost",
            )
        )
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    if rules.max_p95_latency_ms is not None:
        p95 = _p95(latencies) if latencies else None
        checks.append(
            Check(
                "p95 latency ms",
                "inconclusive"
                if p95 is None
                else "pass"
                if p95 <= rules.max_p95_latency_ms
                else "fail",
                rules.max_p95_latency_ms,
                p95,
            )
        )
    if rules.allowed_providers:
        bad_p = sorted(
            {
                r.provider
                for r in rows
                if not any(fnmatch.fnmatch(r.provider, pat) for pat in rules.allowed_providers)
            }
        )
        checks.append(
            Check(
                "allowed providers",
                "fail" if bad_p else "pass",
                rules.allowed_providers,
                sorted({r.provider for r in rows}),
                detail=", ".join(bad_p),
            )
        )
    report = GateReport(prompt, env, checks, n, baseline_label=baseline_label)
    if baseline is not None:
        report.baseline_samples = len(baseline)
        checks.extend(
            _regressions(rows, baseline, rules.regression or RegressionRules(), errors_fail)
        )
        _compare_tests(report, rows, baseline)
    return report


def _declared_model_check(declared: DeclaredModel, rows: list[TestRow], under_test: str) -> Check:
    """The rows of ``under_test`` were answered by the declared model (or a stand-in), unless
    the policy allows another; results that name no provider are no evidence of it."""
    providers = answered(((r.prompt, r.provider) for r in rows), under_test)
    bad = declared.contradicting(providers)
    status: CheckStatus = "fail"
    if not providers:
        detail = "the results name no provider"
    elif not bad:
        status, detail = "pass", "answered by " + ", ".join(providers)
    elif declared.policy is DeclaredModelPolicy.ALLOW:
        status, detail = (
            "pass",
            f"answered by {', '.join(bad)}; allowed by evals.declared_model: allow",
        )
    else:
        detail = (
            f"answered by {', '.join(bad)}, not the declared {declared.provider}; re-run "
            f"with the declared model, or set {POLICY_HINT}"
        )
    return Check("declared model", status, declared.provider, providers, detail=detail)


def _regressions(
    rows: list[TestRow], baseline: list[TestRow], reg: RegressionRules, errors_fail: bool
) -> list[Check]:
    from . import stats

    out: list[Check] = []
    if reg.max_pass_rate_drop is not None:
        cs, cn = _pass_counts(rows, errors_fail)
        bs, bn = _pass_counts(baseline, errors_fail)
        drop = (bs / bn if bn else 0) - (cs / cn if cn else 0)
        res = stats.fisher_drop(
            bs, bn, cs, cn, alpha=reg.alpha, min_samples=reg.min_samples, min_drop=None
        )
        out.append(
            _regression_check(
                "regression: pass rate drop",
                drop,
                reg.max_pass_rate_drop,
                res.p_value,
                res.outcome.value,
                f"Fisher exact, n={bn}→{cn}",
            )
        )
    if reg.max_metric_drop is not None:
        metrics = sorted(
            {m for r in rows for m in r.named_scores}
            & {m for r in baseline for m in r.named_scores}
        )
        for m in metrics:
            cur = [r.named_scores[m] for r in rows if m in r.named_scores]
            base = [r.named_scores[m] for r in baseline if m in r.named_scores]
            drop = (sum(base) / len(base)) - (sum(cur) / len(cur))
            shift = stats.mann_whitney_increase(
                cur, base, alpha=reg.alpha, min_samples=reg.min_samples
            )
            out.append(
                _regression_check(
                    f"regression: metric {m}",
                    drop,
                    reg.max_metric_drop,
                    shift.p_value,
                    shift.outcome.value,
                    f"Mann-Whitney, n={len(base)}→{len(cur)}",
                )
            )
    for label, attr, limit in (
        ("cost", "cost", reg.max_cost_increase),
        ("latency", "latency_ms", reg.max_latency_increase),
    ):
        if limit is None:
            continue
        cur = [getattr(r, attr) for r in rows if getattr(r, attr) is not None]
        base = [getattr(r, attr) for r in baseline if getattr(r, attr) is not None]
        if not cur or not base:
            continue
        bmean = sum(base) / len(base)
        increase = (
            (sum(cur) / len(cur)) / bmean - 1 if bmean > 0 else (0.0 if sum(cur) == 0 else math.inf)
        )
        spike = stats.mann_whitney_increase(base, cur, alpha=reg.alpha, min_samples=reg.min_samples)
        out.append(
            _regression_check(
                f"regression: {label} increase",
                increase,
                limit,
                spike.p_value,
                spike.outcome.value,
                f"Mann-Whitney, n={len(base)}→{len(cur)}",
            )
        )
    return out


def _regression_check(
    name: str, change: float, limit: float, p: float | None, outcome: str, test: str
) -> Check:
    """Within the limit → pass; beyond it and significant → fail; beyond it but the test
    cannot tell (too few samples or p ≥ α) → inconclusive."""
    measured = round(change, 6)
    detail = f"{test}, p={p:.4g}" if p is not None else f"{test}, p=n/a"
    if change <= limit + 1e-12:
        return Check(name, "pass", limit, measured, detail=detail)
    status: CheckStatus = "fail" if outcome == "significant" else "inconclusive"
    return Check(name, status, limit, measured, detail=detail)


def _compare_tests(report: GateReport, rows: list[TestRow], baseline: list[TestRow]) -> None:
    base = {r.key: r.success for r in baseline}
    for r in rows:
        if r.key not in base:
            continue
        label = r.description or r.key
        if base[r.key] and not r.success:
            report.newly_failing.append(label)
        elif not base[r.key] and r.success:
            report.newly_passing.append(label)


def load_gate_file(path: Path) -> GateConfig:
    """Read and validate a gate file outside a governed repository."""
    data = load_yaml(path, str(path)) or {}
    cfg: GateConfig = validate_model(GateConfig, data, str(path))
    return cfg


def gate_results_file(
    results: Path,
    *,
    env: str,
    gate_file: Path | None = None,
    prompt: str | None = None,
    baseline: Path | None = None,
) -> GateReport:
    """Gate a promptfoo v3 output file in CI, with no registry needed.

    The gate file defaults to ``ci/eval-gate.yml`` in the current directory. Without one
    the gate is refused rather than run on the built-in defaults, whose thresholds may be
    looser than the team's (it passed silently); an empty gate file asks for the
    defaults on purpose.

    Raises:
        NotFound: no gate file was given and there is none in the current directory.
        InvalidFile: the results or the gate file cannot be read.
    """
    rows = load_results(results)
    if gate_file is None:
        gate_file = Path(DEFAULT_GATE_FILE)
        if not gate_file.is_file():
            raise NotFound(
                f"no gate file: none was named and there is no {DEFAULT_GATE_FILE} in "
                f"{Path.cwd()}; name one (an empty file gates on the built-in defaults: "
                "every test must pass)."
            )
    config = load_gate_file(gate_file)
    base_rows = load_results(baseline) if baseline is not None else None
    return evaluate_gate(
        rows,
        config.rules(prompt, env),
        env=env,
        prompt=prompt,
        baseline=base_rows,
        baseline_label=str(baseline) if baseline else None,
    )
