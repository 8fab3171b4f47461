"""The rollback flow: locate, restore, re-run evals, log, notify — and every refusal."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptgov import ApproveOptions, GateOptions, PromoteOptions, Registry, Repo, RollbackOptions
from promptgov.actions.approve import approve
from promptgov.actions.gate import check_gate
from promptgov.actions.promote import promote
from promptgov.actions.rollback import RollbackResult, rollback
from promptgov.actions.verify import verify
from promptgov.audit import AuditLog
from promptgov.errors import Conflict, GateFailed, InputError, NotFound
from promptgov.model import LifecycleState, MoveKind, PromptSource, RollbackStatus
from promptgov.notify import Notifier, NotifyPolicy, Outbox, load_targets
from promptgov.store.files import repo_lock

from .. import flows
from ..conftest import run_cli, snapshot
from ..flows import PROMPT, add_version, registry, release
from ..notify_sink import Behaviour, NotifySink, closed_port_url

FAST = NotifyPolicy(retries=1, backoff_s=0.01, timeout_s=1.0)
ROLLBACK_ARGS = ("rollback", PROMPT, "--env", "prod", "--reason", "refund promises in replies")
CHECKLIST_TASKS = [
    "Last good version found",
    "Eval re-run successful",
    "CI passed",
    "Rollback logged",
    "Change log updated",
    "Stakeholders notified",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.0.0 then 1.1.0 released through dev, staging and prod (built once per module)."""
    root = tmp_path_factory.mktemp("template") / "repo"
    flows.two_releases(root)
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template."""
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    return root


@pytest.fixture
def sink() -> Iterator[NotifySink]:
    with NotifySink() as s:
        yield s


def do_rollback(root: Path, **kw: Any) -> RollbackResult:
    kw.setdefault("reason", "refund promises in replies")
    kw.setdefault("authorized_by", "bob")
    kw.setdefault("notify_policy", FAST)
    by = kw.pop("authorized_by")
    if "evidence" in kw:
        kw["evidence"] = tuple(kw["evidence"])
    return rollback(registry(root), PROMPT, RollbackOptions(**kw), by=by)


def refused(root: Path, *args: str | Path, code: int = 2) -> str:
    """Run a CLI command that must be refused; assert nothing changed; return its message."""
    before = snapshot(root)
    res = run_cli(*args, "--repo", root)
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert snapshot(root) == before
    return " ".join(res.stderr.split())


def prod(root: Path) -> str | None:
    return registry(root).entry(PROMPT).environments["prod"].current


def source_sha(root: Path) -> str:
    data = yaml.safe_load((root / flows.PROMPT_FILE).read_text())
    return PromptSource.model_validate(data).content().sha256


def drift_model(root: Path) -> None:
    """The upstream model stops apologizing, whatever the prompt says (the old prompt fails too)."""
    stub = root / "evals/model_stub.py"
    text = stub.read_text()
    assert 'if "apologize" in p or "apologise" in p:' in text
    new = text.replace('if "apologize" in p or "apologise" in p:', "if False:")
    flows.change_policy(root, lambda r: stub.write_text(new))


# --------------------------------------------------------------------------- 1. locate


@pytest.fixture
def mixed_repo(example_repo: Path) -> Path:
    """prod history 1.0.0 → 1.1.0 (failing gate, emergency) → 1.2.0 (unapproved) → 1.3.0."""
    root = example_repo
    add_version(root, "1.0.0")
    release(root, "1.0.0")
    add_version(root, "1.1.0", remove=[flows.SAFETY_LINE])
    release(root, "1.1.0", ["prod"], emergency=True)
    flows.edit_prompt(
        root, "explain the next step, ", "explain the next step, never promise refunds, "
    )
    add_version(root, "1.2.0")
    release(root, "1.2.0", ["prod"], emergency=True)
    add_version(root, "1.3.0")
    release(root, "1.3.0")
    add_version(root, "1.4.0")
    release(root, "1.4.0", ["dev"])
    return root


def test_dry_run_explains_every_skipped_candidate_and_changes_nothing(mixed_repo: Path) -> None:
    root = mixed_repo
    before = snapshot(root)
    res = run_cli(*ROLLBACK_ARGS, "--authorized-by", "bob", "--dry-run", "--repo", root)
    assert res.exit_code == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "skip 1.2.0: not approved for prod (0 of 1 approvals)" in out
    assert (
        "skip 1.1.0: no passing gate result for its content hash in prod; "
        "not approved for prod (0 of 1 approvals)" in out
    )
    assert "✓ 1.0.0" in out
    assert (
        "Dry run: would roll support-reply in prod back from 1.3.0 to 1.0.0 "
        "(recorded as 1.0.0+rollback); nothing was changed." in out
    )
    assert snapshot(root) == before
    data = json.loads(
        run_cli(
            *ROLLBACK_ARGS, "--authorized-by", "bob", "--dry-run", "--json", "--repo", root
        ).stdout
    )
    assert [(c["version"], c["eligible"]) for c in data["plan"]["candidates"]] == [
        ("1.2.0", False),
        ("1.1.0", False),
        ("1.0.0", True),
    ]
    assert data["dry_run"] is True and data["record"] is None


def test_quarantined_and_same_content_versions_are_never_last_known_good(mixed_repo: Path) -> None:
    root = mixed_repo
    staging = do_rollback(root, env="staging", reason="bad replies in staging")
    assert (staging.plan.target, staging.plan.current) == ("1.0.0", "1.3.0")
    # the restored version goes on to prod: prod now serves 1.0.0's content again
    approve(registry(root), f"{PROMPT}@1.0.0+rollback", ApproveOptions(env="prod"), by="alice")
    promote(
        registry(root),
        f"{PROMPT}@1.0.0+rollback",
        PromoteOptions(to="prod", reason="restore"),
        by="alice",
    )
    msg = refused(root, *ROLLBACK_ARGS, "--authorized-by", "bob", "--dry-run")
    assert "error: prod has no last known good version of support-reply (" in msg
    assert "1.3.0: quarantined (rollback: rolled back: bad replies in staging)" in msg
    assert "1.2.0: not approved for prod (0 of 1 approvals)" in msg
    assert "1.0.0: same content as the current version" in msg
    assert (
        "Run 'promptgov rollback support-reply --env prod --dry-run' to see every candidate, "
        "or name one with --to." in msg
    )
    msg = refused(root, *ROLLBACK_ARGS, "--authorized-by", "bob", "--to", "1.3.0")
    assert "quarantined (rollback: rolled back: bad replies in staging)" in msg


def test_to_an_ineligible_target_is_refused_unless_forced(mixed_repo: Path) -> None:
    root = mixed_repo
    msg = refused(root, *ROLLBACK_ARGS, "--authorized-by", "bob", "--to", "1.2.0")
    assert (
        "error: support-reply@1.2.0 is not eligible as a rollback target for prod: "
        "not approved for prod (0 of 1 approvals); a forced restore (recorded, with a reason) "
        "restores it anyway. Pass --force." in msg
    )
    msg = refused(root, *ROLLBACK_ARGS, "--authorized-by", "bob", "--to", "1.4.0")
    assert (
        "never served in prod" in msg
        and "no passing gate result for its content hash in prod" in msg
    )
    msg = refused(root, *ROLLBACK_ARGS, "--authorized-by", "bob", "--force")
    assert "forcing applies to an explicit target; name the version to restore." in msg
    msg = refused(root, *ROLLBACK_ARGS, "--authorized-by", "bob", "--to", "9.9.9")
    assert "support-reply has no version '9.9.9'" in msg

    res = do_rollback(root, to="1.2.0", force=True)
    assert res.record is not None and res.record.forced and res.plan.forced
    assert (prod(root), res.record.rollback_to) == ("1.2.0+rollback", "1.2.0")
    start = list(AuditLog(root).entries(action="rollback-start"))[-1]
    assert start.details["forced"] is True
    assert list(AuditLog(root).entries(action="rollback"))[-1].details["forced"] is True


# --------------------------------------------------------------------------- refusals


def test_refusals_change_nothing_and_say_why(repo: Path) -> None:
    msg = refused(repo, "rollback", PROMPT, "--env", "prod", "--authorized-by", "bob")
    assert (
        "error: a rollback needs a reason: say why, for the audit log and the owners. "
        "Pass --reason." in msg
    )
    msg = refused(repo, *ROLLBACK_ARGS)
    assert "error: a rollback needs the person who authorized it. Pass --authorized-by." in msg
    msg = refused(repo, *ROLLBACK_ARGS, "--authorized-by", "bob", "--skip-evals")
    assert (
        "error: skipping the eval re-run is only allowed in an emergency rollback. "
        "Pass --skip-evals together with --emergency." in msg
    )
    msg = refused(repo, *ROLLBACK_ARGS[:2], "--env", "qa", "--reason", "r", "--authorized-by", "b")
    assert "unknown environment 'qa'" in msg
    msg = refused(repo, "rollback", "--reason", "r", "--authorized-by", "b")
    assert "name the prompt to roll back (or pass --resume)." in msg


def test_nothing_to_roll_back_is_refused(example_repo: Path) -> None:
    add_version(example_repo, "1.0.0")
    msg = refused(example_repo, *ROLLBACK_ARGS, "--authorized-by", "bob")
    assert (
        "error: support-reply has never been deployed to prod; there is nothing to roll back."
        in msg
    )
    release(example_repo, "1.0.0")
    msg = refused(example_repo, *ROLLBACK_ARGS, "--authorized-by", "bob")
    assert (
        "error: prod has no last known good version of support-reply "
        "(no earlier version was ever served);" in msg
    )


def test_tampered_object_is_refused(repo: Path) -> None:
    sha = registry(repo).record(PROMPT, "1.0.0").sha256
    obj = repo / f".promptgov/objects/{sha[:2]}/{sha[2:]}.content.json"
    obj.write_bytes(obj.read_bytes().replace(b"apologize", b"apologise"))
    msg = refused(repo, *ROLLBACK_ARGS, "--authorized-by", "bob", code=1)
    assert f".promptgov/objects/{sha[:2]}/{sha[2:]}.content.json has been altered" in msg
    assert "it will not be served" in msg
    assert prod(repo) == "1.1.0"


def test_tampered_card_is_refused(repo: Path) -> None:
    sha = registry(repo).record(PROMPT, "1.0.0").card_sha256
    obj = repo / f".promptgov/objects/{sha[:2]}/{sha[2:]}.card.json"
    obj.write_bytes(obj.read_bytes().replace(b"alice@example.com", b"mallory@example.com"))
    msg = refused(repo, *ROLLBACK_ARGS, "--authorized-by", "bob", code=1)
    assert f".promptgov/objects/{sha[:2]}/{sha[2:]}.card.json has been altered" in msg
    assert registry(repo).entry(PROMPT).rollbacks == []


class _PromotingRepo(Repo):
    """A repository on which another process promotes 1.2.0 to prod just before the first write."""

    def edit(self, name: str | None = None, *, create: bool = False) -> Any:
        if not getattr(self, "_moved", False):
            self._moved = True
            args = (
                "promote",
                f"{PROMPT}@1.2.0",
                "--to",
                "prod",
                "--by",
                "alice",
                "--reason",
                "hotfix",
            )
            proc = subprocess.run(
                [sys.executable, "-m", "promptgov", *args, "--repo", str(self.root)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
        return super().edit(name, create=create)


def _ready_for_prod(root: Path, version: str) -> None:
    """``version`` released to staging, gated and approved for prod (not promoted)."""
    add_version(root, version)
    release(root, version, ["dev", "staging"])
    check_gate(registry(root), f"{PROMPT}@{version}", GateOptions(env="prod"))
    approve(registry(root), f"{PROMPT}@{version}", ApproveOptions(env="prod"), by="alice")


def test_pointer_moved_meanwhile_is_refused(repo: Path) -> None:
    _ready_for_prod(repo, "1.2.0")
    reg = Registry(_PromotingRepo(repo))
    with pytest.raises(Conflict) as exc:
        rollback(reg, PROMPT, RollbackOptions(env="prod", reason="r", notify_policy=FAST), by="bob")
    assert str(exc.value) == (
        "prod moved meanwhile: it now serves 1.2.0, not 1.1.0; nothing was changed. "
        "Re-run the rollback to plan again."
    )
    after_promotion = snapshot(repo)
    assert prod(repo) == "1.2.0"
    assert registry(repo).entry(PROMPT).rollbacks == []
    assert not [r for r in registry(repo).entry(PROMPT).versions if r.restored_from]
    assert snapshot(repo) == after_promotion
    assert verify(registry(repo).repo).ok


# --------------------------------------------------------------------------- success


def test_rollback_restores_logs_and_notifies(repo: Path, sink: NotifySink) -> None:
    flows.set_notifications(repo, sink.json_url("/hook"))
    good_sha = registry(repo).record(PROMPT, "1.0.0").sha256
    bad_sha = registry(repo).record(PROMPT, "1.1.0").sha256
    assert source_sha(repo) == bad_sha
    res = do_rollback(
        repo, evidence=["logs/drift/2024-05-01.json", "https://support.example.com/t/991"]
    )
    assert res.ok and not res.already_done
    rec = res.record
    assert rec is not None and rec.status is RollbackStatus.COMPLETED

    reg = registry(repo)
    new = reg.record(PROMPT, "1.0.0+rollback")
    assert (new.sha256, new.restored_from, new.rolled_back_from) == (good_sha, "1.0.0", "1.1.0")
    assert new.status is LifecycleState.DEPLOYED
    bad = reg.record(PROMPT, "1.1.0")
    assert bad.status is LifecycleState.QUARANTINED and bad.quarantine is not None
    assert bad.quarantine.by == "bob" and "refund promises in replies" in bad.quarantine.reason
    move = reg.entry(PROMPT).environments["prod"].history[-1]
    assert (move.kind, move.previous, move.version) == (
        MoveKind.ROLLBACK,
        "1.1.0",
        "1.0.0+rollback",
    )
    assert prod(repo) == "1.0.0+rollback"

    # the working copy holds the restored prompt, its comments kept
    text = (repo / flows.PROMPT_FILE).read_text()
    assert source_sha(repo) == good_sha
    assert text.startswith("# The support-reply prompt: template, model parameters, variables")

    # audit and change log: reason, authorizer, evidence, versions and hashes, run id and verdict
    entry = list(AuditLog(repo).entries(action="rollback"))[-1]
    assert (entry.actor, entry.reason, entry.env) == ("bob", "refund promises in replies", "prod")
    assert entry.on_behalf_of is None  # a person acts for themselves; a policy for the owner
    assert (entry.from_version, entry.from_sha256) == ("1.1.0", bad_sha)
    assert (entry.to_version, entry.to_sha256) == ("1.0.0+rollback", good_sha)
    run = next(r for r in new.eval_runs if r.run_id == rec.eval_run_id)
    assert entry.eval_run_id == rec.eval_run_id and entry.gate_verdict == "pass"
    assert entry.evidence == [
        "logs/drift/2024-05-01.json",
        "https://support.example.com/t/991",
        run.output,
    ]
    assert entry.details["restored_from"] == "1.0.0" and entry.details["rollback_id"] == rec.id
    assert rec.audit_seq == entry.seq
    log = reg.repo.changelog()[-1]
    assert (log.action, log.version, log.from_version, log.env) == (
        "rollback",
        "1.0.0+rollback",
        "1.1.0",
        "prod",
    )
    assert log.summary == "Rollback to 1.0.0: refund promises in replies"
    assert log.author == "bob" and log.audit_seq == entry.seq and run.output in log.links

    # one notification, naming prompt, env, versions and the audit entry
    [req] = sink.requests_to("/hook")
    body = req.json
    text = body["title"] + "\n" + body["message"]
    for fragment in (PROMPT, "prod", "1.1.0", "1.0.0+rollback", f"#entry-{entry.seq}"):
        assert fragment in text, (fragment, text)
    assert "refund promises in replies" in body["message"]
    notes = list(AuditLog(repo).entries(action="notify"))
    assert [(n.outcome, n.details["target"]) for n in notes] == [
        ("success", "ops <" + sink.json_url("/hook") + ">")
    ]

    assert [(c.task, c.ok) for c in res.checklist] == [(t, True) for t in CHECKLIST_TASKS]
    assert AuditLog(repo).verify().ok
    report = verify(reg.repo)
    assert report.ok, report.problems


def test_repeating_a_rollback_does_nothing_twice(repo: Path, sink: NotifySink) -> None:
    flows.set_notifications(repo, sink.json_url("/hook"))
    do_rollback(repo)
    versions = [r.version for r in registry(repo).entry(PROMPT).versions]
    before = snapshot(repo)
    again = do_rollback(repo)
    assert again.already_done and again.ok
    assert [r.version for r in registry(repo).entry(PROMPT).versions] == versions
    assert len(sink.requests_to("/hook")) == 1
    assert snapshot(repo) == before
    res = run_cli(*ROLLBACK_ARGS, "--authorized-by", "bob", "--repo", repo)
    assert res.exit_code == 0, res.stderr
    assert "Already rolled back: prod serves 1.0.0+rollback" in " ".join(res.stdout.split())
    assert len(sink.requests_to("/hook")) == 1
    assert snapshot(repo) == before


def test_rolling_back_to_one_content_again_reuses_its_rollback_version(repo: Path) -> None:
    """One content became 1.0.0-rollback … -rollback.5, parented on the bad
    version, and 'latest' showed the last of them."""
    do_rollback(repo)
    for version in ("1.2.0", "1.3.0"):
        add_version(repo, version)
        release(repo, version)
        res = do_rollback(repo, reason=f"{version} regressed")
        assert (res.plan.target, res.plan.new_version, res.plan.reused) == (
            "1.0.0+rollback",
            "1.0.0+rollback",
            True,
        )
        assert prod(repo) == "1.0.0+rollback"
        assert res.record is not None and res.record.status is RollbackStatus.COMPLETED
    reg = registry(repo)
    entry = reg.entry(PROMPT)
    assert [r.version for r in entry.versions] == [
        "1.0.0",
        "1.1.0",
        "1.0.0+rollback",
        "1.2.0",
        "1.3.0",
    ]
    assert [rb.new_version for rb in entry.rollbacks] == ["1.0.0+rollback"] * 3
    assert [rb.rollback_of for rb in entry.rollbacks] == ["1.1.0", "1.2.0", "1.3.0"]
    restored = reg.record(PROMPT, "1.0.0+rollback")
    assert (restored.parent, restored.restored_from) == ("1.0.0", "1.0.0")
    assert restored.sha256 == reg.record(PROMPT, "1.0.0").sha256
    assert len(restored.eval_runs) == 3  # each rollback re-ran the evals on it
    assert reg.status(PROMPT)[0].latest == "1.3.0"
    assert reg.resolve(PROMPT)[1].version == reg.resolve(f"{PROMPT}@latest")[1].version == "1.3.0"
    assert all(reg.record(PROMPT, v).quarantine is not None for v in ("1.1.0", "1.2.0", "1.3.0"))
    assert verify(Repo(repo)).ok


def test_rollback_versions_do_not_sort_below_the_version_they_restore() -> None:
    from promptgov.model import semver_key

    assert not semver_key("1.0.0+rollback") < semver_key("1.0.0")
    assert semver_key("1.0.0+rollback") < semver_key("1.0.1-rc.1") < semver_key("1.0.1")


def test_cli_rollback_prints_the_true_checklist(repo: Path, sink: NotifySink) -> None:
    flows.set_notifications(repo, sink.json_url("/hook"))
    res = run_cli(
        *ROLLBACK_ARGS, "--authorized-by", "bob", "--evidence", "INC-42", "--json", "--repo", repo
    )
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["ok"] is True and data["record"]["status"] == "completed"
    assert [(c["task"], c["ok"]) for c in data["checklist"]] == [(t, True) for t in CHECKLIST_TASKS]
    assert data["checklist"][0]["detail"] == "1.0.0 (restored as 1.0.0+rollback)"
    assert data["checklist"][3]["detail"] == f"audit entry #{data['record']['audit_seq']}"
    assert data["checklist"][5]["detail"] == "1 target(s) notified"


# ----------------------------------------------------------------- 5. notification failures


@pytest.mark.parametrize("failure", ["500", "refused", "timeout"])
def test_failed_notification_never_blocks_the_rollback(
    repo: Path, sink: NotifySink, failure: str
) -> None:
    if failure == "refused":
        url = closed_port_url("json", "/hook")
    else:
        url = sink.json_url("/hook")
        sink.script("/hook", Behaviour(status=500) if failure == "500" else Behaviour(delay_s=3))
    flows.set_notifications(repo, url)
    policy = NotifyPolicy(retries=1, backoff_s=0.01, timeout_s=0.4)
    res = do_rollback(repo, notify_policy=policy)
    assert prod(repo) == "1.0.0+rollback"
    assert res.record is not None and res.record.status is RollbackStatus.COMPLETED
    assert not res.ok
    lines = {c.task: c for c in res.checklist}
    assert not lines["Stakeholders notified"].ok
    assert (
        "1 of 1 target(s) failed (queued for 'promptgov notify retry')"
        == lines["Stakeholders notified"].detail
    )
    assert all(lines[t].ok for t in CHECKLIST_TASKS[:-1])
    [note] = AuditLog(repo).entries(action="notify")
    assert note.outcome == "failure" and note.error
    assert note.details["attempts"] == 2
    expected = {"500": "500", "refused": "connection", "timeout": "timeout"}[failure]
    assert expected in note.error.lower(), note.error
    assert len(Outbox(repo).pending()) == 1
    seen = len(sink.received)

    # later, the target is back: the retry delivers the same message
    if failure == "refused":
        flows.set_notifications(repo, sink.json_url("/hook"))
    else:
        sink.script("/hook", 200)
    targets = load_targets(Repo(repo).config.notifications)
    [retried] = Outbox(repo).retry(Notifier(targets, FAST))
    assert retried.ok, retried.error
    [delivered] = sink.received[seen:]
    assert delivered.status == 200 and "1.0.0+rollback" in delivered.json["title"]
    assert Outbox(repo).pending() == []


def test_cli_exits_1_when_stakeholders_were_not_notified(repo: Path) -> None:
    flows.set_notifications(repo, closed_port_url("json", "/hook"))
    res = run_cli(*ROLLBACK_ARGS, "--authorized-by", "bob", "--repo", repo)
    assert res.exit_code == 1, res.stderr
    out = res.stdout
    assert "Rolled back support-reply in prod: 1.1.0 → 1.0.0+rollback (restored 1.0.0)" in out
    notified = next(line for line in out.splitlines() if "Stakeholders notified" in line)
    assert "✘" in notified and "1 of 1 target(s) failed" in notified
    logged = next(line for line in out.splitlines() if "Rollback logged" in line)
    assert "✔" in logged
    assert prod(repo) == "1.0.0+rollback"


# --------------------------------------------------------------------------- 3. re-run gate


def test_failing_rerun_gate_undoes_the_rollback(repo: Path, sink: NotifySink) -> None:
    flows.set_notifications(repo, sink.json_url("/hook"))
    drift_model(repo)
    bad_sha = source_sha(repo)
    changelog = (repo / "schemas/prompt-change-log.yml").read_bytes()
    res = run_cli(*ROLLBACK_ARGS, "--authorized-by", "bob", "--repo", repo)
    assert res.exit_code == 1
    msg = " ".join(res.stderr.split())
    assert (
        "error: rollback of support-reply in prod undone: "
        "the restored 1.0.0+rollback failed its gate (" in msg
    )
    assert (
        "prod serves 1.1.0 again. Roll back as an emergency to keep a restore that fails its "
        "gate. Use --emergency to keep a restore that fails its gate." in msg
    )
    reg = registry(repo)
    assert prod(repo) == "1.1.0"
    bad = reg.record(PROMPT, "1.1.0")
    assert bad.quarantine is None and bad.status is LifecycleState.DEPLOYED
    assert reg.entry(PROMPT).environments["prod"].history[-1].kind is MoveKind.UNDO
    [rb] = reg.entry(PROMPT).rollbacks
    assert rb.status is RollbackStatus.UNDONE and rb.gate_verdict is not None
    assert source_sha(repo) == bad_sha
    undo = list(AuditLog(repo).entries(action="rollback-undo"))
    assert len(undo) == 1 and undo[0].outcome == "failure" and undo[0].gate_verdict == "fail"
    assert (repo / "schemas/prompt-change-log.yml").read_bytes() == changelog
    assert sink.received == []
    assert verify(reg.repo).ok


def test_emergency_keeps_a_restore_that_fails_its_gate(repo: Path) -> None:
    drift_model(repo)
    start = datetime.now(UTC)
    res = do_rollback(repo, emergency=True)
    assert prod(repo) == "1.0.0+rollback"
    assert res.record is not None and res.record.status is RollbackStatus.COMPLETED
    lines = {c.task: c for c in res.checklist}
    assert lines["Eval re-run successful"].ok and not lines["CI passed"].ok
    assert lines["CI passed"].detail == "gate verdict fail"
    [flag] = AuditLog(repo).entries(action="rollback-flagged")
    due = datetime.fromisoformat(flag.details["follow_up_due"])
    assert start + timedelta(days=1) <= due <= datetime.now(UTC) + timedelta(days=1)
    assert list(AuditLog(repo).entries(action="rollback"))[-1].gate_verdict == "fail"
    assert list(AuditLog(repo).entries(action="rollback"))[-1].details["emergency"] is True


def test_skip_evals_only_in_an_emergency_and_recorded(repo: Path) -> None:
    with pytest.raises(
        InputError, match="skipping the eval re-run is only allowed in an emergency rollback"
    ):
        do_rollback(repo, skip_evals=True)
    runs_before = sum(len(r.eval_runs) for r in registry(repo).entry(PROMPT).versions)
    res = do_rollback(repo, emergency=True, skip_evals=True)
    assert res.record is not None and res.record.skip_evals and res.record.eval_run_id is None
    assert sum(len(r.eval_runs) for r in registry(repo).entry(PROMPT).versions) == runs_before
    lines = {c.task: c for c in res.checklist}
    assert not lines["Eval re-run successful"].ok
    assert lines["Eval re-run successful"].detail == "skipped (--skip-evals, emergency)"
    entry = list(AuditLog(repo).entries(action="rollback"))[-1]
    assert entry.details["skip_evals"] is True and entry.details["emergency"] is True


# --------------------------------------------------------------------------- concurrency

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from promptgov import Registry, Repo
    from promptgov.errors import PromptGovError
    from promptgov.notify import NotifyPolicy

    root, ready, action = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    class SignallingRepo(Repo):
        def edit(self, name=None, *, create=False):
            if not ready.exists():
                ready.write_text("ready")
            return super().edit(name, create=create)

    reg = Registry(SignallingRepo(root))
    try:
        if action == "rollback":
            from promptgov import RollbackOptions, rollback
            options = RollbackOptions(reason="race", env="prod",
                                      notify_policy=NotifyPolicy(retries=0, timeout_s=1))
            rollback(reg, "support-reply", options, by="bob")
        else:
            from promptgov import PromoteOptions, promote
            promote(reg, "support-reply@1.2.0", PromoteOptions(to="prod", reason="race"), by="alice")
    except PromptGovError as exc:
        print(exc.message)
        sys.exit(exc.exit_code)
    """
)


