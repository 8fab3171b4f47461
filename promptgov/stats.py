"""Statistical tests shared by the eval gate and the drift monitor, all computed by scipy.

Every test returns a small frozen result with the measured values, the sample sizes, the
p-value and an :class:`Outcome`: ``significant``, ``not_significant`` or ``inconclusive``
(too few samples, or too little power to see the effect the caller cares about). Callers
add their own practical thresholds on top; these functions only answer the statistical
question, so the gate and the monitor read p-values the same way.

Directions are always *current versus reference*: :func:`fisher_drop` asks whether the
current pass rate is lower, :func:`mann_whitney_increase` whether current values are larger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike


def _st() -> Any:
    """scipy.stats, imported when a test statistic is first computed: it costs most of a
    second, which a command or server that never computes one should not pay."""
    from scipy import stats

    return stats


__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MIN_POWER",
    "DEFAULT_MIN_SAMPLES",
    "Alternative",
    "CategoricalResult",
    "DistanceResult",
    "DistributionResult",
    "MultipleTestResult",
    "Outcome",
    "ProportionResult",
    "ShiftResult",
    "benjamini_hochberg",
    "chi_square",
    "fisher_drop",
    "ks_test",
    "mann_whitney_increase",
    "normalised_wasserstein",
    "proportion_power",
    "two_proportion",
]

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_SAMPLES = 30
#: Below this power a non-significant result is reported as inconclusive, not as "no change".
DEFAULT_MIN_POWER = 0.8
#: Categories whose expected count is below this are pooled before a chi-square test
#: (Cochran's rule: the chi-square approximation is poor for expected counts under 5).
_MIN_EXPECTED = 5.0
_OTHER = "(other)"

Alternative = Literal["less", "greater", "two-sided"]


class Outcome(StrEnum):
    """The answer of one statistical test."""

    SIGNIFICANT = "significant"
    """The null hypothesis (no change in the tested direction) is rejected at ``alpha``."""
    NOT_SIGNIFICANT = "not_significant"
    """No evidence of change, and the test had enough samples (and power) to see one."""
    INCONCLUSIVE = "inconclusive"
    """Too few samples, or too little power: the test cannot tell."""


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples become lists, enums their value."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class _Result:
    """Mixin giving every result a JSON-ready ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        """Field values as JSON-ready data (non-finite floats become null)."""
        out: dict[str, Any] = _clean(asdict(self))  # type: ignore[call-overload]
        return out


@dataclass(frozen=True)
class ProportionResult(_Result):
    """A comparison of two success rates (pass rate, refusal rate, JSON-validity rate)."""

    test: str
    alternative: Alternative
    reference_successes: int
    reference_n: int
    current_successes: int
    current_n: int
    reference_rate: float | None
    current_rate: float | None
    p_value: float | None
    alpha: float
    #: Approximate power to detect ``min_effect`` at these sample sizes (None if not asked).
    power: float | None
    min_effect: float | None
    outcome: Outcome
    reason: str

    @property
    def difference(self) -> float | None:
        """``current_rate - reference_rate`` (None when a window is empty)."""
        if self.reference_rate is None or self.current_rate is None:
            return None
        return self.current_rate - self.reference_rate


@dataclass(frozen=True)
class ShiftResult(_Result):
    """A one-sided location shift of a numeric metric (cost, latency) with the mean ratio."""

    test: str
    alternative: Alternative
    reference_n: int
    current_n: int
    reference_mean: float | None
    current_mean: float | None
    #: ``current_mean / reference_mean``; None when the reference mean is 0 or a side is empty.
    mean_ratio: float | None
    statistic: float | None
    p_value: float | None
    alpha: float
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class DistributionResult(_Result):
    """A two-sample Kolmogorov–Smirnov comparison of two distributions."""

    test: str
    reference_n: int
    current_n: int
    statistic: float | None
    p_value: float | None
    alpha: float
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class DistanceResult(_Result):
    """The 1-Wasserstein distance, and the same distance in units of the reference spread."""

    reference_n: int
    current_n: int
    distance: float | None
    #: Standard deviation of the reference sample (1.0 when it is 0: the feature's own units).
    reference_spread: float | None
    normalised: float | None


