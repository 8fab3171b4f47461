"""The drift trigger: recent production behaviour against the first days after promotion."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError
from ...repo import Repo
from ..policy import DriftPolicy, parse_duration
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult, TriggerStatus, result

__all__ = ["LOG_SUFFIXES", "Drift", "default_logs"]

#: Production log files picked up from ``logs/`` when no ``--logs`` is given.
LOG_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
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
            raise InputError(f"--window: {exc}.") from None

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
        summary += f" ({ref_n} reference / {cur_n} recent records)"
        ingest = rep.ingest or {}
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
