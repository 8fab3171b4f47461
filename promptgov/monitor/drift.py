"""Drift checks: a recent window of production records against a reference window.

Iteration design (one pass over any amount of log): :func:`read_records` streams records,
two :class:`WindowStats` accumulators fold in those whose time falls in the reference or the
recent window, and :func:`check_drift` runs every check on the two summaries.
:func:`check_drift_from_paths` does exactly that in one call.

Each check reports ``fired``, ``not_fired`` or ``insufficient_data`` with its measured values,
threshold, p-value and sample sizes. A check fires only when the change is both
statistically significant — after Benjamini–Hochberg across every check that has a p-value —
and at least its practical threshold (with large samples everything is "significant").
Distribution checks use the KS test while either window has fewer than ``large_sample``
values and, from there on, the normalised Wasserstein distance alone. A new returned model
id is a fact, not an estimate: it fires when its share of recent calls reaches the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as _st
from scipy.spatial.distance import cosine

from promptgov import stats
from promptgov.errors import InvalidFile
from promptgov.monitor import embeddings as _emb
from promptgov.monitor.ingest import read_records
from promptgov.monitor.policy import DriftPolicy
from promptgov.monitor.records import ProductionRecord
from promptgov.monitor.window import TimeWindow, WindowStats

__all__ = ["CheckStatus", "DriftCheck", "DriftReport", "check_drift", "check_drift_from_paths"]


class CheckStatus(StrEnum):
    """The answer of one check, and of the whole report."""

    FIRED = "fired"
    """A significant change at least as large as the threshold."""
    NOT_FIRED = "not_fired"
    """Enough data, and no change that meets both bars."""
    INSUFFICIENT_DATA = "insufficient_data"
    """Too few records (or no field to measure): the check cannot tell. Never rolls back."""


@dataclass(frozen=True)
class DriftCheck:
    """One drift check's verdict and the evidence behind it."""

    name: str
    status: CheckStatus
    #: Statistical method: kolmogorov_smirnov, wasserstein, two_proportion_z, mann_whitney_u…
    method: str
    #: What ``reference_value``/``recent_value`` measure, e.g. "mean output length (chars)".
    metric: str
    reference_value: float | None
    recent_value: float | None
    #: What ``effect`` measures and compares with ``threshold``, e.g. "mean ratio".
    effect_name: str
    effect: float | None
    threshold: float | None
    p_value: float | None
    #: Benjamini–Hochberg adjusted p-value (None when the check has no decisive test).
    adjusted_p_value: float | None
    alpha: float
    reference_n: int
    recent_n: int
    min_samples: int
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (non-finite numbers become null)."""
        return stats._clean(  # type: ignore[no-any-return]
            {k: getattr(self, k) for k in self.__dataclass_fields__}
        )


@dataclass(frozen=True)
class DriftReport:
    """Every drift check for one prompt version, and the overall answer."""

    status: CheckStatus
    checks: tuple[DriftCheck, ...]
    reference: dict[str, Any]
    recent: dict[str, Any]
    alpha: float
    min_samples: int
    #: Upstream model changes by name, e.g. ``"gpt-4o-2024-05-13 → gpt-4o-2024-08-06"``.
    model_changes: tuple[str, ...] = ()
    #: ``prompt@version`` the records were filtered to, when known.
    subject: str | None = None
    #: What reading the logs found (:meth:`IngestReport.to_dict`), when read from files.
    ingest: dict[str, Any] | None = None
    #: Where the version's records fell against the windows, when read from files:
    #: ``first``/``last`` record times, and counts ``before`` the reference window,
    #: ``between`` the two and ``after`` the recent one.
    span: dict[str, Any] | None = None

    @property
    def fired(self) -> tuple[str, ...]:
        """Names of the checks that fired."""
        return tuple(c.name for c in self.checks if c.status is CheckStatus.FIRED)

    def check(self, name: str) -> DriftCheck:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON evidence file's content."""
        return {
            "status": self.status.value,
            "subject": self.subject,
            "fired": list(self.fired),
            "model_changes": list(self.model_changes),
            "alpha": self.alpha,
            "correction": "benjamini-hochberg",
            "min_samples": self.min_samples,
            "reference": self.reference,
            "recent": self.recent,
            "checks": [c.to_dict() for c in self.checks],
            "ingest": self.ingest,
            "span": self.span,
        }

    def to_markdown(self) -> str:
        """A readable report: verdict, windows, one table row per check, then details."""
        title = f"Drift report: {self.subject}" if self.subject else "Drift report"
        verdict = f"**Status: {self.status.value}**"
        if self.fired:
            verdict += " — " + ", ".join(self.fired)
        lines = [f"# {title}", "", verdict, ""]
        for label, win in (("Reference", self.reference), ("Recent", self.recent)):
            span = f"{win.get('start', '?')} → {win.get('end', '?')}" if "start" in win else "given"
            lines.append(f"- {label} window: {span}, {win.get('records', 0)} records")
        lines.append(
            f"- α = {self.alpha:g} after Benjamini–Hochberg; at least {self.min_samples} "
            "records per window"
        )
        for change in self.model_changes:
            lines.append(f"- Upstream model change: {change}")
        lines += [
            "",
            "| check | status | reference | recent | effect | threshold | p (adjusted) "
            "| n ref / recent | method |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in self.checks:
            p = "—" if c.p_value is None else f"{_fmt(c.p_value)} ({_fmt(c.adjusted_p_value)})"
            lines.append(
                f"| {c.name} | {c.status.value} | {_fmt(c.reference_value)} | "
                f"{_fmt(c.recent_value)} | {c.effect_name} {_fmt(c.effect)} | "
                f"{_fmt(c.threshold)} | {p} | {c.reference_n} / {c.recent_n} | {c.method} |"
            )
        lines += ["", "## Details", ""]
        lines += [f"- **{c.name}** ({c.metric}): {c.detail}" for c in self.checks]
        if self.ingest is not None:
            ing = self.ingest
            lines += [
                "",
                "## Logs read",
                "",
                f"- {ing['read']} well-formed records, {ing['accepted']} for this version, "
                f"{ing['malformed_count']} malformed, {sum(ing['skipped_other'].values())} "
                f"for other prompts or versions, {ing['ignored_spans']} non-GenAI spans ignored",
            ]
            lines += [f"- warning: {w}" for w in ing.get("warnings", [])]
            lines += [
                f"- malformed: `{m['file']}` line {m['line']}: {m['reason']}"
                for m in ing["malformed"][:20]
            ]
            if ing["malformed_count"] > 20:
                lines.append(f"- … and {ing['malformed_count'] - 20} more malformed records")
        return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    """Compact numbers for the Markdown table."""
    if value is None:
        return "—"
    if math.isinf(value):
        return "∞"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.2e}"


