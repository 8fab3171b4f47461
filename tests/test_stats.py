"""The shared statistical tests: values checked against scipy called directly or by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as st

from promptgov.stats import (
    Outcome,
    benjamini_hochberg,
    chi_square,
    fisher_drop,
    ks_test,
    mann_whitney_increase,
    normalised_wasserstein,
    proportion_power,
    two_proportion,
)

# -- Fisher drop ------------------------------------------------------------------------------


def test_fisher_drop_p_value_is_scipys_one_sided_fisher() -> None:
    res = fisher_drop(45, 50, 35, 50, min_drop=None)
    expected = st.fisher_exact([[35, 15], [45, 5]], alternative="less").pvalue
    assert res.p_value == pytest.approx(expected)
    assert (res.reference_rate, res.current_rate) == (0.9, 0.7)
    assert res.difference == pytest.approx(-0.2)
    assert res.outcome is Outcome.SIGNIFICANT


def test_fisher_drop_on_each_side_of_alpha() -> None:
    # Reference 40/50: find with scipy the highest current count whose drop is significant.
    p = {c: st.fisher_exact([[c, 50 - c], [40, 10]], alternative="less").pvalue for c in range(41)}
    edge = max(c for c, pv in p.items() if pv <= 0.05)
    assert p[edge] <= 0.05 < p[edge + 1]
    assert fisher_drop(40, 50, edge, 50, min_drop=None).outcome is Outcome.SIGNIFICANT
    assert fisher_drop(40, 50, edge + 1, 50, min_drop=None).outcome is Outcome.NOT_SIGNIFICANT


def test_fisher_drop_ignores_an_improvement() -> None:
    res = fisher_drop(30, 50, 45, 50, min_drop=None)
    assert res.p_value is not None and res.p_value > 0.99
    assert res.outcome is Outcome.NOT_SIGNIFICANT


def test_fisher_drop_below_min_samples_is_inconclusive() -> None:
    res = fisher_drop(29, 29, 0, 29, min_samples=30)
    assert res.outcome is Outcome.INCONCLUSIVE
    assert res.p_value is None
    assert "too few samples" in res.reason and "29" in res.reason


def test_fisher_drop_without_power_is_inconclusive_not_a_pass() -> None:
    # 50 cases per side cannot reliably see a 10-point drop from 90%: power ≈ 0.41 (by hand).
    res = fisher_drop(45, 50, 44, 50, min_drop=0.1)
    h = 2 * math.asin(math.sqrt(0.9)) - 2 * math.asin(math.sqrt(0.8))
    expected_power = st.norm.cdf(h * math.sqrt(25) - st.norm.isf(0.05))
    assert res.power == pytest.approx(expected_power)
    assert res.power is not None and res.power < 0.8
    assert res.outcome is Outcome.INCONCLUSIVE
    # With 1000 cases a side the same rates are a confident "no drop".
    big = fisher_drop(900, 1000, 895, 1000, min_drop=0.1)
    assert big.power is not None and big.power > 0.99
    assert big.outcome is Outcome.NOT_SIGNIFICANT


def test_fisher_drop_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="not valid counts"):
        fisher_drop(51, 50, 10, 50)
    with pytest.raises(ValueError, match="alpha"):
        fisher_drop(1, 50, 10, 50, alpha=1.5)


# -- two proportions ---------------------------------------------------------------------------


def _pooled_z_p(s1: int, n1: int, s2: int, n2: int) -> float:
    p1, p2, pooled = s1 / n1, s2 / n2, (s1 + s2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return float(st.norm.sf(z))


def test_two_proportion_matches_the_pooled_z_test_by_hand() -> None:
    res = two_proportion(10, 500, 50, 500, alternative="greater")
    assert res.p_value == pytest.approx(_pooled_z_p(10, 500, 50, 500))
    less = two_proportion(50, 500, 10, 500, alternative="less")
    assert less.p_value == pytest.approx(_pooled_z_p(10, 500, 50, 500))
    wrong_way = two_proportion(50, 500, 10, 500, alternative="greater")
    assert wrong_way.p_value == pytest.approx(1 - _pooled_z_p(10, 500, 50, 500))
    both = two_proportion(10, 500, 50, 500, alternative="two-sided")
    assert both.p_value == pytest.approx(2 * _pooled_z_p(10, 500, 50, 500))


def test_two_proportion_on_each_side_of_alpha() -> None:
    # 10/500 reference; 19/500 is under the 5% line, 18/500 over it (pooled z by hand).
    assert _pooled_z_p(10, 500, 19, 500) <= 0.05 < _pooled_z_p(10, 500, 18, 500)
    assert two_proportion(10, 500, 19, 500).outcome is Outcome.SIGNIFICANT
    assert two_proportion(10, 500, 18, 500).outcome is Outcome.NOT_SIGNIFICANT


def test_two_proportion_with_no_successes_anywhere_is_p_one() -> None:
    res = two_proportion(0, 400, 0, 400)
    assert res.p_value == 1.0 and res.outcome is Outcome.NOT_SIGNIFICANT


def test_proportion_power_matches_cohens_h_by_hand() -> None:
    h = 2 * math.asin(math.sqrt(0.10)) - 2 * math.asin(math.sqrt(0.02))
    expected = st.norm.cdf(h * math.sqrt(250) - st.norm.isf(0.05))
    assert proportion_power(0.02, 0.08, 500, 500, alternative="greater") == pytest.approx(expected)
    assert proportion_power(0.5, 0.1, 0, 10) == 0.0


# -- Mann-Whitney ------------------------------------------------------------------------------


def test_mann_whitney_increase_matches_scipy_and_reports_the_mean_ratio() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.lognormal(0, 0.5, 80), rng.lognormal(0, 0.5, 70) * 1.5
    res = mann_whitney_increase(ref, cur)
    expected = st.mannwhitneyu(cur, ref, alternative="greater")
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.statistic == pytest.approx(expected.statistic)
    assert res.mean_ratio == pytest.approx(cur.mean() / ref.mean())
    assert (res.reference_n, res.current_n) == (80, 70)


def test_mann_whitney_on_each_side_of_alpha() -> None:
    ref = list(range(40))
    # Shifting every value up by k: find by scipy the first k whose one-sided p is ≤ 0.05.
    ps = {
        k: st.mannwhitneyu([v + k for v in ref], ref, alternative="greater").pvalue
        for k in range(12)
    }
    k = min(k for k, p in ps.items() if p <= 0.05)
    assert mann_whitney_increase(ref, [v + k for v in ref]).outcome is Outcome.SIGNIFICANT
    assert mann_whitney_increase(ref, [v + k - 1 for v in ref]).outcome is Outcome.NOT_SIGNIFICANT


def test_mann_whitney_drops_missing_values_and_handles_constants() -> None:
    res = mann_whitney_increase([1.0] * 40 + [math.nan] * 5, [1.0] * 40)
    assert (res.reference_n, res.p_value, res.mean_ratio) == (40, 1.0, 1.0)
    few = mann_whitney_increase([1.0] * 5, [2.0] * 50)
    assert few.outcome is Outcome.INCONCLUSIVE and few.p_value is None


def test_mann_whitney_with_zero_reference_mean_has_no_ratio() -> None:
    res = mann_whitney_increase([0.0] * 40, [1.0] * 40)
    assert res.mean_ratio is None
    assert json.loads(json.dumps(res.to_dict()))["mean_ratio"] is None


# -- distributions -----------------------------------------------------------------------------


def test_ks_test_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 100), rng.normal(0.5, 1, 120)
    res = ks_test(a, b)
    expected = st.ks_2samp(a, b)
    assert (res.statistic, res.p_value) == (
        pytest.approx(expected.statistic),
        pytest.approx(expected.pvalue),
    )
    assert res.outcome is Outcome.SIGNIFICANT
    assert ks_test(a[:10], b).outcome is Outcome.INCONCLUSIVE


def test_normalised_wasserstein_by_hand() -> None:
    res = normalised_wasserstein([0, 1, 2], [1, 2, 3])
    # Every value moves by 1 → W = 1; reference std = sqrt(2/3).
    assert res.distance == pytest.approx(1.0)
    assert res.reference_spread == pytest.approx(math.sqrt(2 / 3))
    assert res.normalised == pytest.approx(1 / math.sqrt(2 / 3))


def test_normalised_wasserstein_without_reference_spread_uses_feature_units() -> None:
    res = normalised_wasserstein([5, 5, 5], [5, 5, 7])
    assert res.reference_spread == 1.0
    assert res.normalised == pytest.approx(2 / 3)
    empty = normalised_wasserstein([], [1.0])
    assert empty.normalised is None and empty.reference_n == 0


# -- chi-square --------------------------------------------------------------------------------


def test_chi_square_matches_scipy_and_reports_total_variation() -> None:
    ref = {"stop": 90, "length": 10}
    cur = {"stop": 70, "length": 30}
    res = chi_square(ref, cur)
    expected = st.chi2_contingency([[10, 90], [30, 70]])
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.total_variation == pytest.approx(0.2)
    assert res.categories == ("length", "stop")
    assert res.outcome is Outcome.SIGNIFICANT


def test_chi_square_pools_rare_categories() -> None:
    ref = {"stop": 195, "length": 5, "tool_calls": 1}
    cur = {"stop": 190, "length": 8, "content_filter": 2}
    res = chi_square(ref, cur)
    # length (13 total) stays; tool_calls + content_filter (3 total) pool into "(other)".
    expected = st.chi2_contingency([[5, 1, 195], [8, 2, 190]])
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.dof == 2
    # Total variation over the unpooled categories: content_filter, length, stop, tool_calls.
    tvd = 0.5 * (2 / 200 + abs(5 / 201 - 8 / 200) + abs(195 / 201 - 190 / 200) + 1 / 201)
    assert res.total_variation == pytest.approx(tvd)


def test_chi_square_single_category_is_p_one() -> None:
    res = chi_square({"stop": 100}, {"stop": 80})
    assert res.p_value == 1.0 and res.total_variation == 0.0
    assert chi_square({"stop": 3}, {"stop": 80}).outcome is Outcome.INCONCLUSIVE


# -- Benjamini-Hochberg ------------------------------------------------------------------------


def test_benjamini_hochberg_by_hand() -> None:
    res = benjamini_hochberg([0.01, 0.04, 0.03, 0.5], alpha=0.05)
    # Sorted .01 .03 .04 .5 → p·m/rank .04 .06 .0533 .5 → running minimum from the top.
    assert res.adjusted == pytest.approx((0.04, 0.16 / 3, 0.16 / 3, 0.5))
    assert res.rejected == (True, False, False, False)
    assert benjamini_hochberg([]).adjusted == ()
    with pytest.raises(ValueError):
        benjamini_hochberg([1.2])


def test_results_serialise_to_plain_json() -> None:
    res = fisher_drop(45, 50, 35, 50)
    data = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert data["outcome"] == "significant"
    assert data["test"] == "fisher_exact"
