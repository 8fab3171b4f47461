"""promptgov: governance for LLM prompts.

Immutable, content-hashed prompt versions; environments moved only through an eval
gate and recorded approvals; a tamper-evident audit log; last-known-good rollback.
"""

from __future__ import annotations

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
from .layout import init
from .model import LifecycleState, PromptCard, PromptContent, VersionRecord
from .registry import PromptVersion, Registry
from .repo import Repo
from .verify import VerifyReport, verify

__version__ = "0.1.0"

__all__ = [
    "CheckFailed",
    "Conflict",
    "GateFailed",
    "GateInconclusive",
    "InputError",
    "IntegrityError",
    "InvalidFile",
    "LifecycleState",
    "NotFound",
    "PermissionDenied",
    "PromptCard",
    "PromptContent",
    "PromptGovError",
    "PromptVersion",
    "Registry",
    "Repo",
    "UnsafePath",
    "VerificationFailed",
    "VersionRecord",
    "VerifyReport",
    "__version__",
    "init",
    "verify",
]
