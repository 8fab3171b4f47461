"""The public surface of ``promptgov.audit`` cannot drift."""

from __future__ import annotations

import promptgov.audit as audit


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert audit.__all__ == sorted(audit.__all__)
    for name in audit.__all__:
        assert getattr(audit, name) is not None, name


def test_api_named_by_the_rest_of_the_product_exists() -> None:
    for name in ("AuditLog", "AuditRecord", "AuditEntry", "AuditVerifyReport", "verify_bytes",
                 "find_repo_root"):  # fmt: skip
        assert name in audit.__all__
    log = audit.AuditLog
    for method in ("stage", "append", "entries", "head", "verify", "repair", "checkpoint"):
        assert callable(getattr(log, method)), method