@dataclass
class _Draft:
    """A check before the multiple-testing correction decides its status."""

    name: str
    method: str
    metric: str
    effect_name: str
    reference_value: float | None
    recent_value: float | None
    effect: float | None
    threshold: float | None
    reference_n: int
    recent_n: int
    p_value: float | None = None
    insufficient: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


_DISTRIBUTIONS = (
    ("output_length", "output_chars", "mean output length (chars)"),
    ("output_tokens", "tokens_out", "mean output tokens"),
    ("input_tokens", "tokens_in", "mean input tokens"),
)
_SHIFTS = (
    ("latency", "latency_ms", "latency_ratio", "mean latency (ms)"),
    ("cost", "cost", "cost_ratio", "mean cost per call (USD)"),
)


def _too_few(n_ref: int, n_cur: int, minimum: int, what: str) -> str | None:
    if n_ref < minimum or n_cur < minimum:
        return f"too few {what}: reference {n_ref}, recent {n_cur}, minimum {minimum} in each"
    return None


def _distribution(
    name: str, feature: str, metric: str, ref: WindowStats, cur: WindowStats, policy: DriftPolicy
) -> _Draft | None:
    threshold = getattr(policy.thresholds, name)
    if threshold is None:
        return None
    n_ref, n_cur = ref.count(feature), cur.count(feature)
    draft = _Draft(
        name,
        "kolmogorov_smirnov",
        metric,
        "normalised Wasserstein",
        ref.mean(feature),
        cur.mean(feature),
        None,
        threshold,
        n_ref,
        n_cur,
    )
    draft.insufficient = _too_few(n_ref, n_cur, policy.min_samples, f"records with {feature}")
    if draft.insufficient:
        return draft
    a, b = ref.sample(feature), cur.sample(feature)
    dist = stats.normalised_wasserstein(a, b)
    draft.effect = dist.normalised
    draft.data = {
        "wasserstein": dist.distance,
        "reference_spread": dist.reference_spread,
        "sampled": [int(a.size), int(b.size)],
    }
    if min(a.size, b.size) < policy.large_sample:
        ks = stats.ks_test(a, b, alpha=policy.alpha, min_samples=1)
        draft.p_value = ks.p_value
        draft.data["ks_statistic"] = ks.statistic
        draft.detail = (
            f"KS D={_fmt(ks.statistic)}, shift {_fmt(draft.effect)} reference std devs "
            f"(threshold {threshold:g})"
        )
    else:
        draft.method = "wasserstein"
        draft.detail = (
            f"large samples: decided by the shift alone, {_fmt(draft.effect)} reference "
            f"std devs (threshold {threshold:g})"
        )
    return draft


