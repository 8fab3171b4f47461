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
