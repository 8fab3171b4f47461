"""Fixtures for the audit log tests: bare repository roots, built logs and signing keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptgov.audit import AuditLog, KeyFiles, write_keypair
from promptgov.store.files import Transaction, repo_lock

LOG = "audit/artifact-audit-log.md"
RECORD_LINE = re.compile(rb"^```json audit-record\n(.*)\n```$", re.M)


def promote_fields(i: int) -> dict:
    """Fields of a realistic promotion entry, varied by ``i``."""
    return {
        "action": "promote",
        "actor": f"user{i % 7}",
        "prompt": f"prompt-{i % 5}",
        "env": ("dev", "staging", "prod")[i % 3],
        "from_version": f"1.{i}.0",
        "from_sha256": f"{i:064x}",
        "to_version": f"1.{i + 1}.0",
        "to_sha256": f"{i + 1:064x}",
        "reason": f"gate passed on run {i} — approved ✓",
        "evidence": [f"https://ci.example.com/runs/{i}"],
        "approvers": ["bob"],
        "eval_run_id": f"run-{i}",
        "gate_verdict": "pass",
        "details": {"n": i, "ratio": i / 7},
    }


def compact_fields(i: int) -> dict:
    """Fields of a short ``add`` entry (keeps exhaustive mutation tests quick)."""
    return {
        "action": "add",
        "actor": "ann",
        "prompt": "p",
        "to_version": f"1.0.{i}",
        "to_sha256": f"{i:064x}",
        "reason": f"v{i}",
    }


def build_log(root: Path, n: int, start: int = 0, fields=promote_fields) -> AuditLog:
    """Append ``n`` entries to the log of ``root`` in one locked transaction."""
    log = AuditLog(root)
    with repo_lock(root):
        txn = Transaction(root)
        for i in range(start, start + n):
            log.stage(txn, **fields(i))
        txn.commit()
    return log


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each stored JSON record line, found independently."""
    return [m.span(1) for m in RECORD_LINE.finditer(data)]


def records(data: bytes) -> list[dict]:
    """Every stored record, parsed independently of the library."""
    return [json.loads(data[a:b]) for a, b in record_spans(data)]


def entry_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each entry section: from its '\\n## Entry' heading to its closing fence."""
    starts = [m.start() for m in re.finditer(rb"\n## Entry \d+\n", data)]
    ends = [b + len(b"\n```\n") for _, b in record_spans(data)]
    return list(zip(starts, ends, strict=True))


def line_of(data: bytes, offset: int) -> int:
    """1-based line number of byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A bare repository root: only the directory exists."""
    path = tmp_path / "repo"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def log50(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a 50-entry log (built once; tests mutate copies)."""
    root = tmp_path_factory.mktemp("log50")
    build_log(root, 50, fields=compact_fields)
    return (root / LOG).read_bytes()


@pytest.fixture
def keys(tmp_path: Path) -> KeyFiles:
    """An Ed25519 key pair in a directory outside any repository."""
    return write_keypair(tmp_path / "keys")


@pytest.fixture
def keys2(tmp_path: Path) -> KeyFiles:
    """A second key pair, for rotation and wrong-key tests."""
    return write_keypair(tmp_path / "keys2")
