"""Gate verdicts, approvals and promotions: every refusal changes nothing and says why."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptgov import ApproveOptions, GateOptions, PromoteOptions, RollbackOptions
from promptgov.actions.approve import approve
from promptgov.actions.gate import check_gate
from promptgov.actions.promote import promote
from promptgov.actions.rollback import rollback
from promptgov.actions.verify import verify
from promptgov.audit import AuditLog
from promptgov.model import GateVerdict, LifecycleState, MoveKind

from .. import flows
from ..conftest import run_cli, snapshot
from ..flows import PROMPT, add_version, evaluate, registry, release

REF = f"{PROMPT}@1.0.0"


@pytest.fixture
def evaluated_repo(example_repo: Path) -> Path:
    """support-reply@1.0.0 (author carol) registered and evaluated, nowhere deployed."""
    add_version(example_repo, "1.0.0")
    evaluate(example_repo, "1.0.0")
    return example_repo


def refused(root: Path, *args: str, code: int) -> str:
    """Run a CLI command that must be refused; assert nothing changed; return its message."""
    before = snapshot(root)
    res = run_cli(*args, "--repo", root)
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert snapshot(root) == before
    message = res.stderr.strip()
    assert message.startswith("error: ")
    return " ".join(message.split())


def _append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def edit_gate_file(root: Path, edit: Any) -> None:
    def write(root: Path) -> None:
        path = root / "ci/eval-gate.yml"
        doc = yaml.safe_load(path.read_text())
        edit(doc)
        path.write_text(yaml.safe_dump(doc))

    flows.change_policy(root, write)


# --------------------------------------------------------------------------- gate command


def test_gate_command_records_verdict_and_exit_codes(evaluated_repo: Path) -> None:
    root = evaluated_repo
    res = run_cli("gate", REF, "--env", "dev", "--repo", root, "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["verdict"] == "pass"
    rec = registry(root).record(PROMPT, "1.0.0")
    assert [(g.env, g.verdict) for g in rec.gate_results] == [("dev", GateVerdict.PASS)]
    assert rec.gate_results[0].run_id == rec.eval_runs[0].run_id
    assert rec.status is LifecycleState.EVALUATED_PASSED

    add_version(root, "1.1.0", remove=[flows.SAFETY_LINE])
    evaluate(root, "1.1.0")
    res = run_cli("gate", f"{PROMPT}@1.1.0", "--env", "dev", "--repo", root)
    assert res.exit_code == 1
    assert "FAIL" in res.stdout
    assert registry(root).record(PROMPT, "1.1.0").status is LifecycleState.EVALUATED_FAILED

    edit_gate_file(
        root, lambda d: d["environments"].setdefault("staging", {}).update(min_results=10)
    )
    res = run_cli("gate", REF, "--env", "staging", "--repo", root)
    assert res.exit_code == 3
    assert "INCONCLUSIVE" in res.stdout


def test_gate_compares_with_the_version_in_the_environment(evaluated_repo: Path) -> None:
    root = evaluated_repo
    release(root, "1.0.0", ["dev"], evaluate_first=False)
    add_version(root, "1.1.0", remove=[flows.EMPATHY_LINE])
    evaluate(root, "1.1.0")
    report = check_gate(registry(root), f"{PROMPT}@1.1.0", GateOptions(env="dev"))
    assert report.baseline_label is not None and report.baseline_label.startswith("1.0.0 (run ")
    # the stub stops apologizing: every test now fails its empathy assertion
    assert sorted(report.newly_failing) == sorted(
        [
            "late delivery",
            "damaged item",
            "wrong size",
            "refund request",
            "missing item",
            "double charge",
        ]
    )
    assert report.verdict is GateVerdict.FAIL


def test_gate_without_eval_run_is_an_input_error(example_repo: Path) -> None:
    add_version(example_repo, "1.0.0")
    msg = refused(example_repo, "gate", REF, "--env", "dev", code=2)
    assert (
        "support-reply@1.0.0 has no eval run on the current evals/eval-config.promptfoo.yml; "
        "evaluate it first. Run 'promptgov eval support-reply@1.0.0'." in msg
    )


# --------------------------------------------------------------------------- refusals


def test_promote_without_eval_is_refused(example_repo: Path) -> None:
    add_version(example_repo, "1.0.0")
    msg = refused(
        example_repo, "promote", REF, "--to", "dev", "--by", "alice", "--reason", "r", code=1
    )
    assert (
        "cannot promote support-reply@1.0.0 to dev: it has no gate verdict for dev "
        "(evaluate it, then run its gate for dev). "
        "Run 'promptgov eval' then 'promptgov gate --env dev'." in msg
    )


def test_promote_with_failed_gate_is_refused(example_repo: Path) -> None:
    add_version(example_repo, "1.0.0", remove=[flows.SAFETY_LINE])
    evaluate(example_repo, "1.0.0")
    assert (
        check_gate(registry(example_repo), REF, GateOptions(env="dev")).verdict is GateVerdict.FAIL
    )
    msg = refused(
        example_repo, "promote", REF, "--to", "dev", "--by", "alice", "--reason", "r", code=1
    )
    assert "cannot promote support-reply@1.0.0 to dev: its gate verdict for dev is fail." in msg


def test_promote_after_gate_file_changed_is_refused(evaluated_repo: Path) -> None:
    root = evaluated_repo
    check_gate(registry(root), REF, GateOptions(env="dev"))
    flows.change_policy(root, lambda r: _append(r / "ci/eval-gate.yml", "# tightened later\n"))
    msg = refused(root, "promote", REF, "--to", "dev", "--by", "alice", "--reason", "r", code=1)
    assert (
        "ci/eval-gate.yml changed since its gate verdict; run its gate for dev again. "
        "Re-run 'promptgov gate --env dev'." in msg
    )
    # a fresh verdict under the new file lets it through
    check_gate(registry(root), REF, GateOptions(env="dev"))
    assert (
        promote(registry(root), REF, PromoteOptions(to="dev", reason="r"), by="alice").move.version
        == "1.0.0"
    )


def test_promote_without_required_approval_is_refused(evaluated_repo: Path) -> None:
    root = evaluated_repo
    release(root, "1.0.0", ["dev"], evaluate_first=False)
    check_gate(registry(root), REF, GateOptions(env="staging"))
    msg = refused(root, "promote", REF, "--to", "staging", "--by", "alice", "--reason", "r", code=1)
    assert (
        "cannot promote support-reply@1.0.0 to staging: it needs 1 approval(s) for staging, has 0."
        in msg
    )


def test_self_approval_is_refused(evaluated_repo: Path) -> None:
    msg = refused(evaluated_repo, "approve", REF, "--env", "staging", "--by", "carol", code=2)
    assert (
        "carol wrote support-reply@1.0.0 and may not approve it for staging "
        "(separation of duties); ask another approver." in msg
    )


def test_approver_not_allowed_is_refused(evaluated_repo: Path) -> None:
    msg = refused(evaluated_repo, "approve", REF, "--env", "prod", "--by", "dave", code=2)
    assert "dave may not approve for prod; allowed: @release-managers (see promptgov.yml)." in msg


def test_double_approval_is_refused(evaluated_repo: Path) -> None:
    approve(registry(evaluated_repo), REF, ApproveOptions(env="prod"), by="bob")
    msg = refused(evaluated_repo, "approve", REF, "--env", "prod", "--by", "bob", code=2)
    assert "bob already approved support-reply@1.0.0 for prod." in msg


def test_skipping_an_environment_is_refused(evaluated_repo: Path) -> None:
    root = evaluated_repo
    release(root, "1.0.0", ["dev"], evaluate_first=False)
    check_gate(registry(root), REF, GateOptions(env="prod"))
    approve(registry(root), REF, ApproveOptions(env="prod"), by="alice")
    msg = refused(root, "promote", REF, "--to", "prod", "--by", "alice", "--reason", "r", code=1)
    assert (
        "cannot promote support-reply@1.0.0 to prod: "
        "it has never been in staging (promote it there first)." in msg
    )


def test_every_reason_is_given_at_once(evaluated_repo: Path) -> None:
    msg = refused(
        evaluated_repo, "promote", REF, "--to", "prod", "--by", "alice", "--reason", "r", code=1
    )
    assert "it has never been in staging (promote it there first)" in msg
    assert "it has no gate verdict for prod" in msg
    assert "it needs 1 approval(s) for prod, has 0" in msg


def test_stale_expected_pointer_is_refused(evaluated_repo: Path) -> None:
    root = evaluated_repo
    check_gate(registry(root), REF, GateOptions(env="dev"))
    msg = refused(
        root,
        "promote",
        REF,
        "--to",
        "dev",
        "--by",
        "alice",
        "--reason",
        "r",
        "--expect",
        "0.9.0",
        code=2,
    )
    assert (
        "dev moved meanwhile: it points at nothing, not 0.9.0; re-check the environment and "
        "retry. See 'promptgov status support-reply'." in msg
    )
    res = run_cli(
        "promote",
        REF,
        "--to",
        "dev",
        "--by",
        "alice",
        "--reason",
        "r",
        "--expect",
        "none",
        "--repo",
        root,
    )
    assert res.exit_code == 0, res.stderr


def test_promoting_the_serving_version_again_is_refused(evaluated_repo: Path) -> None:
    release(evaluated_repo, "1.0.0", ["dev"], evaluate_first=False)
    msg = refused(
        evaluated_repo, "promote", REF, "--to", "dev", "--by", "alice", "--reason", "r", code=2
    )
    assert "dev already serves support-reply@1.0.0." in msg


def test_promote_needs_by_and_reason(evaluated_repo: Path) -> None:
    msg = refused(evaluated_repo, "promote", REF, "--to", "dev", "--by", "alice", code=2)
    assert "a promotion needs the person promoting and a reason. Pass --by and --reason." in msg
    msg = refused(
        evaluated_repo, "promote", REF, "--to", "qa", "--by", "a", "--reason", "r", code=2
    )
    assert "unknown environment 'qa'; configured: dev, staging, prod" in msg


def test_quarantined_version_is_refused_even_in_an_emergency(example_repo: Path) -> None:
    root = example_repo
    add_version(root, "1.0.0")
    release(root, "1.0.0")
    add_version(root, "1.1.0")
    release(root, "1.1.0")
    rollback(registry(root), PROMPT, RollbackOptions(env="prod", reason="complaints"), by="bob")
    assert registry(root).record(PROMPT, "1.1.0").quarantine is not None
    for extra in ([], ["--emergency"]):
        msg = refused(
            root,
            "promote",
            f"{PROMPT}@1.1.0",
            "--to",
            "prod",
            "--by",
            "alice",
            "--reason",
            "again",
            *extra,
            code=1,
        )
        assert (
            "cannot promote support-reply@1.1.0 to prod: "
            "it is quarantined (rolled back: complaints)." in msg
        )
    msg = refused(root, "approve", f"{PROMPT}@1.1.0", "--env", "prod", "--by", "bob", code=2)
    assert (
        "support-reply@1.1.0 is quarantined (rolled back: complaints); it cannot be approved."
        in msg
    )


def test_emergency_where_forbidden_is_refused(evaluated_repo: Path) -> None:
    root = evaluated_repo
    flows.configure(root, lambda doc: flows.env_config(doc, "prod").update(allow_emergency=False))
    msg = refused(
        root,
        "promote",
        REF,
        "--to",
        "prod",
        "--by",
        "alice",
        "--reason",
        "incident",
        "--emergency",
        code=2,
    )
    assert "the emergency path is disabled for prod in promptgov.yml." in msg


# ------------------------------------------------------------------ what a promotion writes


def test_promotion_writes_history_changelog_and_audit(evaluated_repo: Path) -> None:
    root = evaluated_repo
    release(root, "1.0.0", ["dev", "staging"], evaluate_first=False, approver="dave")
    check_gate(registry(root), REF, GateOptions(env="prod"))
    approve(registry(root), REF, ApproveOptions(env="prod", comment="looks good"), by="bob")
    res = run_cli(
        "promote",
        REF,
        "--to",
        "prod",
        "--by",
        "alice",
        "--reason",
        "weekly release",
        "--evidence",
        "https://ci.example.com/run/7",
        "--repo",
        root,
    )
    assert res.exit_code == 0, res.stderr
    assert "Promoted support-reply ∅ → 1.0.0 in prod (promote, audit #" in res.stdout
    entry = registry(root).entry(PROMPT)
    move = entry.environments["prod"].history[-1]
    assert (move.seq, move.version, move.previous, move.kind) == (
        1,
        "1.0.0",
        None,
        MoveKind.PROMOTE,
    )
    assert (move.by, move.reason, move.approvers, move.gate_verdict) == (
        "alice",
        "weekly release",
        ["bob"],
        GateVerdict.PASS,
    )
    assert entry.environments["prod"].current == "1.0.0"
    log = registry(root).repo.changelog()[-1]
    assert (log.action, log.version, log.env, log.summary, log.author) == (
        "promote",
        "1.0.0",
        "prod",
        "weekly release",
        "alice",
    )
    assert (log.approvers, log.gate_verdict, log.links) == (
        ["bob"],
        GateVerdict.PASS,
        ["https://ci.example.com/run/7"],
    )
    audit = list(AuditLog(root).entries(action="promote"))[-1]
    assert audit.seq == move.audit_seq == log.audit_seq
    assert (audit.actor, audit.env, audit.to_version, audit.gate_verdict) == (
        "alice",
        "prod",
        "1.0.0",
        "pass",
    )
    assert audit.to_sha256 == entry.versions[0].sha256 and audit.approvers == ["bob"]
    assert entry.versions[0].status is LifecycleState.DEPLOYED
    assert AuditLog(root).verify().ok
    assert run_cli("verify", "--repo", root).exit_code == 0


def test_replaced_version_becomes_superseded(evaluated_repo: Path) -> None:
    root = evaluated_repo
    release(root, "1.0.0", ["dev"], evaluate_first=False)
    add_version(root, "1.1.0")
    release(root, "1.1.0", ["dev"])
    statuses = {r.version: r.status for r in registry(root).entry(PROMPT).versions}
    assert statuses == {"1.0.0": LifecycleState.SUPERSEDED, "1.1.0": LifecycleState.DEPLOYED}
    assert registry(root).entry(PROMPT).environments["dev"].history[-1].previous == "1.0.0"


def test_emergency_path_records_use_and_post_review(example_repo: Path) -> None:
    root = example_repo
    add_version(root, "1.0.0", remove=[flows.SAFETY_LINE])
    evaluate(root, "1.0.0")
    start = datetime.now(UTC)
    res = run_cli(
        "promote",
        REF,
        "--to",
        "prod",
        "--by",
        "bob",
        "--reason",
        "incident INC-7: hotfix",
        "--emergency",
        "--repo",
        root,
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    move = registry(root).entry(PROMPT).environments["prod"].history[-1]
    assert move.kind is MoveKind.EMERGENCY and move.version == "1.0.0"
    audit = list(AuditLog(root).entries(action="emergency-promote"))
    assert len(audit) == 1 and audit[0].reason == "incident INC-7: hotfix"
    due = datetime.fromisoformat(audit[0].details["post_review_due"])
    assert start + timedelta(days=2) <= due <= datetime.now(UTC) + timedelta(days=2)
    assert registry(root).repo.changelog()[-1].action == "emergency"


def test_accept_inconclusive_by_an_approver_only(evaluated_repo: Path) -> None:
    root = evaluated_repo
    release(root, "1.0.0", ["dev", "staging"], evaluate_first=False, approver="dave")
    edit_gate_file(root, lambda d: d["environments"]["prod"].update(min_results=10))
    assert (
        check_gate(registry(root), REF, GateOptions(env="prod")).verdict is GateVerdict.INCONCLUSIVE
    )
    approve(registry(root), REF, ApproveOptions(env="prod"), by="alice")
    args = ("promote", REF, "--to", "prod", "--reason", "small suite")
    msg = refused(root, *args, "--by", "bob", code=3)
    assert (
        "cannot promote support-reply@1.0.0 to prod: its gate verdict for prod is inconclusive "
        "(an approver may accept it). An approver may pass --accept-inconclusive." in msg
    )
    msg = refused(root, *args, "--by", "dave", "--accept-inconclusive", code=3)
    assert "dave is not an approver for prod and cannot accept an inconclusive gate" in msg
    res = run_cli(*args, "--by", "bob", "--accept-inconclusive", "--repo", root)
    assert res.exit_code == 0, res.stderr
    audit = list(AuditLog(root).entries(action="promote"))[-1]
    assert audit.gate_verdict == "inconclusive"
    assert audit.details["accepted_inconclusive_by"] == "bob"


def test_author_cannot_accept_an_inconclusive_gate_where_self_approval_is_refused(
    example_repo: Path,
) -> None:
    """Accepting an inconclusive gate is an approval: separation of duties applies to it."""
    root = example_repo
    add_version(root, "1.0.0", author="alice")
    release(root, "1.0.0", ["dev", "staging"], approver="dave")
    edit_gate_file(root, lambda d: d["environments"]["prod"].update(min_results=10))
    check_gate(registry(root), REF, GateOptions(env="prod"))
    approve(registry(root), REF, ApproveOptions(env="prod"), by="bob")
    msg = refused(
        root,
        "promote",
        REF,
        "--to",
        "prod",
        "--reason",
        "r",
        "--by",
        "alice",
        "--accept-inconclusive",
        code=3,
    )
    assert "alice wrote support-reply@1.0.0 and cannot accept its inconclusive gate for prod" in msg


# --------------------------------------------------------------------------- racing processes


def _prepare_contenders(root: Path, count: int) -> list[str]:
    """``count`` versions, each with a passing dev gate (one real eval run, imported for all)."""
    add_version(root, "1.0.0")
    output = flows.stored_output(root, evaluate(root, "1.0.0"))
    versions = ["1.0.0"]
    for i in range(1, count):
        v = f"1.0.{i}"
        add_version(root, v, note=f"Contender {i}.")
        flows.import_results(root, v, output)
        versions.append(v)
    reg = registry(root)
    for v in versions:
        assert check_gate(reg, f"{PROMPT}@{v}", GateOptions(env="dev")).verdict is GateVerdict.PASS
    return versions


def _race(root: Path, versions: list[str], expect: str) -> tuple[str, list[str]]:
    """Start one promote process per version at once; returns the winner and the losers' errors."""
    procs = {
        v: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "promptgov",
                "promote",
                f"{PROMPT}@{v}",
                "--to",
                "dev",
                "--by",
                "alice",
                "--reason",
                f"race {v}",
                "--expect",
                expect,
                "--repo",
                str(root),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    }
    results = {v: (p.communicate(timeout=180), p.returncode) for v, p in procs.items()}
    winners = [v for v, (_, code) in results.items() if code == 0]
    assert len(winners) == 1, {v: (code, out[1]) for v, (out, code) in results.items()}
    winner = winners[0]
    errors = []
    for v, ((_, err), code) in results.items():
        if v != winner:
            assert code == 2, err
            errors.append(" ".join(err.split()))
    return winner, errors


