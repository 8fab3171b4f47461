"""Entry contents: required fields, validation, times, tool version and the hash definition."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import LOG, build_log, promote_fields, records

import promptgov
from promptgov.audit import AuditLog
from promptgov.errors import InputError
from promptgov.store.files import Transaction, repo_lock

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ALL_KEYS = {
    "seq", "time", "actor", "on_behalf_of", "action", "prompt", "env", "from_version",
    "from_sha256", "to_version", "to_sha256", "reason", "ticket", "evidence", "approvers",
    "eval_run_id", "gate_verdict", "outcome", "error", "tool_version", "prev_hash", "hash",
    "details", "v",
}  # fmt: skip


def test_first_append_creates_log_with_header_in_bare_root(root: Path) -> None:
    entry = AuditLog(root).append(action="init", actor="carol", reason="repository created")
    data = (root / LOG).read_bytes()
    assert data.startswith(b"# Audit log\n")
    assert entry.seq == 1 and entry.prev_hash == "0" * 64
    assert b"\n## Entry 1\n" in data


def test_record_holds_every_field_with_utc_time_and_tool_version(root: Path) -> None:
    before = datetime.now(UTC)
    AuditLog(root).append(**promote_fields(3), on_behalf_of="policy:auto", ticket="INC-7")
    (rec,) = records((root / LOG).read_bytes())
    assert set(rec) == ALL_KEYS
    assert RFC3339_UTC.match(rec["time"])
    written = datetime.fromisoformat(rec["time"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= written <= datetime.now(UTC)
    assert rec["tool_version"] == promptgov.__version__
    assert (rec["on_behalf_of"], rec["ticket"], rec["outcome"]) == (
        "policy:auto",
        "INC-7",
        "success",
    )
    assert rec["from_sha256"] == f"{3:064x}" and rec["to_version"] == "1.4.0"


def test_hash_is_sha256_of_domain_prev_and_canonical_body(root: Path) -> None:
    build_log(root, 3)
    prev = "0" * 64
    for rec in records((root / LOG).read_bytes()):
        body = {k: v for k, v in rec.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        expected = hashlib.sha256(
            b"promptgov-audit-v1\x00" + prev.encode() + b"\x00" + canonical.encode()
        ).hexdigest()
        assert rec["prev_hash"] == prev
        assert rec["hash"] == expected
        prev = expected


def test_stored_record_line_is_canonical_body_with_hash_last(root: Path) -> None:
    build_log(root, 1)
    data = (root / LOG).read_bytes()
    line = re.search(rb"```json audit-record\n(.*)\n```", data)[1]  # type: ignore[index]
    rec = json.loads(line)
    body = {k: v for k, v in rec.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert line == canonical.encode()[:-1] + b',"hash":"' + rec["hash"].encode() + b'"}'


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"actor": "a", "reason": "r"}, "field 'action' is required"),
        ({"action": "add", "reason": "r"}, "field 'actor' is required"),
        ({"action": "add", "actor": "a"}, "field 'reason' is required"),
        ({"action": "add", "actor": " ", "reason": "r"}, "field 'actor' must not be empty"),
        ({"action": "Add!", "actor": "a", "reason": "r"}, "field 'action' must be lowercase"),
        ({"action": "add", "actor": "a", "reason": "r", "outcome": "failure"}, "needs 'error'"),
        ({"action": "add", "actor": "a", "reason": "r", "outcome": "maybe"}, "field 'outcome'"),
        (
            {"action": "promote", "actor": "a", "reason": "r", "prompt": "p", "env": "prod"},
            "a promote entry needs to_version, to_sha256",
        ),
        (
            {"action": "add", "actor": "a", "reason": "r", "to_version": "1.0.0", "to_sha256": "x"},
            "field 'to_sha256' must be a 64-character lowercase hex sha256",
        ),
        ({"action": "add", "actor": "a", "reason": "r", "colour": "red"}, "unknown field 'colour'"),
        (
            {"action": "add", "actor": "a", "reason": "r", "details": {"x": {1, 2}}},
            "details.x holds a set",
        ),
        (
            {"action": "add", "actor": "a", "reason": "r", "details": {"x": float("nan")}},
            "not valid JSON",
        ),
        ({"action": "add", "actor": "a", "reason": "x" * (1 << 20)}, "exceeds"),
    ],
)
def test_incomplete_or_invalid_record_is_refused_and_nothing_written(
    root: Path, fields: dict, message: str
) -> None:
    log = AuditLog(root)
    log.append(action="init", actor="carol", reason="created")
    before = (root / LOG).read_bytes()
    head = log.head()
    with pytest.raises(InputError) as info:
        log.append(**fields)
    assert message in info.value.message
    assert info.value.message.startswith("audit record refused:")
    assert "Nothing was written" in info.value.message
    assert (root / LOG).read_bytes() == before
    assert log.head() == head


def test_refused_record_on_empty_repo_creates_no_file(root: Path) -> None:
    with pytest.raises(InputError):
        AuditLog(root).append(action="add", actor="a")
    assert not (root / LOG).exists()


def test_several_entries_staged_in_one_transaction_chain_and_commit_together(root: Path) -> None:
    log = build_log(root, 2)
    before = (root / LOG).read_bytes()
    with repo_lock(root):
        txn = Transaction(root)
        first = log.stage(txn, **promote_fields(10))
        second = log.stage(txn, **promote_fields(11))
        assert (root / LOG).read_bytes() == before  # nothing applied before commit
        txn.write("registry.txt", b"pointer moved")
        txn.commit()
    assert (first.seq, second.seq) == (3, 4)
    assert second.prev_hash == first.hash
    assert log.head() == (4, second.hash)
    assert log.verify().ok
    assert (root / "registry.txt").read_bytes() == b"pointer moved"


def test_transaction_abandoned_after_staging_writes_nothing(root: Path) -> None:
    log = build_log(root, 2)
    before = (root / LOG).read_bytes()
    with repo_lock(root):
        txn = Transaction(root)
        log.stage(txn, **promote_fields(5))
        # the command fails before commit: the transaction is dropped
    assert (root / LOG).read_bytes() == before
    assert log.append(**promote_fields(6)).seq == 3
    assert log.verify().ok


def test_failed_outcome_records_error(root: Path) -> None:
    AuditLog(root).append(
        action="notify", actor="promptgov", reason="rollback announced", outcome="failure",
        error="HTTP 500 from sink",
    )  # fmt: skip
    (rec,) = records((root / LOG).read_bytes())
    assert (rec["outcome"], rec["error"]) == ("failure", "HTTP 500 from sink")


def test_entries_filter_by_prompt_action_and_since(root: Path) -> None:
    log = build_log(root, 10)
    log.append(action="flag", actor="auditor", reason="odd output", prompt="prompt-1")
    assert [e.seq for e in log.entries(prompt="prompt-1")] == [2, 7, 11]
    assert [e.seq for e in log.entries(action="flag")] == [11]
    assert [e.seq for e in log.entries(prompt="prompt-1", action="promote")] == [2, 7]
    cut = records((root / LOG).read_bytes())[8]["time"]
    assert [e.seq for e in log.entries(since=cut)] == [9, 10, 11]
    assert list(log.entries(since="2999-01-01")) == []
    with pytest.raises(InputError, match="invalid time 'yesterday'"):
        list(log.entries(since="yesterday"))


def test_human_text_cannot_fake_an_entry(root: Path) -> None:
    sneaky = "ok\n## Entry 99\n```json audit-record\n{}\n```\n<!-- hide"
    log = AuditLog(root)
    log.append(action="flag", actor="x\ny", reason=sneaky, prompt="p")
    data = (root / LOG).read_bytes()
    assert data.count(b"\n## Entry ") == 1
    assert data.count(b"\n```json audit-record\n") == 1
    assert data.count(b"\n```") == 2  # the record block only
    assert b"<!--" not in data.split(b"```json")[0]
    assert [e.reason for e in log.entries()] == [sneaky]
    assert log.verify().ok
