"""The eval-regression trigger: the latest eval run of the serving content vs its baseline.

Pass rate (Fisher's exact), each named metric and cost (one-sided Mann–Whitney) are
tested, the p-values corrected together (Benjamini–Hochberg); a comparison fires only when
it is significant *and* beyond its threshold.
"""

from __future__ import annotations

import math
from typing import Any

from ... import stats
from ...model import EvalRunRef
from ..policy import EvalRegressionPolicy
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult, TriggerStatus, result

__all__ = ["DEFAULT_MIN_TESTS", "EvalRegression", "fewest_tests", "suite_min_samples"]


class EvalRegression:
    """Fires when the latest run of the current suite is significantly worse than its baseline."""

    name = TriggerName.EVAL_REGRESSION

    def policy(self, context: CheckContext) -> EvalRegressionPolicy:
        """The ``eval_regression`` policy."""
        return context.policies.eval_regression

    def check(self, subject: Subject, context: CheckContext) -> TriggerResult:
        """Latest run vs baseline run: pass rate, metrics, cost."""
        from ...eval_runs import load_run_output
        from ...gate import rows_from_v3

        pol, registry, t = self.policy(context), context.registry, self.name
        runs = subject.eval_runs()
        if not runs:
            return result(
                t, pol, TriggerStatus.INSUFFICIENT_DATA, "no eval run of the serving version"
            )
        latest = max(runs, key=lambda run: run.at)
        baseline = _baseline_run(
            subject, [r for r in runs if r.suite_sha256 == latest.suite_sha256], latest
        )
        if baseline is None:
            return result(
                t,
                pol,
                TriggerStatus.INSUFFICIENT_DATA,
                f"only one eval run ({latest.run_id}) on the current suite; a later run "
                "(e.g. 'promptgov monitor --run-evals') is compared with it",
                observation=latest.run_id,
            )
        cur = rows_from_v3(load_run_output(registry, latest), latest.output)
        base = rows_from_v3(load_run_output(registry, baseline), baseline.output)
        if "min_samples" not in pol.model_fields_set:
            pol = pol.model_copy(update={"min_samples": suite_min_samples(len(base), pol.alpha)})
        checks = _decide_all(_regression_drafts(base, cur, pol), pol.alpha)
        fired = [c for c in checks if c["status"] == TriggerStatus.FIRED]
        if fired:
            status = TriggerStatus.FIRED
        elif all(c["status"] == TriggerStatus.INSUFFICIENT_DATA for c in checks):
            status = TriggerStatus.INSUFFICIENT_DATA
        else:
            status = TriggerStatus.NOT_FIRED
        summary = "; ".join(f"{c['name']} {c['detail']}" for c in fired or checks)
        needed = fewest_tests(pol.alpha)
        if len(base) < needed:
            summary += (
                f"; the suite has {len(base)} tests, and a pass-rate drop can be significant at "
                f"alpha {pol.alpha:g} only with at least {needed} tests on each side"
            )
        return result(
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


#: At most this many tests on each side are required by default: a larger suite is
#: compared as soon as 20 of its tests have run.
DEFAULT_MIN_TESTS = 20


def fewest_tests(alpha: float) -> int:
    """The smallest suite in which a drop from all passing to all failing is significant.

    One-sided Fisher with ``n`` tests a side gives at best p = 1 / C(2n, n); below this
    size no regression can ever fire, whatever happened.
    """
    n = 1
    while 1 / math.comb(2 * n, n) > alpha:
        n += 1
    return n


def suite_min_samples(suite_size: int, alpha: float) -> int:
    """Tests needed on each side when the policy sets none: the whole suite, up to
    :data:`DEFAULT_MIN_TESTS`, and never fewer than :func:`fewest_tests`.

    So an ordinary 9-test suite is compared on its 9 tests, and a partial run of a large
    suite is not.
    """
    return max(fewest_tests(alpha), min(DEFAULT_MIN_TESTS, suite_size))


def _baseline_run(
    subj: Subject, same_suite: list[EvalRunRef], latest: EvalRunRef
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