def _rates(ref: WindowStats, cur: WindowStats, policy: DriftPolicy) -> list[_Draft]:
    drafts = []
    specs: tuple[
        tuple[str, str, stats.Alternative, str, str, tuple[int, int, int, int], str], ...
    ] = (
        (
            "refusal_rate",
            "refusal_rate_increase",
            "greater",
            "refusal rate",
            "increase",
            (ref.refusals, ref.n, cur.refusals, cur.n),
            "records",
        ),
        (
            "json_validity",
            "json_validity_drop",
            "less",
            "share of outputs that are valid JSON",
            "drop",
            (ref.json_valid, ref.outputs, cur.json_valid, cur.outputs),
            "outputs",
        ),
    )
    for name, key, alternative, metric, effect_name, counts, what in specs:
        threshold = getattr(policy.thresholds, key)
        if threshold is None:
            continue
        ref_s, ref_n, cur_s, cur_n = counts
        res = stats.two_proportion(
            ref_s, ref_n, cur_s, cur_n, alternative=alternative, alpha=policy.alpha, min_samples=1
        )
        effect = res.difference
        if effect is not None and alternative == "less":
            effect = 0.0 - effect  # 0.0 - x, not -x: no "-0" in reports
        draft = _Draft(
            name,
            res.test,
            metric,
            effect_name,
            res.reference_rate,
            res.current_rate,
            effect,
            threshold,
            ref_n,
            cur_n,
            p_value=res.p_value,
            detail=f"{cur_s}/{cur_n} recent vs {ref_s}/{ref_n} reference",
            data={"reference_count": ref_s, "recent_count": cur_s},
        )
        draft.insufficient = _too_few(ref_n, cur_n, policy.min_samples, what)
        drafts.append(draft)
    return drafts


def _shift(
    name: str,
    feature: str,
    key: str,
    metric: str,
    ref: WindowStats,
    cur: WindowStats,
    policy: DriftPolicy,
) -> _Draft | None:
    threshold = getattr(policy.thresholds, key)
    if threshold is None:
        return None
    n_ref, n_cur = ref.count(feature), cur.count(feature)
    ref_mean, cur_mean = ref.mean(feature), cur.mean(feature)
    ratio = None
    if ref_mean is not None and cur_mean is not None:
        ratio = cur_mean / ref_mean if ref_mean else (math.inf if cur_mean > 0 else 1.0)
    draft = _Draft(
        name,
        "mann_whitney_u",
        metric,
        "mean ratio",
        ref_mean,
        cur_mean,
        ratio,
        threshold,
        n_ref,
        n_cur,
    )
    draft.insufficient = _too_few(n_ref, n_cur, policy.min_samples, f"records with {feature}")
    if draft.insufficient:
        return draft
    res = stats.mann_whitney_increase(
        ref.sample(feature), cur.sample(feature), alpha=policy.alpha, min_samples=1
    )
    draft.p_value = res.p_value
    draft.detail = f"recent/reference mean = {_fmt(ratio)} (threshold ×{threshold:g}); one-sided"
    return draft