@dataclass(frozen=True)
class CategoricalResult(_Result):
    """A chi-square test of independence between window and category (e.g. finish reasons)."""

    test: str
    categories: tuple[str, ...]
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    reference_n: int
    current_n: int
    statistic: float | None
    dof: int | None
    p_value: float | None
    #: Total variation distance between the two category distributions (0 … 1).
    total_variation: float | None
    alpha: float
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class MultipleTestResult(_Result):
    """Benjamini–Hochberg adjusted p-values and which hypotheses are rejected at ``alpha``."""

    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float


def _check_alpha(alpha: float) -> None:
    """Reject an alpha outside (0, 1): a typo there silently disables a test."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")


def _check_counts(successes: int, n: int, side: str) -> None:
    """Reject impossible counts instead of letting scipy return nonsense."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"{side}: successes={successes} and n={n} are not valid counts")


def _too_few(n_ref: int, n_cur: int, min_samples: int) -> str | None:
    """The reason a test cannot run for lack of samples, or None."""
    if n_ref < min_samples or n_cur < min_samples:
        return (
            f"too few samples: reference {n_ref}, current {n_cur}, "
            f"minimum {min_samples} on each side"
        )
    return None


def _decide(p_value: float, alpha: float) -> Outcome:
    return Outcome.SIGNIFICANT if p_value <= alpha else Outcome.NOT_SIGNIFICANT


def proportion_power(
    reference_rate: float,
    min_effect: float,
    reference_n: int,
    current_n: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    alternative: Alternative = "less",
) -> float:
    """Approximate power of a two-proportion test to see a change of ``min_effect``.

    Uses Cohen's effect size h = 2·asin(√p₁) − 2·asin(√p₂) and the normal approximation
    (power = Φ(|h|·√(n₁n₂/(n₁+n₂)) − z₁₋α), z₁₋α/₂ when two-sided). The alternative rate is
    ``reference_rate − min_effect`` for ``less`` and ``+ min_effect`` otherwise, clipped to [0, 1].
    """
    _check_alpha(alpha)
    if reference_n <= 0 or current_n <= 0:
        return 0.0
    p1 = min(max(reference_rate, 0.0), 1.0)
    shifted = p1 - min_effect if alternative == "less" else p1 + min_effect
    p2 = min(max(shifted, 0.0), 1.0)
    h = abs(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))
    n_eff = reference_n * current_n / (reference_n + current_n)
    z_alpha = _st().norm.isf(alpha / 2 if alternative == "two-sided" else alpha)
    return float(_st().norm.cdf(h * math.sqrt(n_eff) - z_alpha))


def _proportion_result(
    test: str,
    alternative: Alternative,
    counts: tuple[int, int, int, int],
    *,
    p_value: float | None,
    alpha: float,
    min_effect: float | None,
    min_power: float,
    reason: str | None,
) -> ProportionResult:
    """Assemble a :class:`ProportionResult`, turning low power into ``inconclusive``."""
    ref_s, ref_n, cur_s, cur_n = counts
    ref_rate = ref_s / ref_n if ref_n else None
    cur_rate = cur_s / cur_n if cur_n else None
    power = None
    if min_effect is not None and ref_rate is not None and cur_n:
        power = proportion_power(
            ref_rate, min_effect, ref_n, cur_n, alpha=alpha, alternative=alternative
        )
    if p_value is None:
        outcome = Outcome.INCONCLUSIVE
    else:
        outcome = _decide(p_value, alpha)
        if outcome is Outcome.NOT_SIGNIFICANT and power is not None and power < min_power:
            outcome = Outcome.INCONCLUSIVE
            reason = (
                f"not significant (p={p_value:.3g}), but the test has only {power:.0%} power "
                f"to see a change of {min_effect:g} with these samples"
            )
    if reason is None:
        reason = f"p={p_value:.3g} {'≤' if outcome is Outcome.SIGNIFICANT else '>'} alpha={alpha:g}"
    return ProportionResult(
        test=test,
        alternative=alternative,
        reference_successes=ref_s,
        reference_n=ref_n,
        current_successes=cur_s,
        current_n=cur_n,
        reference_rate=ref_rate,
        current_rate=cur_rate,
        p_value=p_value,
        alpha=alpha,
        power=power,
        min_effect=min_effect,
        outcome=outcome,
        reason=reason,
    )


