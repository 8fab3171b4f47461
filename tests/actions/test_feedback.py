"""Complaints and audit flags: recorded, audit-logged, and a flagged version is never LKG."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptgov import (
    AddOptions,
    ClearOptions,
    ComplaintOptions,
    FlagOptions,
    Registry,
    RollbackOptions,
    add,
)
from promptgov.actions.feedback import clear_quarantine, complaints, flag_version, report_complaint
from promptgov.actions.rollback import rollback
from promptgov.audit import AuditLog
from promptgov.errors import Conflict, InputError, NotFound, PermissionDenied
from promptgov.model import LifecycleState
from tests import flows
from tests.conftest import run_cli, snapshot

PROMPT = flows.PROMPT


@pytest.fixture
def three(example_repo: Path) -> Path:
    """1.0.0, 1.1.0 and 1.2.0 each released to prod; prod serves 1.2.0."""
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        flows.add_version(example_repo, version)
        flows.release(example_repo, version)
    return example_repo


# --------------------------------------------------------------------------- complaints


def test_a_complaint_is_stored_against_the_serving_version_and_audited(three: Path) -> None:
    c = report_complaint(
        Registry(three),
        PROMPT,
        ComplaintOptions(
            complaint="It promised a refund.", severity="high", evidence=["tickets/4711"]
        ),
        by="support-lead",
    )

    rec = Registry(three).record(PROMPT, "1.2.0")
    assert (c.version, c.sha256, c.env, c.severity.value) == ("1.2.0", rec.sha256, "prod", "high")
    (line,) = (three / "logs/complaints/support-reply.jsonl").read_text().splitlines()
    assert json.loads(line)["id"] == c.id
    (entry,) = AuditLog(three).entries(action="complaint")
    assert entry.seq == c.audit_seq
    assert (entry.actor, entry.to_version, entry.evidence) == (
        "support-lead",
        "1.2.0",
        ["tickets/4711"],
    )
    assert entry.details == {"complaint_id": c.id, "severity": "high"}


def test_complaints_filter_by_env_and_hash(three: Path) -> None:
    reg = Registry(three)
    report_complaint(reg, PROMPT, ComplaintOptions(complaint="slow", severity="low"), by="a")
    report_complaint(
        reg, PROMPT, ComplaintOptions(complaint="odd", severity="low", env="staging"), by="b"
    )
    prod_sha = reg.record(PROMPT, "1.2.0").sha256
    assert [c.text for c in complaints(reg, PROMPT, env="prod")] == ["slow"]
    assert [c.text for c in complaints(reg, PROMPT, sha256=prod_sha)] == ["slow", "odd"]
    assert complaints(reg, PROMPT, sha256="0" * 64) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"severity": "urgent"}, InputError, "unknown severity 'urgent'"),
        ({"text": "  "}, InputError, "a complaint needs its text"),
        ({"by": ""}, InputError, "a complaint needs who reported it"),
        ({"env": "qa"}, NotFound, "unknown environment 'qa'"),
        ({"text": "x" * 4001}, InputError, "complaint text is 4001 characters"),
    ],
)
def test_bad_complaints_are_refused_and_write_nothing(
    three: Path, kwargs: dict[str, str], error: type[Exception], message: str
) -> None:
    before = snapshot(three)
    args = {"text": "bad", "by": "u", "severity": "low", **kwargs}
    by, text = args.pop("by"), args.pop("text")
    with pytest.raises(error, match=message):
        report_complaint(Registry(three), PROMPT, ComplaintOptions(complaint=text, **args), by=by)
    assert snapshot(three) == before


def test_a_complaint_needs_a_deployed_version(example_repo: Path) -> None:
    add(Registry(example_repo), PROMPT, AddOptions(message="first"), by="carol")
    with pytest.raises(NotFound, match="not deployed to prod"):
        report_complaint(Registry(example_repo), PROMPT, ComplaintOptions(complaint="bad"), by="u")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(min_size=1, max_size=300).filter(str.strip),
    by=st.text(
        st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn")), min_size=1, max_size=40
    ).filter(lambda s: _nfkc(s) and not any(unicodedata.category(c)[0] == "C" for c in _nfkc(s))),
)
def test_any_text_round_trips_through_the_complaints_file(three: Path, text: str, by: str) -> None:
    """Text is kept verbatim; the reporter's name as NFKC-normalised, trimmed text."""
    reg = Registry(three)
    c = report_complaint(reg, PROMPT, ComplaintOptions(complaint=text, severity="medium"), by=by)
    stored = {x.id: x for x in complaints(reg, PROMPT)}[c.id]
    assert (stored.text, stored.by) == (text, _nfkc(by))


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s).strip()


