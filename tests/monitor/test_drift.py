"""Drift checks: false-alarm rate, power, insufficient data, and each threshold from both sides."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats as st

from promptgov.monitor import (
    CheckStatus,
    DriftPolicy,
    DriftThresholds,
    Embedder,
    ProductionRecord,
    TimeWindow,
    WindowStats,
    check_drift,
    check_drift_from_paths,
)
from promptgov.monitor import embeddings as emb

from .synth import MODEL, T0, Traffic, records, write_jsonl

#: The documented sample size (docs/monitoring.md): records per window.
N = 500
ALPHA = 0.05
BASE = Traffic()
POLICY = DriftPolicy(alpha=ALPHA, min_samples=200, embeddings="off")


def _window(n: int, traffic: Traffic, rng: np.random.Generator) -> WindowStats:
    return WindowStats(sample_size=POLICY.sample_size).extend(records(n, traffic, rng))


def test_no_drift_false_alarm_rate_stays_under_alpha() -> None:
    rng = np.random.default_rng(20260301)
    fired: Counter[str] = Counter()
    alarms = 0
    windows = 200
    for _ in range(windows):
        report = check_drift(_window(N, BASE, rng), _window(N, BASE, rng), policy=POLICY)
        assert report.status is not CheckStatus.INSUFFICIENT_DATA
        alarms += report.status is CheckStatus.FIRED
        fired.update(report.fired)
    assert alarms / windows <= ALPHA, fired


@pytest.mark.parametrize(
    ("shift", "check"),
    [
        (Traffic(length_scale=1.25), "output_length"),
        (Traffic(refusal_rate=0.10), "refusal_rate"),
        (Traffic(cost_scale=1.5), "cost"),
        (Traffic(model="gpt-4o-mini-2025-01-31"), "model_id"),
    ],
    ids=["longer-outputs", "refusals-2-to-10pct", "cost-x1.5", "new-model-id"],
)
def test_stated_shift_is_detected_with_power_at_least_0_8(shift: Traffic, check: str) -> None:
    rng = np.random.default_rng(7)
    trials = 50
    hits = 0
    for _ in range(trials):
        report = check_drift(_window(N, BASE, rng), _window(N, shift, rng), policy=POLICY)
        hits += report.check(check).status is CheckStatus.FIRED
    assert hits / trials >= 0.8


def test_below_min_samples_the_answer_is_insufficient_data() -> None:
    rng = np.random.default_rng(1)
    report = check_drift(
        _window(199, BASE, rng), _window(5000, Traffic(cost_scale=3), rng), policy=POLICY
    )
    assert report.status is CheckStatus.INSUFFICIENT_DATA
    assert {c.status for c in report.checks} == {CheckStatus.INSUFFICIENT_DATA}
    cost = report.check("cost")
    assert cost.p_value is None
    assert "reference 199" in cost.detail and "minimum 200" in cost.detail


def test_missing_field_makes_only_that_check_insufficient() -> None:
    rng = np.random.default_rng(2)
    ref = [r.model_copy(update={"cost": None}) for r in records(300, BASE, rng)]
    cur = list(records(300, BASE, rng))
    report = check_drift(ref, cur, policy=POLICY)
    assert report.check("cost").status is CheckStatus.INSUFFICIENT_DATA
    assert report.check("latency").status is CheckStatus.NOT_FIRED
    assert report.status is CheckStatus.NOT_FIRED


# -- fixed samples on each side of each threshold ---------------------------------------------


def _recs(n: int, **fields: object) -> list[ProductionRecord]:
    return [
        ProductionRecord.model_construct(
            time=T0 + timedelta(seconds=i), prompt="p", version="1", **fields
        )
        for i in range(n)
    ]


def _values(name: str, values: Sequence[float]) -> list[ProductionRecord]:
    return [
        ProductionRecord.model_construct(time=T0, prompt="p", version="1", **{name: v})
        for v in values
    ]


LOOSE = DriftPolicy(min_samples=10, embeddings="off")


def test_cost_ratio_threshold_from_both_sides() -> None:
    ref = _values("cost", [1.0 + i / 100 for i in range(300)])  # mean 2.495
    mean = float(np.mean([1.0 + i / 100 for i in range(300)]))
    # Recent mean exactly at ×1.19 and ×1.21 of the reference (threshold ×1.2), same spread.
    for factor, expected in ((1.19, CheckStatus.NOT_FIRED), (1.21, CheckStatus.FIRED)):
        cur = _values(
            "cost", [v + mean * (factor - 1) for v in [1.0 + i / 100 for i in range(300)]]
        )
        check = check_drift(ref, cur, policy=LOOSE).check("cost")
        assert check.effect == pytest.approx(factor)
        assert check.p_value is not None and check.p_value < 1e-6  # significant either way
        assert check.status is expected, factor


def test_a_single_outlier_moves_the_mean_ratio_but_does_not_fire() -> None:
    # One huge latency lifts the mean by ×1.32 (≥ threshold) but the rank test sees no shift.
    base = [100.0 + i for i in range(12)]
    spiked = base[:-1] + [base[-1] + 400.0]
    check = check_drift(_values("latency_ms", base), _values("latency_ms", spiked), policy=LOOSE)
    latency = check.check("latency")
    assert latency.effect == pytest.approx(sum(spiked) / sum(base))
    assert latency.effect > 1.2
    p = st.mannwhitneyu(spiked, base, alternative="greater").pvalue
    assert latency.p_value == pytest.approx(p) and p > 0.05
    assert latency.status is CheckStatus.NOT_FIRED and "not significant" in latency.detail


def test_refusal_rate_threshold_from_both_sides() -> None:
    refusal, fine = "I'm sorry, but I can't help with that.", "Here is your answer."
    ref = _recs(2000, output=fine)[:1960] + _recs(40, output=refusal)  # 2.0 %
    policy = DriftPolicy(min_samples=10, embeddings="off")
    # 3.9 % is +1.9 points (threshold 2): no; 4.1 % is +2.1 points: yes (both significant).
    for k, expected in ((78, CheckStatus.NOT_FIRED), (82, CheckStatus.FIRED)):
        cur = _recs(2000 - k, output=fine) + _recs(k, output=refusal)
        check = check_drift(ref, cur, policy=policy).check("refusal_rate")
        assert check.effect == pytest.approx(k / 2000 - 0.02)
        assert check.status is expected, k


def test_json_validity_threshold_from_both_sides() -> None:
    ok, broken = '{"a": 1}', '{"a": 1'
    ref = _recs(1000, output=ok)
    for k, expected in ((19, CheckStatus.NOT_FIRED), (21, CheckStatus.FIRED)):
        cur = _recs(1000 - k, output=ok) + _recs(k, output=broken)
        check = check_drift(ref, cur, policy=LOOSE).check("json_validity")
        assert check.effect == pytest.approx(k / 1000)
        assert check.status is expected, k


def test_output_length_threshold_from_both_sides_with_large_samples() -> None:
    # Large samples: the normalised Wasserstein distance alone decides (threshold 0.1).
    rng = np.random.default_rng(4)
    base = rng.normal(300, 50, 6000).round()
    ref = _values("tokens_out", base)
    std = float(base.std())
    for shift, expected in ((0.09, CheckStatus.NOT_FIRED), (0.11, CheckStatus.FIRED)):
        cur = _values("tokens_out", base + shift * std)
        check = check_drift(ref, cur, policy=LOOSE).check("output_tokens")
        assert check.method == "wasserstein"
        assert check.effect == pytest.approx(shift, rel=1e-6)
        assert check.status is expected, shift


def test_small_samples_use_the_ks_test() -> None:
    ref = _values("tokens_out", list(range(100)))
    cur = _values("tokens_out", [v + 40 for v in range(100)])
    check = check_drift(ref, cur, policy=LOOSE).check("output_tokens")
    assert check.method == "kolmogorov_smirnov"
    assert check.p_value == pytest.approx(
        st.ks_2samp(range(100), [v + 40 for v in range(100)]).pvalue
    )
    assert check.status is CheckStatus.FIRED


def test_finish_reason_shift_threshold_from_both_sides() -> None:
    ref = _recs(9000, finish_reason="stop") + _recs(1000, finish_reason="length")
    for k, expected in ((1190, CheckStatus.NOT_FIRED), (1210, CheckStatus.FIRED)):
        cur = _recs(10000 - k, finish_reason="stop") + _recs(k, finish_reason="length")
        check = check_drift(ref, cur, policy=LOOSE).check("finish_reasons")
        assert check.effect == pytest.approx((k - 1000) / 10000)
        assert check.p_value is not None and check.p_value < 1e-3
        assert check.status is expected, k


def test_new_model_id_is_reported_by_name_and_its_share_thresholded() -> None:
    old, new = MODEL, "gpt-4o-mini-2025-01-31"
    ref = _recs(1000, model_returned=old)
    for k, expected in ((9, CheckStatus.NOT_FIRED), (10, CheckStatus.FIRED)):
        cur = _recs(1000 - k, model_returned=old) + _recs(k, model_returned=new)
        report = check_drift(ref, cur, policy=LOOSE)
        check = report.check("model_id")
        assert check.effect == pytest.approx(k / 1000)
        assert check.status is expected, k
    assert report.model_changes == (f"{old} → {new}",)
    assert new in report.to_markdown()


def test_benjamini_hochberg_is_applied_across_checks() -> None:
    rng = np.random.default_rng(9)
    report = check_drift(
        _window(300, BASE, rng), _window(300, Traffic(cost_scale=1.5), rng), policy=POLICY
    )
    tested = [c for c in report.checks if c.p_value is not None]
    expected = st.false_discovery_control([c.p_value for c in tested], method="bh")
    assert [c.adjusted_p_value for c in tested] == pytest.approx(list(expected))


def test_a_disabled_threshold_removes_its_check() -> None:
    policy = DriftPolicy(
        min_samples=10, embeddings="off", thresholds=DriftThresholds(cost_ratio=None)
    )
    rng = np.random.default_rng(3)
    report = check_drift(records(50, BASE, rng), records(50, BASE, rng), policy=policy)
    assert "cost" not in [c.name for c in report.checks]


# -- report ------------------------------------------------------------------------------------


def test_report_serialises_and_renders() -> None:
    rng = np.random.default_rng(11)
    report = check_drift(
        _window(N, BASE, rng), _window(N, Traffic(refusal_rate=0.2), rng), policy=POLICY
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["status"] == "fired" and "refusal_rate" in data["fired"]
    assert {c["name"] for c in data["checks"]} >= {
        "output_length",
        "refusal_rate",
        "cost",
        "model_id",
    }
    md = report.to_markdown()
    assert md.startswith("# Drift report") and "**Status: fired** — " in md
    assert "| refusal_rate | fired |" in md


# -- from files --------------------------------------------------------------------------------


def test_check_drift_from_paths_selects_windows_and_keeps_other_versions_out(tmp_path) -> None:
    rng = np.random.default_rng(5)
    day = timedelta(days=1)
    log = tmp_path / "prod.jsonl"
    with log.open("w") as fh:
        for recs in (
            records(400, BASE, rng, start=T0),  # reference window
            records(400, BASE, rng, start=T0 + 3 * day),  # recent window
            # Same recent hours, other version with a huge cost spike: must not count.
            records(400, Traffic(cost_scale=5), rng, start=T0 + 3 * day, version="2.0.0"),
            records(400, Traffic(cost_scale=5), rng, start=T0 + 3 * day, prompt="other"),
        ):
            for r in recs:
                fh.write(json.dumps(r.model_dump(mode="json", exclude_none=True)) + "\n")
        fh.write("{not json\n")
    report = check_drift_from_paths(
        [log],
        prompt="support-reply",
        version="1.0.0",
        policy=POLICY,
        reference=TimeWindow(T0, T0 + day),
        recent=TimeWindow(T0 + 3 * day, T0 + 4 * day),
    )
    assert report.reference["records"] == 400 and report.recent["records"] == 400
    assert report.check("cost").status is CheckStatus.NOT_FIRED
    assert report.ingest is not None
    assert report.ingest["skipped_other"] == {"support-reply@2.0.0": 400, "other@1.0.0": 400}
    assert report.ingest["malformed"] == [
        {"file": str(log), "line": 1601, "reason": report.ingest["malformed"][0]["reason"]}
    ]
    assert report.ingest["malformed"][0]["reason"].startswith("not valid JSON")
    assert report.subject == "support-reply@1.0.0"
    assert "1 malformed" in report.to_markdown()


def test_enormous_log_streams_to_the_same_answer(tmp_path) -> None:
    rng = np.random.default_rng(6)
    log = write_jsonl(tmp_path / "big.jsonl", records(60_000, BASE, rng))
    policy = DriftPolicy(min_samples=200, embeddings="off", sample_size=1000)
    half = T0 + timedelta(seconds=30_000)
    report = check_drift_from_paths(
        log,
        prompt="support-reply",
        policy=policy,
        reference=TimeWindow(T0, half),
        recent=TimeWindow(half, half + timedelta(days=1)),
    )
    assert report.reference["records"] == 30_000 and report.recent["records"] == 30_000
    assert report.reference["sampled"] == 1000  # the sample never grows past its cap
    assert report.check("cost").reference_n == 30_000
    assert report.status is CheckStatus.NOT_FIRED


# -- embeddings --------------------------------------------------------------------------------


class HashingEmbedder(Embedder):
    """A deterministic bag-of-words embedder: enough to test the permutation test's plumbing."""

    name = "hashing-64"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64))
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, sum(map(ord, word)) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def _texts(n: int, words: Sequence[str], rng: np.random.Generator) -> list[ProductionRecord]:
    return [
        ProductionRecord.model_construct(
            time=T0, prompt="p", version="1", output=" ".join(rng.choice(words, 12))
        )
        for _ in range(n)
    ]