def fisher_drop(
    reference_successes: int,
    reference_n: int,
    current_successes: int,
    current_n: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    min_drop: float | None = 0.1,
    min_power: float = DEFAULT_MIN_POWER,
) -> ProportionResult:
    """Has the success rate dropped? One-sided Fisher's exact test (exact at any sample size).

    ``inconclusive`` when either side has fewer than ``min_samples`` trials, or when the result
    is not significant and the power to detect a drop of ``min_drop`` is below ``min_power``
    (pass ``min_drop=None`` to skip the power check).
    """
    _check_alpha(alpha)
    _check_counts(reference_successes, reference_n, "reference")
    _check_counts(current_successes, current_n, "current")
    counts = (reference_successes, reference_n, current_successes, current_n)
    too_few = _too_few(reference_n, current_n, min_samples)
    if too_few:
        return _proportion_result(
            "fisher_exact",
            "less",
            counts,
            p_value=None,
            alpha=alpha,
            min_effect=min_drop,
            min_power=min_power,
            reason=too_few,
        )
    table = [
        [current_successes, current_n - current_successes],
        [reference_successes, reference_n - reference_successes],
    ]
    p = float(_st().fisher_exact(table, alternative="less").pvalue)
    return _proportion_result(
        "fisher_exact",
        "less",
        counts,
        p_value=p,
        alpha=alpha,
        min_effect=min_drop,
        min_power=min_power,
        reason=None,
    )


def two_proportion(
    reference_successes: int,
    reference_n: int,
    current_successes: int,
    current_n: int,
    *,
    alternative: Alternative = "greater",
    alpha: float = DEFAULT_ALPHA,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    min_effect: float | None = None,
    min_power: float = DEFAULT_MIN_POWER,
) -> ProportionResult:
    """Two-proportion z-test (pooled), for large windows where Fisher's test is needlessly exact.

    Computed as Pearson's chi-square on the 2×2 table without continuity correction, which is
    the square of the pooled z statistic; the one-sided p-value halves the two-sided one in the
    observed direction. ``alternative="greater"`` asks whether the current rate is higher.
    """
    _check_alpha(alpha)
    _check_counts(reference_successes, reference_n, "reference")
    _check_counts(current_successes, current_n, "current")
    counts = (reference_successes, reference_n, current_successes, current_n)
    too_few = _too_few(reference_n, current_n, min_samples)
    if too_few:
        return _proportion_result(
            "two_proportion_z",
            alternative,
            counts,
            p_value=None,
            alpha=alpha,
            min_effect=min_effect,
            min_power=min_power,
            reason=too_few,
        )
    successes = reference_successes + current_successes
    failures = reference_n + current_n - successes
    if successes == 0 or failures == 0:
        p = 1.0  # every trial agrees: no difference can be observed
    else:
        table = [
            [current_successes, current_n - current_successes],
            [reference_successes, reference_n - reference_successes],
        ]
        res = _st().chi2_contingency(table, correction=False)
        two_sided = float(res.pvalue)
        diff = current_successes / current_n - reference_successes / reference_n
        if alternative == "two-sided":
            p = two_sided
        elif (diff > 0) == (alternative == "greater") and diff != 0:
            p = two_sided / 2
        else:
            p = 1 - two_sided / 2
    return _proportion_result(
        "two_proportion_z",
        alternative,
        counts,
        p_value=p,
        alpha=alpha,
        min_effect=min_effect,
        min_power=min_power,
        reason=None,
    )


