"""Automatic rollback: exactly after k consecutive failing checks, never on insufficient data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptgov import ClearOptions, ComplaintOptions, FlagOptions, Registry
from promptgov.actions.feedback import clear_quarantine, flag_version, report_complaint
from promptgov.actions.monitor import (
    CheckOptions,
    MonitorOptions,
    TriggerReport,
    check_triggers,
    monitor,
    monitor_once,
)
from promptgov.audit import AuditLog
from tests import flows
from tests.conftest import run_proc
from tests.monitor.synth import Traffic, records, write_jsonl
from tests.notify_sink import NotifySink, sink_fixture
from tests.test_triggers import cases, promoted_at, release_imported, set_policy

PROMPT = flows.PROMPT
HEALTHY = Traffic()
BAD = Traffic(model="gpt-4o-mini-2025-01-31")
sink = pytest.fixture(sink_fixture, name="sink")


@pytest.fixture
def two(example_repo: Path) -> Path:
    """prod serves 1.1.0; 1.0.0 is its last known good. Drift rolls back after 3 checks."""
    for version in ("1.0.0", "1.1.0"):
        flows.add_version(example_repo, version)
        flows.release(example_repo, version)
    set_policy(example_repo, {"drift": {"action": "rollback", "consecutive_failures": 3}})
    return example_repo


def windows_log(root: Path, plan: Sequence[Traffic | None]) -> tuple[Path, list[datetime]]:
    """Healthy reference traffic, then one day per entry of ``plan`` (None = no records).

    Returns the log and the check times: check ``i`` sees exactly window ``i``.
    """
    promoted = promoted_at(root)
    rng = np.random.default_rng(11)
    times = [promoted + timedelta(days=10 + i) for i in range(len(plan))]
    parts = [records(300, HEALTHY, rng, start=promoted + timedelta(hours=1), version="1.1.0")]
    for traffic, now in zip(plan, times, strict=True):
        if traffic is not None:
            parts.append(
                records(300, traffic, rng, start=now - timedelta(hours=2), version="1.1.0")
            )
    return write_jsonl(root / "prod.jsonl", chain(*parts)), times


def run_checks(root: Path, log: Path, times: Sequence[datetime], **kw: Any) -> list[TriggerReport]:
    return [
        check_triggers(
            Registry(root), PROMPT, CheckOptions(logs=(log,), at=t, auto_rollback=True, **kw)
        )
        for t in times
    ]


def serving(root: Path) -> str | None:
    return Registry(root).entry(PROMPT).environments["prod"].current


def test_rolls_back_after_exactly_k_bad_windows_and_not_after_k_minus_1(two: Path) -> None:
    log, times = windows_log(two, [BAD, BAD, BAD])
    first, second = run_checks(two, log, times[:2])

    assert [r.result("drift").streak for r in (first, second)] == [1, 2]
    assert serving(two) == "1.1.0"
    assert second.actions[-1].kind == "waiting"
    assert second.actions[-1].detail.startswith("2 of 3 consecutive failing checks")

    (third,) = run_checks(two, log, times[2:])

    assert third.rolled_back
    assert serving(two) == "1.0.0+rollback"
    reg = Registry(two)
    bad = reg.record(PROMPT, "1.1.0")
    assert bad.quarantine is not None and bad.quarantine.source == "rollback"
    assert bad.quarantine.by == "policy:drift"
    (rb,) = reg.entry(PROMPT).rollbacks
    assert (rb.authorized_by, rb.rollback_of, rb.rollback_to) == ("policy:drift", "1.1.0", "1.0.0")
    assert rb.evidence[0] == third.report
    assert rb.evidence[1:] == list(third.result("drift").evidence)
    stored = json.loads((two / str(third.report)).read_text())
    assert stored["fired"] == ["drift"] and stored["triggers"][1]["streak"] == 3

    log_ = AuditLog(two)
    (done,) = log_.entries(action="rollback")
    assert done.actor == "policy:drift" and third.report in done.evidence
    (start,) = log_.entries(action="rollback-start")
    # The policy acted for the prompt's owner, in the rollback's own entries too.
    assert done.on_behalf_of == start.on_behalf_of == "alice@example.com"
    assert third.last_known_good == "1.0.0"
    pending, settled = log_.entries(action="auto-rollback")
    assert (pending.outcome, settled.outcome) == ("pending", "success")
    assert (
        pending.on_behalf_of == settled.on_behalf_of == "alice@example.com"
    )  # the example card's owner
    assert settled.details["pending_seq"] == pending.seq


def test_a_good_window_resets_the_count(two: Path) -> None:
    log, times = windows_log(two, [BAD, BAD, HEALTHY, BAD, BAD])
    reports = run_checks(two, log, times)

    assert [r.result("drift").streak for r in reports] == [1, 2, 0, 1, 2]
    assert serving(two) == "1.1.0"
    resets = [e for e in AuditLog(two).entries(action="trigger") if e.details["reset"]]
    assert [e.details["reset"] for e in resets] == [["drift"]]


def test_insufficient_data_neither_counts_nor_resets(two: Path) -> None:
    log, times = windows_log(two, [BAD, BAD, None, BAD])
    reports = run_checks(two, log, times[:3])

    assert [r.result("drift").status.value for r in reports] == [
        "fired",
        "fired",
        "insufficient_data",
    ]
    assert [r.result("drift").streak for r in reports] == [1, 2, 2]
    assert serving(two) == "1.1.0"

    (last,) = run_checks(two, log, times[3:])
    assert last.result("drift").streak == 3 and last.rolled_back
    assert serving(two) == "1.0.0+rollback"


def test_insufficient_data_never_rolls_back_even_with_k_1(two: Path) -> None:
    set_policy(two, {"drift": {"action": "rollback", "consecutive_failures": 1}})
    log, times = windows_log(two, [None, None])
    reports = run_checks(two, log, times)
    assert all(r.result("drift").status.value == "insufficient_data" for r in reports)
    assert not any(r.actions for r in reports)
    assert serving(two) == "1.1.0"
    assert list(AuditLog(two).entries(action="rollback-start")) == []


def test_without_auto_rollback_a_due_rollback_is_only_reported(two: Path) -> None:
    log, times = windows_log(two, [BAD, BAD, BAD, BAD])
    for t in times[:3]:
        report = check_triggers(Registry(two), PROMPT, CheckOptions(logs=(log,), at=t))
    assert report.actions[-1].kind == "due"
    assert "run 'promptgov monitor --auto-rollback'" in report.actions[-1].detail
    assert serving(two) == "1.1.0"

    (fourth,) = run_checks(two, log, times[3:])
    assert fourth.rolled_back and serving(two) == "1.0.0+rollback"


def test_the_same_eval_run_counts_once(example_repo: Path) -> None:
    release_imported(example_repo, "1.0.0", cases(40))
    release_imported(example_repo, "1.1.0", cases(40))
    set_policy(example_repo, {"eval_regression": {"action": "rollback", "consecutive_failures": 2}})
    flows.import_results(example_repo, "1.1.0", cases(40, failing=10))

    again = [
        check_triggers(Registry(example_repo), PROMPT, CheckOptions(auto_rollback=True))
        for _ in range(3)
    ]
    assert [r.result("eval_regression").streak for r in again] == [1, 1, 1]
    assert serving(example_repo) == "1.1.0"
    # Every check is in the history; only the one that moved the count is audited.
    history = example_repo / "logs/triggers/support-reply/prod/checks.jsonl"
    assert len(history.read_text().splitlines()) == 3
    assert len(list(AuditLog(example_repo).entries(action="trigger"))) == 1

    flows.import_results(example_repo, "1.1.0", cases(40, failing=12))
    report = check_triggers(Registry(example_repo), PROMPT, CheckOptions(auto_rollback=True))

    assert report.result("eval_regression").streak == 2
    assert report.rolled_back and serving(example_repo) == "1.0.0+rollback"
    (rb,) = Registry(example_repo).entry(PROMPT).rollbacks
    assert rb.authorized_by == "policy:eval_regression"


def test_a_failed_automatic_rollback_is_recorded_once(example_repo: Path) -> None:
    flows.add_version(example_repo, "1.0.0")
    flows.release(example_repo, "1.0.0")
    set_policy(example_repo, {"complaints": {"action": "rollback", "consecutive_failures": 1}})
    report_complaint(
        Registry(example_repo),
        PROMPT,
        ComplaintOptions(complaint="harmful", severity="critical"),
        by="u",
    )

    first = check_triggers(Registry(example_repo), PROMPT, CheckOptions(auto_rollback=True))
    second = check_triggers(Registry(example_repo), PROMPT, CheckOptions(auto_rollback=True))

    (failed,) = [a for a in first.actions if a.kind == "rollback"]
    assert not failed.ok and "no last known good version" in failed.detail
    assert not [a for a in second.actions if a.kind == "rollback"]
    outcomes = [e.outcome for e in AuditLog(example_repo).entries(action="auto-rollback")]
    assert outcomes == ["pending", "failure"]
    assert serving(example_repo) == "1.0.0"


def test_a_trigger_is_announced_once_per_run_of_failures(two: Path, sink: NotifySink) -> None:
    flows.set_notifications(two, sink.json_url("/ops"), events=["trigger"])
    reg = Registry(two)
    flag_version(reg, f"{PROMPT}@1.1.0", FlagOptions(reason="PII"), by="auditor")
    check_triggers(reg, PROMPT)
    check_triggers(reg, PROMPT)
    clear_quarantine(reg, f"{PROMPT}@1.1.0", ClearOptions(reason="false alarm"), by="alice")
    check_triggers(reg, PROMPT)
    flag_version(reg, f"{PROMPT}@1.1.0", FlagOptions(reason="PII again"), by="auditor")
    check_triggers(reg, PROMPT)

    got = sink.requests_to("/ops")
    assert len(got) == 2
    assert [g.json["title"] for g in got] == ["Rollback trigger: support-reply in prod"] * 2
    assert "audit_flags: 1.1.0 flagged by auditor: PII" in got[0].json["message"]
    assert "PII again" in got[1].json["message"]


def test_a_drift_alert_names_the_model_change_and_the_last_known_good(
    two: Path, sink: NotifySink
) -> None:
    flows.set_notifications(two, sink.json_url("/ops"), events=["trigger"])
    log, times = windows_log(two, [BAD])
    (report,) = run_checks(two, log, times)

    drift = report.result("drift")
    change = "gpt-4o-mini-2024-07-18 → gpt-4o-mini-2025-01-31"
    assert drift.summary.startswith(f"model {change}; ")
    assert drift.details["models"] == {
        "reference": {"gpt-4o-mini-2024-07-18": 300},
        "recent": {"gpt-4o-mini-2025-01-31": 300},
    }
    assert report.last_known_good == "1.0.0"
    (got,) = sink.requests_to("/ops")
    lines = got.json["message"].splitlines()
    assert lines[0].endswith("serving `1.1.0`. Last known good: `1.0.0`.")
    assert lines[2] == f"- Model change: {change}"


def test_an_alert_without_a_last_known_good_says_why(example_repo: Path, sink: NotifySink) -> None:
    flows.add_version(example_repo, "1.0.0")
    flows.release(example_repo, "1.0.0")
    flows.set_notifications(example_repo, sink.json_url("/ops"), events=["trigger"])
    reg = Registry(example_repo)
    flag_version(reg, f"{PROMPT}@1.0.0", FlagOptions(reason="PII"), by="auditor")
    report = check_triggers(reg, PROMPT)

    assert report.last_known_good is None
    assert report.no_last_known_good is not None
    assert "no last known good version" in report.no_last_known_good
    (got,) = sink.requests_to("/ops")
    (fact,) = [x for x in got.json["message"].splitlines() if x.startswith("- Last known good:")]
    assert fact.startswith("- Last known good: none (prod has no last known good version")
    assert "promptgov rollback" not in fact  # advice for people at a terminal stays there


def test_monitor_once_checks_every_deployed_prompt_and_survives_errors(two: Path) -> None:
    (items_ok,) = monitor_once(Registry(two))
    state = two / "logs/triggers/support-reply/prod/state.json"
    state.write_text("{broken")
    (items_bad,) = monitor_once(Registry(two))

    assert items_ok.report is not None and items_ok.error is None
    assert items_bad.report is None
    assert items_bad.error is not None and "is not a trigger state file" in items_bad.error


def test_monitor_runs_its_cycles_on_the_interval(two: Path) -> None:
    slept: list[float] = []
    seen: list[int] = []
    done = monitor(
        Registry(two),
        interval="2m",
        cycles=3,
        sleep=slept.append,
        on_cycle=lambda i: seen.append(len(i)),
    )
    assert done.cycles == 3 and seen == [1, 1, 1]
    assert len(slept) == 2 and all(110 < s <= 120 for s in slept)


def test_monitor_with_run_evals_records_scheduled_runs(two: Path) -> None:
    (item,) = monitor_once(Registry(two), MonitorOptions(run_evals=True))
    runs = Registry(two).record(PROMPT, "1.1.0").eval_runs
    assert runs[-1].scheduled and runs[-1].run_id == item.eval_run
    assert item.report is not None
    assert item.report.result("failing_tests").status.value == "not_fired"


def test_monitor_cli_in_real_processes_rolls_back_on_the_third_bad_window(two: Path) -> None:
    log, times = windows_log(two, [BAD, BAD, BAD])
    codes, outs = [], []
    for t in times:
        proc = run_proc(
            "monitor",
            "--once",
            "--auto-rollback",
            "--logs",
            log,
            "--at",
            t.isoformat(),
            "--repo",
            two,
            "--json",
        )
        codes.append(proc.returncode)
        outs.append(json.loads(proc.stdout))
        if t != times[-1]:
            assert serving(two) == "1.1.0", proc.stderr
    assert codes == [1, 1, 1]
    assert [o[0]["report"]["triggers"][1]["streak"] for o in outs] == [1, 2, 3]
    assert serving(two) == "1.0.0+rollback"
    interval = run_proc("monitor", "--interval", "never", "--once", "--repo", two)
    assert interval.returncode == 2
    assert interval.stderr.startswith("error: interval: 'never' is not a duration")


def test_an_automatic_rollback_commits_its_settling_entry(two: Path) -> None:
    flows.git_init(two)
    log, times = windows_log(two, [BAD, BAD, BAD])
    *_, third = run_checks(two, log, times)

    assert third.rolled_back
    settled = list(AuditLog(two).entries(action="auto-rollback"))[-1]
    message = flows.git(two, "log", "-1", "--format=%B")
    assert f"Promptgov-Audit-Seq: {settled.seq}" in message
    assert flows.git(two, "status", "--porcelain", "--", "audit") == ""
