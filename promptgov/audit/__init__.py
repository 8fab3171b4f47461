"""The tamper-evident audit log: hash-chained Markdown entries and signed checkpoints.

::

    from promptgov.audit import AuditLog
    log = AuditLog(repo_root)
    log.append(action="promote", actor="alice", reason="gate passed", prompt="greet", ...)
    report = log.verify(public_key=Path("promptgov-audit-ab12.pub"))
    assert report.ok, report.summary()
"""

from __future__ import annotations

from ..redact import redact, redact_text
from ._chain import (
    HEAD_CACHE,
    LOG_FILE,
    AuditLog,
    RepairResult,
    find_repo_root,
    iter_records,
    verify_bytes,
)
from ._checkpoint import (
    CHECKPOINTS_FILE,
    Checkpoint,
    KeyFiles,
    key_id,
    load_private_key,
    load_public_key,
    write_keypair,
)
from ._record import (
    GENESIS_HASH,
    HASH_DOMAIN,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    AuditRecord,
    build_record,
    chain_hash,
)
from ._sink import credential
from ._verify import AuditProblem, AuditVerifyReport, TornTail

__all__ = [
    "AuditAction",
    "AuditEntry",
    "AuditLog",
    "AuditOutcome",
    "AuditProblem",
    "AuditRecord",
    "AuditVerifyReport",
    "CHECKPOINTS_FILE",
    "Checkpoint",
    "GENESIS_HASH",
    "HASH_DOMAIN",
    "HEAD_CACHE",
    "KeyFiles",
    "LOG_FILE",
    "RepairResult",
    "TornTail",
    "build_record",
    "chain_hash",
    "credential",
    "find_repo_root",
    "iter_records",
    "key_id",
    "load_private_key",
    "load_public_key",
    "redact",
    "redact_text",
    "verify_bytes",
    "write_keypair",
]
