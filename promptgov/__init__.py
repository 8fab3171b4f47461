"""promptgov: governance for LLM prompts.

Immutable, content-hashed prompt versions; environments moved only through an eval
gate and recorded approvals; a tamper-evident audit log; last-known-good rollback.

The public names below are imported on first use, so ``import promptgov`` (and every
CLI command) starts fast.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name → module that defines it.
_EXPORTS: dict[str, str] = {
    "AuditLog": "promptgov.audit",
    "CheckFailed": "promptgov.errors",
    "Conflict": "promptgov.errors",
    "GateFailed": "promptgov.errors",
    "GateInconclusive": "promptgov.errors",
    "GateReport": "promptgov.gate",
    "InputError": "promptgov.errors",
    "IntegrityError": "promptgov.errors",
    "InvalidFile": "promptgov.errors",
    "LifecycleState": "promptgov.model",
    "NotFound": "promptgov.errors",
    "PermissionDenied": "promptgov.errors",
    "PromptCard": "promptgov.model",
    "PromptContent": "promptgov.model",
    "PromptGovError": "promptgov.errors",
    "PromptClient": "promptgov.sdk",
    "PromptVersion": "promptgov.registry",
    "Registry": "promptgov.registry",
    "Repo": "promptgov.repo",
    "RollbackResult": "promptgov.rollback",
    "UnsafePath": "promptgov.errors",
    "VerificationFailed": "promptgov.errors",
    "VerifyReport": "promptgov.verify",
    "VersionRecord": "promptgov.model",
    "approve": "promptgov.promotion",
    "check_gate": "promptgov.promotion",
    "check_triggers": "promptgov.triggers",
    "clear_quarantine": "promptgov.feedback",
    "flag_version": "promptgov.feedback",
    "init": "promptgov.layout",
    "monitor_once": "promptgov.triggers",
    "promote": "promptgov.promotion",
    "report_complaint": "promptgov.feedback",
    "rollback": "promptgov.rollback",
    "run_version_eval": "promptgov.eval_runs",
    "verify": "promptgov.verify",
}

__all__ = [
    "AuditLog",
    "CheckFailed",
    "Conflict",
    "GateFailed",
    "GateInconclusive",
    "GateReport",
    "InputError",
    "IntegrityError",
    "InvalidFile",
    "LifecycleState",
    "NotFound",
    "PermissionDenied",
    "PromptCard",
    "PromptClient",
    "PromptContent",
    "PromptGovError",
    "PromptVersion",
    "Registry",
    "Repo",
    "RollbackResult",
    "UnsafePath",
    "VerificationFailed",
    "VerifyReport",
    "VersionRecord",
    "__version__",
    "approve",
    "check_gate",
    "check_triggers",
    "clear_quarantine",
    "flag_version",
    "init",
    "monitor_once",
    "promote",
    "report_complaint",
    "rollback",
    "run_version_eval",
    "verify",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptgov' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    """Keeps ``promptgov.rollback`` and ``promptgov.verify`` the functions.

    Importing a submodule binds it as an attribute of its package; where a public function
    shares its module's name, that binding is skipped so the function stays reachable.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:
    from .audit import AuditLog
    from .errors import (
        CheckFailed,
        Conflict,
        GateFailed,
        GateInconclusive,
        InputError,
        IntegrityError,
        InvalidFile,
        NotFound,
        PermissionDenied,
        PromptGovError,
        UnsafePath,
        VerificationFailed,
    )
    from .eval_runs import run_version_eval
    from .feedback import clear_quarantine, flag_version, report_complaint
    from .gate import GateReport
    from .layout import init
    from .model import LifecycleState, PromptCard, PromptContent, VersionRecord
    from .promotion import approve, check_gate, promote
    from .registry import PromptVersion, Registry
    from .repo import Repo
    from .rollback import RollbackResult, rollback
    from .sdk import PromptClient
    from .triggers import check_triggers, monitor_once
    from .verify import VerifyReport, verify