def test_embedding_drift_fires_on_a_change_of_topic_and_not_without_one() -> None:
    rng = np.random.default_rng(12)
    support = ["order", "refund", "shipping", "label", "return", "package", "delivery", "sorry"]
    legal = ["contract", "liability", "clause", "court", "statute", "warranty", "plaintiff", "law"]
    policy = DriftPolicy(min_samples=50, embeddings="on", embedding_sample=100, permutations=199)
    same = check_drift(
        _texts(150, support, rng),
        _texts(150, support, rng),
        policy=policy,
        embedder=HashingEmbedder(),
    ).check("embedding")
    assert same.status is CheckStatus.NOT_FIRED
    moved = check_drift(
        _texts(150, support, rng),
        _texts(150, support[:4] + legal[:4], rng),
        policy=policy,
        embedder=HashingEmbedder(),
    ).check("embedding")
    assert moved.status is CheckStatus.FIRED
    assert moved.reference_n == 100 and moved.p_value is not None and moved.p_value <= 0.01
    assert "hashing-64" in moved.detail


def test_embedding_check_follows_the_extra_being_installed() -> None:
    rng = np.random.default_rng(13)
    recs = list(records(300, BASE, rng))
    names = [c.name for c in check_drift(recs, recs, policy=DriftPolicy(embeddings="auto")).checks]
    assert ("embedding" in names) is emb.available()
    if not emb.available():
        on = check_drift(recs, recs, policy=DriftPolicy(embeddings="on")).check("embedding")
        assert on.status is CheckStatus.INSUFFICIENT_DATA
        assert "pip install 'promptgov[embeddings]'" in on.detail
    off = check_drift(recs, recs, policy=DriftPolicy(embeddings="off"))
    assert "embedding" not in [c.name for c in off.checks]