def _finish_reasons(ref: WindowStats, cur: WindowStats, policy: DriftPolicy) -> _Draft | None:
    threshold = policy.thresholds.finish_reason_shift
    if threshold is None:
        return None
    res = stats.chi_square(
        ref.finish_reasons, cur.finish_reasons, alpha=policy.alpha, min_samples=1
    )
    top_ref = ref.finish_reasons.most_common(1)
    draft = _Draft(
        "finish_reasons",
        res.test,
        "share of the most common reference finish reason",
        "total variation",
        None,
        None,
        res.total_variation,
        threshold,
        res.reference_n,
        res.current_n,
        p_value=res.p_value,
        data={
            "categories": list(res.categories),
            "reference_counts": list(res.reference_counts),
            "recent_counts": list(res.current_counts),
        },
    )
    if top_ref and res.current_n:
        reason = top_ref[0][0]
        draft.metric = f"share of finish reason '{reason}'"
        draft.reference_value = top_ref[0][1] / res.reference_n
        draft.recent_value = cur.finish_reasons.get(reason, 0) / res.current_n
    mix = ", ".join(
        f"{c} {r}→{n}"
        for c, r, n in zip(res.categories, res.reference_counts, res.current_counts, strict=True)
    )
    draft.detail = f"counts reference→recent: {mix or 'none'}"
    draft.insufficient = _too_few(
        res.reference_n, res.current_n, policy.min_samples, "records with a finish reason"
    )
    return draft


def _model_change(ref: WindowStats, cur: WindowStats, policy: DriftPolicy) -> _Draft | None:
    threshold = policy.thresholds.new_model_share
    if threshold is None:
        return None
    n_ref, n_cur = sum(ref.models.values()), sum(cur.models.values())
    new = {m: c for m, c in cur.models.most_common() if m not in ref.models}
    share = sum(new.values()) / n_cur if n_cur else None
    draft = _Draft(
        "model_id",
        "new_model_ids",
        "returned model ids",
        "share of recent calls",
        None,
        None,
        share,
        threshold,
        n_ref,
        n_cur,
        data={
            "reference_models": dict(ref.models),
            "recent_models": dict(cur.models),
            "new_models": new,
        },
    )
    draft.insufficient = _too_few(n_ref, n_cur, policy.min_samples, "records with a returned model")
    old = ", ".join(m for m, _ in ref.models.most_common(3)) or "none"
    if new:
        names = ", ".join(f"{m} ({c / n_cur:.1%})" for m, c in new.items())
        draft.detail = f"returned model changed: {old} → {names}"
    else:
        draft.detail = f"no new model id (reference: {old})"
    return draft


