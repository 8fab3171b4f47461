"""promptgov: governance for LLM prompts.

Immutable, content-hashed prompt versions; environments moved only through an eval
gate and recorded approvals; a tamper-evident audit log; last-known-good rollback.

The public names below are imported on first use, so ``import promptgov`` (and every
CLI command) starts fast. :data:`_EXPORTS` is the one list: ``__all__``, ``dir()`` and
the lazy loader all read it, and a test checks the ``TYPE_CHECKING`` imports against it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name → module that defines it.
_EXPORTS: dict[str, str] = {
    "AddOptions": "promptgov.actions.add",
    "ApproveOptions": "promptgov.actions.approve",
    "AsyncClient": "promptgov.client",
    "AuditLog": "promptgov.audit",
    "CheckFailed": "promptgov.errors",
    "CheckoutOptions": "promptgov.actions.checkout",
    "Client": "promptgov.client",
    "ClearOptions": "promptgov.actions.feedback",
    "ComplaintOptions": "promptgov.actions.feedback",
    "Conflict": "promptgov.errors",
    "FlagOptions": "promptgov.actions.feedback",
    "GateFailed": "promptgov.errors",
    "GateInconclusive": "promptgov.errors",
    "GateOptions": "promptgov.actions.gate",
    "GateReport": "promptgov.gate",
    "InputError": "promptgov.errors",
    "IntegrityError": "promptgov.errors",
    "InvalidFile": "promptgov.errors",
    "LifecycleState": "promptgov.model",
    "NotAuthenticated": "promptgov.errors",
    "NotFound": "promptgov.errors",
    "PermissionDenied": "promptgov.errors",
    "PromoteOptions": "promptgov.actions.promote",
    "PromptCard": "promptgov.model",
    "PromptClient": "promptgov.sdk",
    "PromptContent": "promptgov.model",
    "PromptGovError": "promptgov.errors",
    "PromptVersion": "promptgov.registry",
    "Registry": "promptgov.registry",
    "Repo": "promptgov.repo",
    "ReviewOptions": "promptgov.actions.review",
    "RollbackOptions": "promptgov.actions.rollback",
    "RollbackResult": "promptgov.actions.rollback",
    "UnsafePath": "promptgov.errors",
    "VerificationFailed": "promptgov.errors",
    "VerifyReport": "promptgov.actions.verify",
    "VersionRecord": "promptgov.model",
    "add": "promptgov.actions.add",
    "approve": "promptgov.actions.approve",
    "check_gate": "promptgov.actions.gate",
    "check_triggers": "promptgov.actions.monitor",
    "checkout": "promptgov.actions.checkout",
    "clear_quarantine": "promptgov.actions.feedback",
    "flag_version": "promptgov.actions.feedback",
    "init": "promptgov.actions.init",
    "monitor_once": "promptgov.actions.monitor",
    "promote": "promptgov.actions.promote",
    "record_call": "promptgov.client",
    "report_complaint": "promptgov.actions.feedback",
    "rollback": "promptgov.actions.rollback",
    "review": "promptgov.actions.review",
    "run_version_eval": "promptgov.actions.evaluate",
    "verify": "promptgov.actions.verify",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptgov' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .actions.add import AddOptions, add
    from .actions.approve import ApproveOptions, approve
    from .actions.checkout import CheckoutOptions, checkout
    from .actions.evaluate import run_version_eval
    from .actions.feedback import (
        ClearOptions,
        ComplaintOptions,
        FlagOptions,
        clear_quarantine,
        flag_version,
        report_complaint,
    )
    from .actions.gate import GateOptions, check_gate
    from .actions.init import init
    from .actions.monitor import check_triggers, monitor_once
    from .actions.promote import PromoteOptions, promote
    from .actions.review import ReviewOptions, review
    from .actions.rollback import RollbackOptions, RollbackResult, rollback
    from .actions.verify import VerifyReport, verify
    from .audit import AuditLog
    from .client import AsyncClient, Client, record_call
    from .errors import (
        CheckFailed,
        Conflict,
        GateFailed,
        GateInconclusive,
        InputError,
        IntegrityError,
        InvalidFile,
        NotAuthenticated,
        NotFound,
        PermissionDenied,
        PromptGovError,
        UnsafePath,
        VerificationFailed,
    )
    from .gate import GateReport
    from .model import LifecycleState, PromptCard, PromptContent, VersionRecord
    from .registry import PromptVersion, Registry
    from .repo import Repo
    from .sdk import PromptClient
