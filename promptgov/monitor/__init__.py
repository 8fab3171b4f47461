"""Production monitoring: log ingestion, drift statistics and the trigger policy.

Typical use streams logs once into two windows and compares them::

    from promptgov.monitor import TimeWindow, check_drift_from_paths, default_windows

    reference, recent = default_windows(promoted_at, now, reference="3d", recent="24h")
    report = check_drift_from_paths(["logs/prod.jsonl"], prompt="greet", version="1.2.0",
                                    reference=reference, recent=recent)
    print(report.status, report.fired)

The lower layers are public too: :func:`read_records` yields records lazily, and
:class:`WindowStats` folds any iterable of records into a constant-memory summary that
:func:`check_drift` compares.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptgov.monitor.drift import (
        CheckStatus,
        DriftCheck,
        DriftReport,
        check_drift,
        check_drift_from_paths,
    )
    from promptgov.monitor.embeddings import Embedder, EmbeddingsUnavailable, MiniLMEmbedder
    from promptgov.monitor.features import is_json, is_refusal
    from promptgov.monitor.ingest import (
        MAX_MALFORMED_DETAILS,
        FileSummary,
        IngestReport,
        Malformed,
        read_records,
    )
    from promptgov.monitor.policy import (
        Action,
        AuditFlagsPolicy,
        ComplaintsPolicy,
        DriftPolicy,
        DriftThresholds,
        EvalRegressionPolicy,
        EvalRegressionThresholds,
        FailingTestsPolicy,
        Severity,
        TriggerPolicy,
        TriggersPolicy,
        format_duration,
        parse_duration,
    )
    from promptgov.monitor.records import ProductionRecord, record_json_schema
    from promptgov.monitor.window import FEATURES, TimeWindow, WindowStats, default_windows

#: public name → the module defining it; imported on first use, so reading the trigger
#: policy does not pay for scipy and numpy.
_EXPORTS: dict[str, str] = {
    "Action": "promptgov.monitor.policy",
    "AuditFlagsPolicy": "promptgov.monitor.policy",
    "CheckStatus": "promptgov.monitor.drift",
    "ComplaintsPolicy": "promptgov.monitor.policy",
    "DriftCheck": "promptgov.monitor.drift",
    "DriftPolicy": "promptgov.monitor.policy",
    "DriftReport": "promptgov.monitor.drift",
    "DriftThresholds": "promptgov.monitor.policy",
    "Embedder": "promptgov.monitor.embeddings",
    "EmbeddingsUnavailable": "promptgov.monitor.embeddings",
    "EvalRegressionPolicy": "promptgov.monitor.policy",
    "EvalRegressionThresholds": "promptgov.monitor.policy",
    "FEATURES": "promptgov.monitor.window",
    "FailingTestsPolicy": "promptgov.monitor.policy",
    "FileSummary": "promptgov.monitor.ingest",
    "IngestReport": "promptgov.monitor.ingest",
    "MAX_MALFORMED_DETAILS": "promptgov.monitor.ingest",
    "Malformed": "promptgov.monitor.ingest",
    "MiniLMEmbedder": "promptgov.monitor.embeddings",
    "ProductionRecord": "promptgov.monitor.records",
    "Severity": "promptgov.monitor.policy",
    "TimeWindow": "promptgov.monitor.window",
    "TriggerPolicy": "promptgov.monitor.policy",
    "TriggersPolicy": "promptgov.monitor.policy",
    "WindowStats": "promptgov.monitor.window",
    "check_drift": "promptgov.monitor.drift",
    "check_drift_from_paths": "promptgov.monitor.drift",
    "default_windows": "promptgov.monitor.window",
    "format_duration": "promptgov.monitor.policy",
    "is_json": "promptgov.monitor.features",
    "is_refusal": "promptgov.monitor.features",
    "parse_duration": "promptgov.monitor.policy",
    "read_records": "promptgov.monitor.ingest",
    "record_json_schema": "promptgov.monitor.records",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptgov.monitor' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FEATURES",
    "MAX_MALFORMED_DETAILS",
    "Action",
    "AuditFlagsPolicy",
    "CheckStatus",
    "ComplaintsPolicy",
    "DriftCheck",
    "DriftPolicy",
    "DriftReport",
    "DriftThresholds",
    "Embedder",
    "EmbeddingsUnavailable",
    "EvalRegressionPolicy",
    "EvalRegressionThresholds",
    "FailingTestsPolicy",
    "FileSummary",
    "IngestReport",
    "Malformed",
    "MiniLMEmbedder",
    "ProductionRecord",
    "Severity",
    "TimeWindow",
    "TriggerPolicy",
    "TriggersPolicy",
    "WindowStats",
    "check_drift",
    "check_drift_from_paths",
    "default_windows",
    "format_duration",
    "is_json",
    "is_refusal",
    "parse_duration",
    "read_records",
    "record_json_schema",
]
