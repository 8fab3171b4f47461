"""The five rollback triggers on real repositories, each on both sides of its threshold."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptgov import AddOptions, ComplaintOptions, FlagOptions, Registry, add
from promptgov.actions.evaluate import record_run
from promptgov.actions.feedback import flag_version, report_complaint
from promptgov.actions.monitor import CheckOptions, TriggerReport, TriggerStatus, check_triggers
from tests import flows
from tests.conftest import run_cli, snapshot
from tests.monitor.synth import Traffic, records, write_jsonl

PROMPT = flows.PROMPT
HEALTHY = Traffic()
FIRED, NOT_FIRED, INSUFFICIENT = (
    TriggerStatus.FIRED,
    TriggerStatus.NOT_FIRED,
    TriggerStatus.INSUFFICIENT_DATA,
)


# --------------------------------------------------------------------------- helpers


def v3(rows: Iterable[tuple[bool, float | None, float | None]]) -> dict[str, Any]:
    """promptfoo v3 output with one result per (success, cost, accuracy score)."""
    results = []
    rows = list(rows)
    for i, (ok, cost, score) in enumerate(rows):
        results.append(
            {
                "promptIdx": 0,
                "testCase": {"description": f"case {i}"},
                "vars": {"i": i},
                "success": ok,
                "score": 1.0 if ok else 0.0,
                "namedScores": {} if score is None else {"accuracy": score},
                "cost": cost,
                "latencyMs": 12,
                "provider": {"id": "file://model_stub.py"},
                "gradingResult": {"pass": ok, "componentResults": []},
            }
        )
    ok_n = sum(ok for ok, _, _ in rows)
    stats = {"successes": ok_n, "failures": len(rows) - ok_n, "errors": 0}
    return {"results": {"results": results, "stats": stats}}


def cases(
    n: int, *, failing: int = 0, cost: float = 0.001, score: float | None = 1.0
) -> dict[str, Any]:
    """``n`` results, the last ``failing`` of them failed; costs vary a little, as real ones do."""
    return v3((i < n - failing, cost * (1 + (i % 7) / 100), score) for i in range(n))


def release_imported(root: Path, version: str, results: dict[str, Any]) -> None:
    """Register ``version`` with ``results`` as its eval run and promote it to prod."""
    flows.add_version(root, version)
    flows.import_results(root, version, results)
    flows.release(root, version, evaluate_first=False)


def set_policy(root: Path, triggers: dict[str, Any]) -> None:
    """Replace the ``triggers:`` section of promptgov.yml."""
    flows.configure(root, lambda doc: doc.__setitem__("triggers", triggers))


def promoted_at(root: Path, env: str = "prod") -> datetime:
    """When ``env`` started serving its current version."""
    return Registry(root).entry(PROMPT).environments[env].history[-1].at


def check(root: Path, **kw: Any) -> TriggerReport:
    """Run every trigger on the example prompt in prod."""
    return check_triggers(Registry(root), PROMPT, CheckOptions(**kw))


def drift_log(
    path: Path,
    promoted: datetime,
    now: datetime,
    *,
    recent: Traffic = HEALTHY,
    n: int = 500,
    version: str = "1.0.0",
    seed: int = 7,
) -> Path:
    """Healthy reference traffic after promotion, then ``recent`` traffic in the last hours."""
    rng = np.random.default_rng(seed)
    return write_jsonl(
        path,
        chain(
            records(n, HEALTHY, rng, start=promoted + timedelta(hours=1), version=version),
            records(n, recent, rng, start=now - timedelta(hours=2), version=version),
        ),
    )


@pytest.fixture
def serving(example_repo: Path) -> Path:
    """prod serves support-reply@1.0.0, released on 40 passing results (the baseline run)."""
    release_imported(example_repo, "1.0.0", cases(40))
    return example_repo


# --------------------------------------------------------------------------- eval regression


@pytest.mark.parametrize(
    ("current", "expected", "check_name"),
    [
        (cases(40, failing=10), FIRED, "pass_rate_drop"),  # 25 points, p ≈ 6e-4
        (cases(40, failing=1), NOT_FIRED, "pass_rate_drop"),  # 2.5 points < 5
        (cases(40, failing=2), NOT_FIRED, "pass_rate_drop"),  # 5 points but p ≈ 0.25
        (cases(40, cost=0.002), FIRED, "cost_ratio"),  # × 2.0 ≥ 1.5
        (cases(40, cost=0.0014), NOT_FIRED, "cost_ratio"),  # × 1.4 < 1.5
        (cases(40, score=0.8), FIRED, "metric_drop:accuracy"),  # drop 0.2 ≥ 0.1
        (cases(40, score=0.95), NOT_FIRED, "metric_drop:accuracy"),  # drop 0.05 < 0.1
        (cases(10, failing=10), INSUFFICIENT, "pass_rate_drop"),  # 10 < min_samples 20
    ],
)
def test_eval_regression_on_each_side_of_its_thresholds(
    serving: Path, current: dict[str, Any], expected: TriggerStatus, check_name: str
) -> None:
    run_id = flows.import_results(serving, "1.0.0", current)
    result = check(serving).result("eval_regression")

    assert result.status is expected
    sub = {c["name"]: c for c in result.details["checks"]}[check_name]
    assert sub["status"] == expected
    assert result.details["current_run"] == run_id
    assert result.observation == run_id
    assert result.samples["baseline"] == 40


def test_eval_regression_compares_with_the_run_that_passed_the_prod_gate(serving: Path) -> None:
    reg = Registry(serving)
    rec = reg.record(PROMPT, "1.0.0")
    gate_run = next(g.run_id for g in rec.gate_results if g.env == "prod")
    flows.import_results(serving, "1.0.0", cases(40, failing=10))
    later = flows.import_results(serving, "1.0.0", cases(40, failing=10))

    result = check(serving).result("eval_regression")

    assert result.details["baseline_run"] == gate_run
    assert result.details["current_run"] == later
    assert result.status is FIRED


def test_eval_regression_with_one_run_only_is_insufficient(serving: Path) -> None:
    result = check(serving).result("eval_regression")
    assert result.status is INSUFFICIENT
    assert "only one eval run" in result.summary


def test_eval_regression_thresholds_come_from_the_policy(serving: Path) -> None:
    set_policy(serving, {"eval_regression": {"thresholds": {"pass_rate_drop": 0.3}}})
    flows.import_results(serving, "1.0.0", cases(40, failing=10))  # 25 points < 30
    result = check(serving).result("eval_regression")
    assert result.status is NOT_FIRED
    assert result.thresholds["pass_rate_drop"] == 0.3
    assert result.measured["pass_rate_drop"] == pytest.approx(0.25)


# --------------------------------------------------------------------------- drift


def test_drift_not_fired_on_healthy_traffic_and_fired_on_a_new_model(serving: Path) -> None:
    now = promoted_at(serving) + timedelta(days=10)
    healthy = drift_log(serving / "healthy.jsonl", promoted_at(serving), now)
    changed = drift_log(
        serving / "changed.jsonl",
        promoted_at(serving),
        now,
        recent=Traffic(model="gpt-4o-mini-2025-01-31"),
    )

    calm = check(serving, logs=(healthy,), at=now).result("drift")
    alarm = check(serving, logs=(changed,), at=now).result("drift")

    assert calm.status is NOT_FIRED
    assert calm.samples["reference"] == calm.samples["recent"] == 500
    assert alarm.status is FIRED
    assert "model_id" in alarm.details["fired"]
    assert alarm.details["model_changes"] == ["gpt-4o-mini-2024-07-18 → gpt-4o-mini-2025-01-31"]


def test_drift_fires_on_a_refusal_rate_jump(serving: Path) -> None:
    now = promoted_at(serving) + timedelta(days=10)
    log = drift_log(
        serving / "p.jsonl", promoted_at(serving), now, recent=Traffic(refusal_rate=0.10)
    )
    result = check(serving, logs=(log,), at=now).result("drift")
    assert result.status is FIRED
    assert result.measured["refusal_rate"]["status"] == "fired"


def test_drift_below_min_samples_is_insufficient_data(serving: Path) -> None:
    now = promoted_at(serving) + timedelta(days=10)
    log = drift_log(
        serving / "few.jsonl", promoted_at(serving), now, n=199, recent=Traffic(model="other-model")
    )
    result = check(serving, logs=(log,), at=now).result("drift")
    assert result.status is INSUFFICIENT
    assert result.samples == {"reference": 199, "recent": 199, "min_samples": 200}


def test_drift_window_option_narrows_the_recent_window(serving: Path) -> None:
    now = promoted_at(serving) + timedelta(days=10)
    log = drift_log(serving / "w.jsonl", promoted_at(serving), now)
    # The recent records sit 2 h before now: a 1 h window holds none of them.
    result = check(serving, logs=(log,), at=now, window="1h").result("drift")
    assert result.status is INSUFFICIENT
    assert result.samples["recent"] == 0
    assert result.details["recent_window"]["length"] == "1h"


def test_records_of_other_prompts_and_versions_are_kept_out(serving: Path) -> None:
    promoted = promoted_at(serving)
    now = promoted + timedelta(days=10)
    rng = np.random.default_rng(3)
    shifted = Traffic(model="new-model", refusal_rate=0.5, length_scale=3.0)
    log = write_jsonl(
        serving / "mixed.jsonl",
        chain(
            records(400, Traffic(), rng, start=promoted + timedelta(hours=1)),
            records(400, Traffic(), rng, start=now - timedelta(hours=2)),
            records(300, shifted, rng, start=now - timedelta(hours=1), version="0.9.0"),
            records(200, shifted, rng, start=now - timedelta(hours=1), prompt="other-prompt"),
        ),
    )
    result = check(serving, logs=(log,), at=now).result("drift")

    assert result.status is NOT_FIRED
    assert result.samples["recent"] == 400
    assert result.details["logs"]["skipped_other"] == {
        "support-reply@0.9.0": 300,
        "other-prompt@1.0.0": 200,
    }


def test_malformed_truncated_and_empty_logs_are_counted_never_fatal(serving: Path) -> None:
    promoted = promoted_at(serving)
    now = promoted + timedelta(days=10)
    good = drift_log(serving / "good.jsonl", promoted, now)
    lines = good.read_text().splitlines()
    lines.insert(3, "{not json")
    lines.insert(10, json.dumps({"prompt": PROMPT, "version": "1.0.0"}))  # no time
    lines.append(lines[-1][:40])  # truncated last line
    bad = serving / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    empty = serving / "empty.jsonl"
    empty.write_bytes(b"")

    report = check(
        serving,
        logs=(
            bad,
            empty,
        ),
        at=now,
    )
    result = report.result("drift")

    assert result.status is NOT_FIRED
    assert result.details["logs"]["malformed_count"] == 3
    assert [m["line"] for m in result.details["logs"]["malformed"]] == [4, 11, 1003]
    assert result.samples["reference"] == result.samples["recent"] == 500


def test_drift_evidence_is_written_as_json_and_markdown(serving: Path) -> None:
    now = promoted_at(serving) + timedelta(days=10)
    log = drift_log(serving / "e.jsonl", promoted_at(serving), now, recent=Traffic(cost_scale=1.5))
    report = check(serving, logs=(log,), at=now)
    result = report.result("drift")

    json_file, md_file = result.evidence
    assert json_file.startswith("logs/triggers/support-reply/prod/")
    assert json_file.endswith("-1.0.0-drift.json") and md_file.endswith("-1.0.0-drift.md")
    drift = json.loads((serving / json_file).read_text())
    assert drift["status"] == "fired" and "cost" in drift["fired"]
    assert "| cost | fired |" in (serving / md_file).read_text()
    stored = json.loads((serving / str(report.report)).read_text())
    assert stored["triggers"][1]["trigger"] == "drift"
    assert stored["triggers"][1]["evidence"] == [json_file, md_file]


def test_drift_without_logs_is_insufficient_data(serving: Path) -> None:
    (serving / "logs/log-sample.output.json").unlink()
    result = check(serving).result("drift")
    assert result.status is INSUFFICIENT
    assert "no production logs" in result.summary


# --------------------------------------------------------------------------- failing tests


def _scheduled(root: Path, version: str, results: dict[str, Any]) -> str:
    reg = Registry(root)
    v = reg.get(f"{PROMPT}@{version}")
    return record_run(
        reg, v, results, suite=v.card.eval_suite, by="cron", scheduled=True
    ).run.run_id


def test_failing_tests_without_a_scheduled_run_is_insufficient(serving: Path) -> None:
    result = check(serving).result("failing_tests")
    assert result.status is INSUFFICIENT
    assert "no scheduled re-run" in result.summary


def test_failing_tests_fires_when_the_scheduled_rerun_fails_the_gate(serving: Path) -> None:
    run_id = _scheduled(serving, "1.0.0", cases(40, failing=1))
    result = check(serving).result("failing_tests")
    assert result.status is FIRED
    assert result.observation == run_id
    assert result.measured["pass rate"] == pytest.approx(39 / 40)
    assert result.thresholds["pass rate"] == 1.0


def test_failing_tests_not_fired_when_the_real_rerun_passes(serving: Path) -> None:
    from promptgov.actions.evaluate import run_version_eval

    run_version_eval(Registry(serving), f"{PROMPT}@prod", by="cron", scheduled=True)
    result = check(serving).result("failing_tests")
    assert result.status is NOT_FIRED
    assert result.samples == {"results": 6}


def test_failing_tests_min_samples_applies_when_set(serving: Path) -> None:
    set_policy(serving, {"failing_tests": {"min_samples": 10}})
    _scheduled(serving, "1.0.0", cases(6, failing=6))
    result = check(serving).result("failing_tests")
    assert result.status is INSUFFICIENT


def test_an_old_scheduled_run_is_insufficient_with_a_window(serving: Path) -> None:
    set_policy(serving, {"failing_tests": {"window": "1d"}})
    _scheduled(serving, "1.0.0", cases(40, failing=5))
    result = check(serving, at=promoted_at(serving) + timedelta(days=3)).result("failing_tests")
    assert result.status is INSUFFICIENT
    assert "older than 1d" in result.summary


# --------------------------------------------------------------------------- complaints


def test_complaints_fire_on_count_or_on_severity(serving: Path) -> None:
    set_policy(serving, {"complaints": {"count": 2, "severity": "high"}})
    reg = Registry(serving)
    report_complaint(reg, PROMPT, ComplaintOptions(complaint="rude tone", severity="low"), by="u1")
    one = check(serving).result("complaints")
    report_complaint(
        reg, PROMPT, ComplaintOptions(complaint="wrong order id", severity="medium"), by="u2"
    )
    two = check(serving).result("complaints")

    assert one.status is NOT_FIRED and one.measured["count"] == 1
    assert two.status is FIRED and two.measured["count"] == 2


def test_one_severe_complaint_fires(serving: Path) -> None:
    set_policy(serving, {"complaints": {"count": 5, "severity": "high"}})
    report_complaint(
        Registry(serving),
        PROMPT,
        ComplaintOptions(complaint="promised a refund", severity="high"),
        by="legal",
    )
    result = check(serving).result("complaints")
    assert result.status is FIRED
    assert result.measured == {"count": 1, "worst_severity": "high"}


def test_complaints_outside_the_window_do_not_count(serving: Path) -> None:
    report_complaint(
        Registry(serving),
        PROMPT,
        ComplaintOptions(complaint="harmful", severity="critical"),
        by="u",
    )
    later = check(serving, at=promoted_at(serving) + timedelta(days=8)).result("complaints")
    assert later.status is NOT_FIRED
    assert later.measured["count"] == 0


def test_complaints_about_an_earlier_version_are_not_counted(serving: Path) -> None:
    report_complaint(
        Registry(serving),
        PROMPT,
        ComplaintOptions(complaint="harmful", severity="critical"),
        by="u",
    )
    flows.add_version(serving, "1.1.0")
    flows.release(serving, "1.1.0")
    result = check(serving).result("complaints")
    assert result.status is NOT_FIRED


# --------------------------------------------------------------------------- audit flags


def test_a_flagged_serving_version_fires(serving: Path) -> None:
    before = check(serving).result("audit_flags")
    flag_version(
        Registry(serving), f"{PROMPT}@1.0.0", FlagOptions(reason="PII in outputs"), by="auditor"
    )
    after = check(serving).result("audit_flags")

    assert before.status is NOT_FIRED
    assert after.status is FIRED
    assert after.details["flags"][0]["reason"] == "PII in outputs"


def test_a_disabled_trigger_is_reported_as_disabled(serving: Path) -> None:
    set_policy(serving, {"audit_flags": {"enabled": False}, "drift": {"enabled": False}})
    flag_version(Registry(serving), f"{PROMPT}@1.0.0", FlagOptions(reason="anomaly"), by="auditor")
    report = check(serving)
    assert report.result("audit_flags").status is TriggerStatus.DISABLED
    assert report.result("drift").status is TriggerStatus.DISABLED
    assert report.status is not FIRED


# --------------------------------------------------------------------------- report & record


def test_a_check_writes_its_report_state_and_history(serving: Path) -> None:
    flag_version(Registry(serving), f"{PROMPT}@1.0.0", FlagOptions(reason="anomaly"), by="auditor")
    report = check(serving)

    base = serving / "logs/triggers/support-reply/prod"
    stored = json.loads((serving / str(report.report)).read_text())
    assert stored["fired"] == ["audit_flags"] and stored["version"] == "1.0.0"
    state = json.loads((base / "state.json").read_text())
    assert state["triggers"]["audit_flags"]["streak"] == 1
    (line,) = (base / "checks.jsonl").read_text().splitlines()
    assert json.loads(line)["statuses"]["audit_flags"] == "fired"
    from promptgov.audit import AuditLog

    (entry,) = AuditLog(serving).entries(action="trigger")
    assert entry.evidence[0] == report.report
    assert entry.details["streaks"]["audit_flags"] == 1


def test_dry_run_writes_nothing(serving: Path) -> None:
    flag_version(Registry(serving), f"{PROMPT}@1.0.0", FlagOptions(reason="anomaly"), by="auditor")
    before = snapshot(serving)
    report = check(serving, dry_run=True)
    assert report.status is FIRED and report.report is None
    assert snapshot(serving) == before


# --------------------------------------------------------------------------- CLI


def test_cli_exit_codes_and_json(serving: Path) -> None:
    calm = run_cli("triggers", PROMPT, "--repo", serving, "--json")
    flag_version(Registry(serving), f"{PROMPT}@1.0.0", FlagOptions(reason="anomaly"), by="auditor")
    fired = run_cli("triggers", PROMPT, "--repo", serving)

    assert calm.exit_code == 0, calm.stderr
    data = json.loads(calm.stdout)
    assert [t["trigger"] for t in data["triggers"]] == [
        "eval_regression",
        "drift",
        "failing_tests",
        "complaints",
        "audit_flags",
    ]
    # The example's own log sample is read by default: its 20 records are 1.0.0's.
    assert data["triggers"][1]["details"]["logs"]["accepted"] == 20
    assert fired.exit_code == 1
    assert "fired" in fired.stdout and "audit_flags [1 of 1 in a row]" in fired.stdout
    assert "Trigger report: logs/triggers/support-reply/prod/" in fired.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "soon"], "error: window: 'soon' is not a duration"),
        (["--logs", "missing.jsonl"], "error: log file missing.jsonl does not exist"),
        (["--env", "qa"], "error: unknown environment 'qa'"),
        (["--at", "yesterday"], "error: --at 'yesterday' is not a time"),
    ],
)
def test_cli_bad_input_is_one_line_and_changes_nothing(
    serving: Path, args: list[str], message: str
) -> None:
    before = snapshot(serving)
    res = run_cli("triggers", PROMPT, "--repo", serving, *args)
    assert res.exit_code == 2
    assert res.stderr.startswith(message)
    assert len(res.stderr.strip().splitlines()) <= 2
    assert snapshot(serving) == before


def test_cli_reports_a_bad_policy_by_its_path(serving: Path) -> None:
    # edited by hand: a policy proposal refuses a bad policy, so a check meets it unapproved
    flows.edit_config(serving, lambda doc: doc.__setitem__("triggers", {"drift": {"alpha": 2}}))
    res = run_cli("triggers", PROMPT, "--repo", serving)
    assert res.exit_code == 2
    assert "promptgov.yml: triggers.drift.alpha" in res.stderr


def test_cli_on_a_prompt_not_deployed(example_repo: Path) -> None:
    add(Registry(example_repo), PROMPT, AddOptions(message="first"), by="carol")
    res = run_cli("triggers", PROMPT, "--repo", example_repo)
    assert res.exit_code == 2
    assert "support-reply is not deployed to prod" in res.stderr


# --------------------------------------------------------------------------- small suites, windows


def test_eval_regression_compares_an_ordinary_nine_test_suite(example_repo: Path) -> None:
    release_imported(example_repo, "1.0.0", cases(9))
    flows.import_results(example_repo, "1.0.0", cases(9, failing=9))
    result = check(example_repo).result("eval_regression")

    assert result.status is FIRED  # 9 of 9 → 0 of 9: p ≈ 2e-5
    assert result.samples["min_samples"] == 9  # the whole suite, not the 20 of a large one


def test_eval_regression_says_what_a_too_small_suite_needs(example_repo: Path) -> None:
    release_imported(example_repo, "1.0.0", cases(2))
    flows.import_results(example_repo, "1.0.0", cases(2, failing=2))
    result = check(example_repo).result("eval_regression")

    assert result.status is INSUFFICIENT
    assert result.summary.endswith(
        "the suite has 2 tests, and a pass-rate drop can be significant at alpha 0.05 only "
        "with at least 3 tests on each side"
    )


def test_eval_regression_min_samples_set_in_the_policy_wins(example_repo: Path) -> None:
    set_policy(example_repo, {"eval_regression": {"min_samples": 20}})
    release_imported(example_repo, "1.0.0", cases(9))
    flows.import_results(example_repo, "1.0.0", cases(9, failing=9))
    result = check(example_repo).result("eval_regression")
    assert result.status is INSUFFICIENT and result.samples["min_samples"] == 20


def test_drift_says_when_records_fell_outside_the_windows_and_suggests_one(
    serving: Path,
) -> None:
    promoted = promoted_at(serving)
    now = promoted + timedelta(days=10)
    rng = np.random.default_rng(3)
    log = write_jsonl(
        serving / "old.jsonl",
        records(400, HEALTHY, rng, start=now - timedelta(days=3), version="1.0.0"),
    )
    result = check(serving, logs=(log,), at=now).result("drift")

    assert result.status is INSUFFICIENT
    assert "(0 reference / 0 recent records)" in result.summary
    assert "400 of 400 records read for this version fell outside both windows" in result.summary
    suggested = result.details["suggested_window"]
    assert suggested == "72h" or suggested.endswith("d")
    assert f"a recent window of {suggested} would hold 400 of them" in result.summary
    widened = check(serving, logs=(log,), at=now, window=suggested).result("drift")
    assert widened.samples["recent"] == 400