def test_twenty_racing_promotions_have_exactly_one_winner_each_round(example_repo: Path) -> None:
    root = example_repo
    versions = _prepare_contenders(root, 21)
    first, errors = _race(root, versions[:20], "none")
    assert all(
        e == f"error: dev moved meanwhile: it points at {first}, not nothing; re-check the "
        f"environment and retry. See 'promptgov status {PROMPT}'."
        for e in errors
    ), errors
    contenders = [v for v in versions if v != first]
    second, errors = _race(root, contenders, first)
    assert all(f"dev moved meanwhile: it points at {second}, not {first};" in e for e in errors), (
        errors
    )

    reg = registry(root)
    history = reg.entry(PROMPT).environments["dev"].history
    assert [(m.seq, m.previous, m.version) for m in history] == [
        (1, None, first),
        (2, first, second),
    ]
    assert reg.entry(PROMPT).environments["dev"].current == second
    promotions = [e for e in reg.repo.changelog() if e.action == "promote"]
    assert [(e.version, e.from_version, e.summary) for e in promotions] == [
        (first, None, f"race {first}"),
        (second, first, f"race {second}"),
    ]
    assert [e.seq for e in reg.repo.changelog()] == list(range(1, len(reg.repo.changelog()) + 1))
    audit = list(AuditLog(root).entries(action="promote"))
    assert [(a.to_version, a.seq) for a in audit] == [(m.version, m.audit_seq) for m in history]
    assert AuditLog(root).verify().ok
    report = verify(reg.repo)
    assert report.ok, report.problems
    assert run_cli("verify", "--repo", root).exit_code == 0
