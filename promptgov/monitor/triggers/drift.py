"""The drift trigger: recent production behaviour against the first days after promotion."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import InputError
from ...repo import Repo
from ..policy import DriftPolicy, parse_duration
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult, TriggerStatus, result

if TYPE_CHECKING:
    from ..window import TimeWindow

__all__ = ["LOG_SUFFIXES", "Drift", "default_logs", "model_change"]

#: Production log files picked up from ``logs/`` when no ``--logs`` is given.
LOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".binpb", ".binpb.gz")
#: Malformed production records listed in a trigger report (the drift report lists more).
_MALFORMED_SHOWN = 20


def default_logs(repo: Repo) -> list[Path]:
    """The JSON/JSONL log files directly in ``logs/``, sorted."""
    base = repo.root / "logs"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_file() and p.name.endswith(LOG_SUFFIXES))


class Drift:
    """Fires when any drift check on the production logs fires (see docs/monitoring.md)."""

    name = TriggerName.DRIFT

    def policy(self, context: CheckContext) -> DriftPolicy:
        """The ``drift`` policy, its recent window replaced by the check's ``window``.

        Raises:
            InputError: ``window`` is not a duration.
        """
        pol = context.policies.drift
        if context.window is None:
            return pol
        try:
            return pol.model_copy(update={"window": parse_duration(context.window)})
        except ValueError as exc:
            raise InputError(f"window: {exc}.", cli_hint="Check --window.") from None

    def check(self, subject: Subject, context: CheckContext) -> TriggerResult:
        """One streaming pass over the logs into the two windows, then every drift check."""
        from .. import check_drift_from_paths, default_windows

        pol = self.policy(context)
        logs = context.logs
        paths = list(logs) if logs is not None else default_logs(context.registry.repo)
        if not paths:
            return result(
                self.name,
                pol,
                TriggerStatus.INSUFFICIENT_DATA,
                "no production logs: pass --logs PATH or put JSON/JSONL logs in logs/",
            )
        reference, recent = default_windows(
            subject.promoted_at, context.at, reference=pol.reference_window, recent=pol.window
        )
        rep = check_drift_from_paths(
            paths,
            reference=reference,
            recent=recent,
            prompt=subject.name,
            version=subject.record.version,
            env=subject.env,
            policy=pol,
            embedder=context.embedder,
        )
        shown = [c for c in rep.checks if c.status.value == "fired"] or [
            c for c in rep.checks if c.status.value == "not_fired"
        ]
        summary = (
            "; ".join(
                f"{c.name} {c.effect_name} {_num(c.effect)} vs {_num(c.threshold)}"
                for c in shown[:6]
            )
            or "no check had enough records"
        )
        ref_n, cur_n = rep.reference.get("records", 0), rep.recent.get("records", 0)
        change = model_change(rep.reference.get("models", {}), rep.recent.get("models", {}))
        if change:
            summary = f"model {change}; {summary}"
        summary += f" ({ref_n} reference / {cur_n} recent records)"
        ingest = rep.ingest or {}
        span = rep.span or {}
        suggested = None
        if min(ref_n, cur_n) < pol.min_samples:
            note, suggested = _outside_windows(span, ingest.get("accepted", 0), reference, recent)
            summary += note
        return result(
            self.name,
            pol,
            TriggerStatus(rep.status.value),
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
                "model_change": change,
                "models": {
                    "reference": rep.reference.get("models", {}),
                    "recent": rep.recent.get("models", {}),
                },
                "span": span,
                "suggested_window": suggested,
                "reference_window": reference.to_dict(),
                "recent_window": recent.to_dict(),
                "logs": {
                    "files": [str(p) for p in paths],
                    "read": ingest.get("read", 0),
                    "accepted": ingest.get("accepted", 0),
                    "malformed_count": ingest.get("malformed_count", 0),
                    "malformed": ingest.get("malformed", [])[:_MALFORMED_SHOWN],
                    "skipped_other": ingest.get("skipped_other", {}),
                    "warnings": ingest.get("warnings", []),
                },
            },
            files={
                "-drift.json": (
                    json.dumps(rep.to_dict(), indent=2, ensure_ascii=False) + "\n"
                ).encode(),
                "-drift.md": rep.to_markdown().encode(),
            },
        )


def model_change(reference: Mapping[str, int], recent: Mapping[str, int]) -> str | None:
    """``"gpt-4o-mini-2024-07-18 → gpt-4o-mini-2025-01-31"`` when the returned model ids
    differ between the windows (most calls first), else None.

    The upstream model is the fact an on-call engineer wants first, whether or not the
    ``model_id`` check has enough records to fire.
    """
    if not reference or not recent or set(reference) == set(recent):
        return None
    old = ", ".join(list(reference)[:3])
    new = [m for m in recent if m not in reference] or list(recent)
    total = sum(recent.values())
    shown = ", ".join(
        m if len(new) == 1 and recent[m] == total else f"{m} ({recent[m] / total:.0%})"
        for m in new[:3]
    )
    return f"{old} → {shown}"


def _outside_windows(
    span: Mapping[str, Any], accepted: int, reference: TimeWindow, recent: TimeWindow
) -> tuple[str, str | None]:
    """Why records read did not count, and the recent window that would hold them."""
    outside = int(span.get("before", 0)) + int(span.get("between", 0)) + int(span.get("after", 0))
    if not outside:
        return "", None
    parts = [
        f"; {outside} of {accepted} records read for this version fell outside both windows "
        f"(records {_time(span.get('first'))} → {_time(span.get('last'))}; reference "
        f"{_time(reference.start)} → {_time(reference.end)}, recent {_time(recent.start)} → "
        f"{_time(recent.end)})"
    ]
    suggested = None
    if span.get("between_first"):
        reach = recent.end - datetime.fromisoformat(span["between_first"])
        suggested = _round_up(reach)
        parts.append(f"; a recent window of {suggested} would hold {span['between']} of them")
    if span.get("before"):
        parts.append(f"; {span['before']} predate the promotion, so never count")
    if span.get("after"):
        parts.append(
            f"; {span['after']} are later than the check time: check as of {_time(span['last'])} "
            "or later"
        )
    return "".join(parts), suggested


def _round_up(delta: timedelta) -> str:
    """A window length people type: whole hours up to two days, whole days beyond."""
    hours = math.ceil(delta / timedelta(hours=1))
    return f"{hours}h" if hours <= 48 else f"{math.ceil(delta / timedelta(days=1))}d"


def _time(value: datetime | str | None) -> str:
    """Minutes are precise enough for a window, and keep the line readable."""
    if value is None:
        return "?"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