def _embedding(
    ref: WindowStats, cur: WindowStats, policy: DriftPolicy, embedder: _emb.Embedder | None
) -> _Draft | None:
    threshold = policy.thresholds.embedding_distance
    if threshold is None or (embedder is None and policy.embeddings == "off"):
        return None
    unavailable = embedder is None and not _emb.available()
    if unavailable and policy.embeddings == "auto":
        return None
    texts_ref, texts_cur = ([], []) if unavailable else (ref.texts, cur.texts)
    draft = _Draft(
        "embedding",
        "permutation_test",
        "output embedding centroid",
        "cosine distance",
        None,
        None,
        None,
        threshold,
        len(texts_ref),
        len(texts_cur),
    )
    if unavailable:
        draft.insufficient = (
            "the embeddings extra is not installed: pip install 'promptgov[embeddings]'"
        )
        return draft
    minimum = min(policy.min_samples, policy.embedding_sample)
    draft.insufficient = _too_few(len(texts_ref), len(texts_cur), minimum, "sampled output texts")
    if draft.insufficient:
        return draft
    model = embedder or _emb.MiniLMEmbedder()
    matrix = np.vstack([model.embed(texts_ref), model.embed(texts_cur)])
    split = len(texts_ref)

    def distance(ix: np.ndarray[Any, Any], iy: np.ndarray[Any, Any]) -> float:
        return float(
            cosine(matrix[ix.astype(int)].mean(axis=0), matrix[iy.astype(int)].mean(axis=0))
        )

    res = _st.permutation_test(
        (np.arange(split), np.arange(split, len(matrix))),
        distance,
        permutation_type="independent",
        vectorized=False,
        n_resamples=policy.permutations,
        alternative="greater",
        random_state=policy.seed,
    )
    draft.effect, draft.p_value = float(res.statistic), float(res.pvalue)
    draft.detail = (
        f"centroid cosine distance {_fmt(draft.effect)} (threshold {threshold:g}), "
        f"{policy.permutations} permutations, model {model.name}"
    )
    return draft


def _finish(drafts: Sequence[_Draft], alpha: float, min_samples: int) -> list[DriftCheck]:
    """Correct the decisive p-values together, then decide each check."""
    tested = [d for d in drafts if not d.insufficient and d.p_value is not None]
    bh = stats.benjamini_hochberg([d.p_value for d in tested if d.p_value is not None], alpha=alpha)
    adjusted = {id(d): a for d, a in zip(tested, bh.adjusted, strict=True)}
    checks = []
    for d in drafts:
        adj = adjusted.get(id(d))
        if d.insufficient:
            status, detail = CheckStatus.INSUFFICIENT_DATA, d.insufficient
        else:
            big_enough = (
                d.effect is not None
                and d.threshold is not None
                and (d.effect >= d.threshold and d.effect > 0)
            )
            significant = adj is None or adj <= alpha
            status = CheckStatus.FIRED if big_enough and significant else CheckStatus.NOT_FIRED
            detail = d.detail
            if big_enough and not significant:
                detail += f"; not significant after correction (p_adj={_fmt(adj)} > α={alpha:g})"
        checks.append(
            DriftCheck(
                d.name,
                status,
                d.method,
                d.metric,
                d.reference_value,
                d.recent_value,
                d.effect_name,
                d.effect,
                d.threshold,
                None if d.insufficient else d.p_value,
                adj,
                alpha,
                d.reference_n,
                d.recent_n,
                min_samples,
                detail,
                d.data,
            )
        )
    return checks


def _as_stats(
    window: WindowStats | Iterable[ProductionRecord],
    policy: DriftPolicy,
    keep_texts: bool,
    seed: int,
) -> WindowStats:
    if isinstance(window, WindowStats):
        return window
    return WindowStats(
        sample_size=policy.sample_size,
        text_sample_size=policy.embedding_sample if keep_texts else 0,
        seed=seed,
    ).extend(window)


def _wants_texts(policy: DriftPolicy, embedder: _emb.Embedder | None) -> bool:
    """Whether output texts must be sampled for the embedding check."""
    if policy.thresholds.embedding_distance is None:
        return False
    return embedder is not None or (policy.embeddings != "off" and _emb.available())