def _as_array(values: ArrayLike) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A 1-D float array without NaNs (missing values are not evidence)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[~np.isnan(arr)]


def mann_whitney_increase(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> ShiftResult:
    """Are current values (cost, latency) stochastically larger? One-sided Mann–Whitney U.

    Rank-based, so a few huge outliers cannot fake or hide a spike; the mean ratio is
    reported beside it because thresholds are written as ratios ("cost × 1.5").
    """
    _check_alpha(alpha)
    ref, cur = _as_array(reference), _as_array(current)
    n_ref, n_cur = int(ref.size), int(cur.size)
    ref_mean = float(ref.mean()) if n_ref else None
    cur_mean = float(cur.mean()) if n_cur else None
    ratio = cur_mean / ref_mean if ref_mean and cur_mean is not None else None
    too_few = _too_few(n_ref, n_cur, min_samples)
    if too_few:
        return ShiftResult(
            "mann_whitney_u",
            "greater",
            n_ref,
            n_cur,
            ref_mean,
            cur_mean,
            ratio,
            None,
            None,
            alpha,
            Outcome.INCONCLUSIVE,
            too_few,
        )
    if np.ptp(np.concatenate([ref, cur])) == 0:
        statistic, p = float(n_ref * n_cur / 2), 1.0  # all values equal: nothing to rank
    else:
        res = _st().mannwhitneyu(cur, ref, alternative="greater")
        statistic, p = float(res.statistic), float(res.pvalue)
    outcome = _decide(p, alpha)
    return ShiftResult(
        "mann_whitney_u",
        "greater",
        n_ref,
        n_cur,
        ref_mean,
        cur_mean,
        ratio,
        statistic,
        p,
        alpha,
        outcome,
        f"p={p:.3g} {'≤' if outcome is Outcome.SIGNIFICANT else '>'} alpha={alpha:g}",
    )


def ks_test(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> DistributionResult:
    """Do two samples come from different distributions? Two-sample, two-sided KS test."""
    _check_alpha(alpha)
    ref, cur = _as_array(reference), _as_array(current)
    n_ref, n_cur = int(ref.size), int(cur.size)
    too_few = _too_few(n_ref, n_cur, min_samples)
    if too_few:
        return DistributionResult(
            "kolmogorov_smirnov", n_ref, n_cur, None, None, alpha, Outcome.INCONCLUSIVE, too_few
        )
    res = _st().ks_2samp(ref, cur)
    p = float(res.pvalue)
    outcome = _decide(p, alpha)
    return DistributionResult(
        "kolmogorov_smirnov",
        n_ref,
        n_cur,
        float(res.statistic),
        p,
        alpha,
        outcome,
        f"p={p:.3g} {'≤' if outcome is Outcome.SIGNIFICANT else '>'} alpha={alpha:g}",
    )


def normalised_wasserstein(reference: ArrayLike, current: ArrayLike) -> DistanceResult:
    """Wasserstein-1 distance divided by the reference standard deviation.

    A size-free effect measure for large samples, where every KS test is significant: 0.1
    means the distributions are a tenth of a reference standard deviation apart. A reference
    without spread divides by 1 (the feature's own units). Empty sides give None values.
    """
    ref, cur = _as_array(reference), _as_array(current)
    n_ref, n_cur = int(ref.size), int(cur.size)
    if not n_ref or not n_cur:
        return DistanceResult(n_ref, n_cur, None, None, None)
    distance = float(_st().wasserstein_distance(ref, cur))
    spread = float(ref.std())
    if spread == 0.0:
        spread = 1.0
    return DistanceResult(n_ref, n_cur, distance, spread, distance / spread)


def _pool_rare(
    categories: list[str], ref: list[int], cur: list[int]
) -> tuple[list[str], list[int], list[int]]:
    """Merge categories with an expected count below 5 into one ``(other)`` column."""
    n_ref, n_cur = sum(ref), sum(cur)
    total = n_ref + n_cur
    keep: list[int] = []
    rare: list[int] = []
    for i in range(len(categories)):
        col = ref[i] + cur[i]
        expected = min(col * n_ref / total, col * n_cur / total)
        (keep if expected >= _MIN_EXPECTED else rare).append(i)
    cats = [categories[i] for i in keep]
    r = [ref[i] for i in keep]
    c = [cur[i] for i in keep]
    if rare:
        cats.append(_OTHER)
        r.append(sum(ref[i] for i in rare))
        c.append(sum(cur[i] for i in rare))
    return cats, r, c


def chi_square(
    reference_counts: Mapping[str, int],
    current_counts: Mapping[str, int],
    *,
    alpha: float = DEFAULT_ALPHA,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> CategoricalResult:
    """Has the mix of categories changed? Chi-square test of independence on a 2×k table.

    Rare categories (expected count < 5) are pooled into ``(other)`` so the chi-square
    approximation holds; a single remaining category means there is nothing to compare (p=1).
    The total variation distance is reported as the effect size.
    """
    _check_alpha(alpha)
    categories = sorted(set(reference_counts) | set(current_counts))
    ref = [int(reference_counts.get(c, 0)) for c in categories]
    cur = [int(current_counts.get(c, 0)) for c in categories]
    if any(v < 0 for v in ref + cur):
        raise ValueError("category counts must not be negative")
    n_ref, n_cur = sum(ref), sum(cur)
    tvd = (
        0.5 * sum(abs(r / n_ref - c / n_cur) for r, c in zip(ref, cur, strict=True))
        if n_ref and n_cur
        else None
    )
    too_few = _too_few(n_ref, n_cur, min_samples)
    if too_few:
        return CategoricalResult(
            "chi_square",
            tuple(categories),
            tuple(ref),
            tuple(cur),
            n_ref,
            n_cur,
            None,
            None,
            None,
            tvd,
            alpha,
            Outcome.INCONCLUSIVE,
            too_few,
        )
    cats, r, c = _pool_rare(categories, ref, cur)
    columns = [i for i in range(len(cats)) if r[i] + c[i] > 0]
    if len(columns) < 2:
        statistic, dof, p = 0.0, 0, 1.0
    else:
        res = _st().chi2_contingency([[r[i] for i in columns], [c[i] for i in columns]])
        statistic, dof, p = float(res.statistic), int(res.dof), float(res.pvalue)
    outcome = _decide(p, alpha)
    return CategoricalResult(
        "chi_square",
        tuple(categories),
        tuple(ref),
        tuple(cur),
        n_ref,
        n_cur,
        statistic,
        dof,
        p,
        tvd,
        alpha,
        outcome,
        f"p={p:.3g} {'≤' if outcome is Outcome.SIGNIFICANT else '>'} alpha={alpha:g}",
    )


def benjamini_hochberg(
    p_values: Sequence[float], *, alpha: float = DEFAULT_ALPHA
) -> MultipleTestResult:
    """Benjamini–Hochberg false-discovery-rate correction over several tests.

    Under the global null (nothing changed) it also bounds the chance of any false alarm by
    ``alpha`` for independent or positively dependent tests, which is what a monitor needs.
    """
    _check_alpha(alpha)
    ps = tuple(float(p) for p in p_values)
    if any(not 0.0 <= p <= 1.0 for p in ps):
        raise ValueError(f"p-values must lie in [0, 1], got {ps}")
    if not ps:
        return MultipleTestResult((), (), (), alpha)
    adjusted = tuple(float(a) for a in _st().false_discovery_control(ps, method="bh"))
    return MultipleTestResult(ps, adjusted, tuple(a <= alpha for a in adjusted), alpha)