def test_a_corrupt_complaints_file_is_named_with_its_line(three: Path) -> None:
    report_complaint(Registry(three), PROMPT, ComplaintOptions(complaint="bad"), by="u")
    path = three / "logs/complaints/support-reply.jsonl"
    path.write_text(path.read_text() + '{"id": 1}\n')
    with pytest.raises(InputError, match="support-reply.jsonl line 2"):
        complaints(Registry(three), PROMPT)


def test_cli_report(three: Path) -> None:
    res = run_cli(
        "report",
        PROMPT,
        "--complaint",
        "Wrong order id",
        "--by",
        "dana",
        "--severity",
        "high",
        "--evidence",
        "tickets/1",
        "--evidence",
        "tickets/2",
        "--repo",
        three,
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert (data["severity"], data["version"], data["evidence"]) == (
        "high",
        "1.2.0",
        ["tickets/1", "tickets/2"],
    )
    bad = run_cli(
        "report", PROMPT, "--complaint", "x", "--by", "d", "--severity", "meh", "--repo", three
    )
    assert bad.exit_code == 2
    assert bad.stderr.startswith(
        "error: unknown severity 'meh'; use one of low, medium, high, critical."
    )


# --------------------------------------------------------------------------- flags


def test_a_flag_quarantines_the_version_and_is_audited(three: Path) -> None:
    rec = flag_version(
        Registry(three), f"{PROMPT}@1.1.0", FlagOptions(reason="leaks emails"), by="auditor"
    )

    assert rec.status is LifecycleState.QUARANTINED
    assert rec.quarantine is not None
    assert (rec.quarantine.source, rec.quarantine.by) == ("audit-flag", "auditor")
    assert Registry(three).record(PROMPT, "1.1.0").quarantine == rec.quarantine
    (entry,) = AuditLog(three).entries(action="flag")
    assert (entry.actor, entry.to_version, entry.reason) == ("auditor", "1.1.0", "leaks emails")
    assert entry.details["serving_in"] == []


def test_a_flagged_version_is_never_the_last_known_good(three: Path) -> None:
    flag_version(
        Registry(three), f"{PROMPT}@1.1.0", FlagOptions(reason="leaks emails"), by="auditor"
    )

    plan = rollback(
        Registry(three), PROMPT, RollbackOptions(reason="r", dry_run=True), by="alice"
    ).plan
    res = run_cli(
        "rollback",
        PROMPT,
        "--dry-run",
        "--reason",
        "r",
        "--authorized-by",
        "alice",
        "--repo",
        three,
    )

    assert plan.target == "1.0.0"
    skipped = {c.version: c.reasons for c in plan.candidates if not c.eligible}
    assert skipped == {"1.1.0": ["quarantined (audit-flag: leaks emails)"]}
    assert res.exit_code == 0, res.stderr
    assert "skip 1.1.0: quarantined (audit-flag: leaks emails)" in res.stdout
    assert "back from 1.2.0 to 1.0.0" in res.stdout


def test_flagging_twice_or_without_a_version_is_refused(three: Path) -> None:
    reg = Registry(three)
    flag_version(reg, f"{PROMPT}@1.1.0", FlagOptions(reason="a"), by="auditor")
    before = snapshot(three)
    with pytest.raises(Conflict, match="already flagged by auditor"):
        flag_version(reg, f"{PROMPT}@1.1.0", FlagOptions(reason="b"), by="other")
    with pytest.raises(InputError, match="name the version"):
        flag_version(reg, PROMPT, FlagOptions(reason="b"), by="other")
    with pytest.raises(InputError, match="a flag needs a reason and the auditor"):
        flag_version(reg, f"{PROMPT}@1.0.0", FlagOptions(reason=" "), by="other")
    assert snapshot(three) == before


def test_a_flag_replaces_a_rollback_quarantine_and_keeps_it_in_the_audit(three: Path) -> None:
    rollback(Registry(three), PROMPT, RollbackOptions(reason="bad"), by="alice")
    assert Registry(three).record(PROMPT, "1.2.0").quarantine.source == "rollback"  # type: ignore[union-attr]
    rec = flag_version(
        Registry(three), f"{PROMPT}@1.2.0", FlagOptions(reason="also PII"), by="auditor"
    )
    assert rec.quarantine is not None and rec.quarantine.source == "audit-flag"
    (entry,) = AuditLog(three).entries(action="flag")
    assert entry.details["replaced_quarantine"]["source"] == "rollback"


def test_only_an_approver_clears_a_quarantine(three: Path) -> None:
    reg = Registry(three)
    flag_version(reg, f"{PROMPT}@1.1.0", FlagOptions(reason="suspicious"), by="auditor")
    before = snapshot(three)
    with pytest.raises(PermissionDenied, match="carol may not clear a quarantine"):
        clear_quarantine(reg, f"{PROMPT}@1.1.0", ClearOptions(reason="fine"), by="carol")
    assert snapshot(three) == before

    rec = clear_quarantine(reg, f"{PROMPT}@1.1.0", ClearOptions(reason="false alarm"), by="alice")

    assert rec.quarantine is None and rec.status is LifecycleState.SUPERSEDED
    (entry,) = AuditLog(three).entries(action="quarantine-clear")
    assert (entry.actor, entry.approvers) == ("alice", ["alice"])
    assert entry.details["cleared"]["source"] == "audit-flag"
    plan = rollback(
        Registry(three), PROMPT, RollbackOptions(reason="r", dry_run=True), by="alice"
    ).plan
    assert plan.target == "1.1.0"
    with pytest.raises(Conflict, match="is not quarantined"):
        clear_quarantine(reg, f"{PROMPT}@1.1.0", ClearOptions(reason="again"), by="alice")


def test_clearing_the_serving_version_makes_it_deployed_again(three: Path) -> None:
    reg = Registry(three)
    flag_version(reg, f"{PROMPT}@prod", FlagOptions(reason="check"), by="auditor")
    assert reg.record(PROMPT, "1.2.0").status is LifecycleState.QUARANTINED
    rec = clear_quarantine(reg, f"{PROMPT}@1.2.0", ClearOptions(reason="reviewed"), by="bob")
    assert rec.status is LifecycleState.DEPLOYED


def test_cli_audit_flag_and_quarantine_clear(three: Path) -> None:
    flagged = run_cli(
        "audit",
        "flag",
        f"{PROMPT}@1.1.0",
        "--reason",
        "odd outputs",
        "--by",
        "auditor",
        "--repo",
        three,
    )
    again = run_cli(
        "audit", "flag", f"{PROMPT}@1.1.0", "--reason", "x", "--by", "auditor", "--repo", three
    )
    denied = run_cli(
        "quarantine", "clear", f"{PROMPT}@1.1.0", "--by", "carol", "--reason", "ok", "--repo", three
    )
    cleared = run_cli(
        "quarantine",
        "clear",
        f"{PROMPT}@1.1.0",
        "--by",
        "alice",
        "--reason",
        "ok",
        "--repo",
        three,
        "--json",
    )

    assert flagged.exit_code == 0, flagged.stderr
    assert flagged.stdout.strip() == "Flagged support-reply@1.1.0: quarantined (odd outputs)."
    assert again.exit_code == 2 and "already flagged" in again.stderr
    assert denied.exit_code == 2 and denied.stderr.startswith(
        "error: carol may not clear a quarantine"
    )
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["quarantine"] is None