def check_drift(
    reference: WindowStats | Iterable[ProductionRecord],
    recent: WindowStats | Iterable[ProductionRecord],
    *,
    policy: DriftPolicy | None = None,
    embedder: _emb.Embedder | None = None,
    subject: str | None = None,
) -> DriftReport:
    """Compare two windows of production records and decide every drift check.

    Accepts prepared :class:`WindowStats` (the streaming path) or plain iterables of records.
    Pure computation: reads and writes nothing. ``embedder`` replaces the default model of
    the ``embeddings`` extra (it also turns the embedding check on).
    """
    policy = policy or DriftPolicy()
    keep = _wants_texts(policy, embedder)
    ref = _as_stats(reference, policy, keep, policy.seed)
    cur = _as_stats(recent, policy, keep, policy.seed + 1)
    drafts: list[_Draft | None] = [
        *(_distribution(n, f, m, ref, cur, policy) for n, f, m in _DISTRIBUTIONS),
        *_rates(ref, cur, policy),
        *(_shift(n, f, k, m, ref, cur, policy) for n, f, k, m in _SHIFTS),
        _finish_reasons(ref, cur, policy),
        _model_change(ref, cur, policy),
        _embedding(ref, cur, policy, embedder),
    ]
    checks = _finish([d for d in drafts if d is not None], policy.alpha, policy.min_samples)
    if any(c.status is CheckStatus.FIRED for c in checks):
        status = CheckStatus.FIRED
    elif all(c.status is CheckStatus.INSUFFICIENT_DATA for c in checks):
        status = CheckStatus.INSUFFICIENT_DATA
    else:
        status = CheckStatus.NOT_FIRED
    changes: tuple[str, ...] = ()
    for c in checks:
        if c.name == "model_id" and c.status is CheckStatus.FIRED:
            old = ", ".join(c.data["reference_models"]) or "none"
            changes = tuple(f"{old} → {m}" for m in c.data["new_models"])
    return DriftReport(
        status,
        tuple(checks),
        ref.summary(),
        cur.summary(),
        policy.alpha,
        policy.min_samples,
        changes,
        subject,
    )


def check_drift_from_paths(
    paths: Iterable[str | Path] | str | Path,
    *,
    reference: TimeWindow,
    recent: TimeWindow,
    prompt: str,
    version: str | None = None,
    sha256: str | None = None,
    env: str | None = None,
    policy: DriftPolicy | None = None,
    embedder: _emb.Embedder | None = None,
) -> DriftReport:
    """Stream log files once, fold records into the two windows, and run :func:`check_drift`.

    Memory stays bounded by ``policy.sample_size`` whatever the size of the logs. The
    report carries the ingest summary (malformed lines, records of other versions).

    Raises:
        NotFound: a log file does not exist.
        InputError: a path is a directory.
        InvalidFile: the logs are not empty, yet not one record in them could be read.
    """
    policy = policy or DriftPolicy()
    ingest = read_records(
        paths,
        prompt=prompt,
        version=version,
        sha256=sha256,
        env=env,
        identity_from=policy.identity_from,
    )
    keep = _wants_texts(policy, embedder)
    text_n = policy.embedding_sample if keep else 0
    ref = WindowStats(sample_size=policy.sample_size, text_sample_size=text_n, seed=policy.seed)
    cur = WindowStats(sample_size=policy.sample_size, text_sample_size=text_n, seed=policy.seed + 1)
    ref_start, ref_end, cur_start, cur_end = (
        reference.start,
        reference.end,
        recent.start,
        recent.end,
    )
    first: datetime | None = None
    last: datetime | None = None
    between_first: datetime | None = None
    before = after = outside = 0
    for record in ingest:
        when = record.time
        if first is None or when < first:
            first = when
        if last is None or when > last:
            last = when
        used = False
        if ref_start <= when < ref_end:
            ref.add(record)
            used = True
        if cur_start <= when < cur_end:
            cur.add(record)
            used = True
        if not used:
            outside += 1
            if when < ref_start:
                before += 1
            elif when >= cur_end:
                after += 1
            elif between_first is None or when < between_first:
                between_first = when
    if (unreadable := ingest.unreadable()) is not None:
        raise InvalidFile(unreadable)
    span = {
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
        "before": before,
        "between": outside - before - after,
        "after": after,
        "between_first": between_first.isoformat() if between_first else None,
    }
    subject = f"{prompt}@{version}" if version else prompt
    report = check_drift(ref, cur, policy=policy, embedder=embedder, subject=subject)
    return replace(
        report,
        reference={**reference.to_dict(), **report.reference},
        recent={**recent.to_dict(), **report.recent},
        ingest=ingest.to_dict(),
        span=span,
    )
