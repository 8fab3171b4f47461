"""Where each file of a governed repository lives: the public file formats' paths."""

from __future__ import annotations

from .files import STATE_DIR

CONFIG_FILE = "promptgov.yml"
REGISTRY_FILE = "schemas/prompt-version-schema.yml"
CHANGELOG_FILE = "schemas/prompt-change-log.yml"
AUDIT_FILE = "audit/artifact-audit-log.md"
EVAL_CONFIG_FILE = "evals/eval-config.promptfoo.yml"
GATE_FILE = "ci/eval-gate.yml"
PROMPTS_DIR = "prompts"
LOGS_DIR = "logs"
OBJECTS_DIR = f"{STATE_DIR}/objects"
#: Pointer moves recorded and not yet published to git (machine-local, git-ignored).
UNPUBLISHED_DIR = f"{STATE_DIR}/unpublished"

__all__ = [
    "AUDIT_FILE",
    "CHANGELOG_FILE",
    "CONFIG_FILE",
    "EVAL_CONFIG_FILE",
    "GATE_FILE",
    "LOGS_DIR",
    "OBJECTS_DIR",
    "PROMPTS_DIR",
    "REGISTRY_FILE",
    "STATE_DIR",
    "UNPUBLISHED_DIR",
]