def test_rollback_racing_a_promotion_has_one_winner(repo: Path, tmp_path: Path) -> None:
    _ready_for_prod(repo, "1.2.0")
    ready = {a: tmp_path / f"{a}.ready" for a in ("rollback", "promote")}
    with repo_lock(repo):
        procs = {
            a: subprocess.Popen(
                [sys.executable, "-c", WORKER, str(repo), str(ready[a]), a],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for a in ready
        }
        # both have planned on the same state and now wait for the lock this test holds
        deadline = time.monotonic() + 120
        while not all(p.exists() for p in ready.values()):
            assert time.monotonic() < deadline, "workers never reached their first write"
            assert all(p.poll() is None for p in procs.values())
            time.sleep(0.05)
    outs = {a: (p.communicate(timeout=120), p.returncode) for a, p in procs.items()}
    codes = {a: code for a, (_, code) in outs.items()}
    assert sorted(codes.values()) == [0, 2], outs
    winner = next(a for a, c in codes.items() if c == 0)
    message = outs["promote" if winner == "rollback" else "rollback"][0][0].strip()
    if winner == "rollback":
        assert prod(repo) == "1.0.0+rollback"
        assert message == (
            "prod moved meanwhile: it points at 1.0.0+rollback, not 1.1.0; "
            "re-check the environment and retry."
        )
    else:
        assert prod(repo) == "1.2.0"
        assert registry(repo).entry(PROMPT).rollbacks == []
        assert message == (
            "prod moved meanwhile: it now serves 1.2.0, not 1.1.0; nothing was changed. "
            "Re-run the rollback to plan again."
        )
    report = verify(registry(repo).repo)
    assert report.ok, report.problems


# --------------------------------------------------------------------------- git


def test_rollback_in_git_commits_and_moves_the_deploy_branch(repo: Path) -> None:
    flows.configure(repo, lambda doc: flows.env_config(doc, "prod").update(deploy_branch="prod"))
    flows.git_init(repo)
    main_before = flows.git(repo, "rev-parse", "main").strip()
    res = do_rollback(repo)
    assert res.record is not None
    message = flows.git(repo, "log", "-1", "--format=%B", "main")
    assert message.startswith("promptgov: rollback support-reply in prod 1.1.0 -> 1.0.0+rollback")
    trailers = flows.git(repo, "log", "-1", "--format=%(trailers:only,unfold)", "main")
    for trailer in (
        "Promptgov-Action: rollback",
        "Promptgov-Prompt: support-reply",
        "Promptgov-Env: prod",
        "Promptgov-From: 1.1.0",
        "Promptgov-To: 1.0.0+rollback",
        "Promptgov-Authorized-By: bob",
        "Promptgov-Reason: refund promises in replies",
    ):
        assert trailer in trailers, trailers
    assert flows.git(repo, "rev-parse", "main~1").strip() == main_before
    # the deploy branch got a new commit (never a force-push) with the restored prompt, and a tag
    branch_msg = flows.git(repo, "log", "-1", "--format=%B", "prod")
    assert "Promptgov-Action: rollback" in branch_msg
    deployed = yaml.safe_load(flows.git(repo, "show", f"prod:{flows.PROMPT_FILE}"))
    assert (
        PromptSource.model_validate(deployed).content().sha256
        == registry(repo).record(PROMPT, "1.0.0").sha256
    )
    tags = flows.git(repo, "tag", "--points-at", "prod").split()
    assert tags == [f"support-reply-prod-1.0.0+rollback-{res.record.audit_seq}"]
    registry_on_main = yaml.safe_load(
        flows.git(repo, "show", "main:schemas/prompt-version-schema.yml")
    )
    assert (
        registry_on_main["prompts"][PROMPT]["environments"]["prod"]["current"] == "1.0.0+rollback"
    )
    assert flows.git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_library_refusals_raise_the_documented_errors(repo: Path) -> None:
    with pytest.raises(NotFound):
        do_rollback(repo, env="dev", to="0.0.1")
    with pytest.raises(InputError):
        do_rollback(repo, reason=" ")
    drift_model(repo)
    with pytest.raises(GateFailed):
        do_rollback(repo)


def test_undone_rollback_in_git_leaves_a_clean_tree_and_the_served_content(repo: Path) -> None:
    flows.configure(repo, lambda doc: flows.env_config(doc, "prod").update(deploy_branch="prod"))
    drift_model(repo)
    flows.git_init(repo)
    with pytest.raises(GateFailed):
        do_rollback(repo)
    assert prod(repo) == "1.1.0"
    assert flows.git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert "Promptgov-Action: rollback-undo" in flows.git(repo, "log", "-1", "--format=%B", "main")
    deployed = yaml.safe_load(flows.git(repo, "show", f"prod:{flows.PROMPT_FILE}"))
    assert (
        PromptSource.model_validate(deployed).content().sha256
        == registry(repo).record(PROMPT, "1.1.0").sha256
    )


def test_rollback_keeps_the_authors_unsaved_edits_beside_the_restored_copy(repo: Path) -> None:
    """A rollback overwrote the in-progress prompt.yml with no way back."""
    path = repo / flows.PROMPT_FILE
    flows.edit_prompt(repo, "and sign off politely.", "and sign off politely. WIP: new tone")
    draft = path.read_bytes()
    res = run_cli(*ROLLBACK_ARGS, "--authorized-by", "bob", "--repo", repo)
    assert res.exit_code in (0, 1), res.stderr  # 1: no notification target configured
    kept = sorted(path.parent.glob("prompt.yml.before-rollback-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == draft
    rel = kept[0].relative_to(repo).as_posix()
    assert f"Your unsaved edits to prompts/{PROMPT}/prompt.yml were kept in {rel}" in " ".join(
        res.stdout.split()
    )
    restored = PromptSource.model_validate(yaml.safe_load(path.read_text()))
    assert restored.content().sha256 == registry(repo).record(PROMPT, "1.0.0").sha256
    start = [e for e in AuditLog(repo).entries() if e.action == "rollback-start"][-1]
    assert start.details["working_copy_kept_in"] == rel


def test_rollback_of_a_clean_working_copy_keeps_no_copy(repo: Path) -> None:
    res = do_rollback(repo)
    assert res.kept_edits is None
    assert not list((repo / flows.PROMPT_FILE).parent.glob("prompt.yml.before-*"))


def test_a_dry_run_needs_no_reason_or_authorizer(repo: Path) -> None:
    """'rollback --dry-run' demanded --reason and --authorized-by."""
    before = snapshot(repo)
    res = run_cli("rollback", PROMPT, "--env", "prod", "--dry-run", "--repo", repo)
    assert res.exit_code == 0, res.stderr
    assert (
        "Dry run: would roll support-reply in prod back from 1.1.0 to 1.0.0 "
        "(recorded as 1.0.0+rollback); nothing was changed." in " ".join(res.stdout.split())
    )
    assert snapshot(repo) == before


def test_a_dry_run_says_when_it_would_serve_an_existing_rollback_version(repo: Path) -> None:
    do_rollback(repo)
    add_version(repo, "1.2.0")
    release(repo, "1.2.0")
    res = run_cli("rollback", PROMPT, "--env", "prod", "--dry-run", "--repo", repo)
    assert res.exit_code == 0, res.stderr
    assert (
        "back from 1.2.0 to 1.0.0+rollback (serving 1.0.0+rollback again, which holds that "
        "content); nothing was changed." in " ".join(res.stdout.split())
    )
