"""Emergency moves and their post-review: recorded on the move, shown by ``status``, warned by
every command, failed by ``verify --strict``, and closed by another approver's review.

"Emergency promote": the post-review date was written but never shown.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from promptgov import PermissionDenied, ReviewOptions, review, verify
from promptgov.actions.promote import POST_REVIEW_DAYS
from promptgov.actions.review import ReviewResult
from promptgov.audit import AuditLog
from promptgov.errors import InputError, NotFound
from promptgov.model import MoveKind, PointerMove

from ..conftest import run_cli, snapshot
from ..flows import PROMPT, add_version, configure, registry, release

#: Who does the emergency promotion (a prod approver; carol wrote the version).
PROMOTER = "bob"
#: Another prod approver, who may review it.
REVIEWER = "alice"
#: Backdating by this much makes the post-review 3 days (and the test's runtime) overdue.
LATE = timedelta(days=POST_REVIEW_DAYS + 3)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.0.0 released through every environment, then 1.1.0 pushed into prod by the
    emergency path (built once per module)."""
    import promptgov

    root = tmp_path_factory.mktemp("template") / "repo"
    promptgov.init(root, example=True)
    add_version(root, "1.0.0")
    release(root, "1.0.0")
    add_version(root, "1.1.0")
    release(root, "1.1.0", ["prod"], emergency=True, by=PROMOTER)
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template: prod serves 1.1.0 by emergency, review not yet due."""
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    return root


@pytest.fixture
def overdue(repo: Path) -> Path:
    """The emergency move made :data:`LATE` ago, so its post-review is overdue."""
    backdate(repo, "prod", LATE)
    return repo


def backdate(root: Path, env: str, by: timedelta) -> PointerMove:
    """Move ``env``'s last pointer move (and its post-review date) ``by`` into the past,
    through the store's unit of work: the state a move made that long ago leaves."""
    with registry(root).repo.edit(PROMPT) as e:
        state = e.entry.environments[env]
        last = state.history[-1]
        assert last.post_review_due is not None
        moved = last.model_copy(
            update={"at": last.at - by, "post_review_due": last.post_review_due - by}
        )
        history = [*state.history[:-1], moved]
        envs = {**e.entry.environments, env: state.model_copy(update={"history": history})}
        e.entry = e.entry.model_copy(update={"environments": envs})
        # Every change of governed state is committed to by an audit entry.
        e.audit(action="backdate", actor="test", prompt=PROMPT, env=env, reason="test clock")
    return moved


def emergency_move(root: Path, env: str = "prod") -> PointerMove:
    move = registry(root).entry(PROMPT).environments[env].history[-1]
    assert move.kind in (MoveKind.EMERGENCY, MoveKind.ROLLBACK)
    return move


def warning_line(move: PointerMove, env: str = "prod", what: str = "promotion") -> str:
    assert move.post_review_due is not None
    return (
        f"warning: {PROMPT} {env}: emergency {what} {move.version} by {move.by} on "
        f"{move.at:%Y-%m-%d} has an overdue post-review (due {move.post_review_due:%Y-%m-%d}); "
        f"record it with 'promptgov review {PROMPT}@{move.version} --env {env} "
        "--by <approver> --reason …'"
    )


def do_review(root: Path, by: str = REVIEWER, ref: str = PROMPT, **kw: str) -> ReviewResult:
    options = ReviewOptions(**{"env": "prod", "reason": "hotfix checked: INC-7 closed", **kw})
    return review(registry(root), ref, options, by=by)


# --------------------------------------------------------------------------- what is recorded


def test_emergency_promotion_records_who_why_and_the_review_date_on_the_move(repo: Path) -> None:
    move = emergency_move(repo)
    assert (move.kind, move.version, move.by, move.reason) == (
        MoveKind.EMERGENCY,
        "1.1.0",
        PROMOTER,
        "release 1.1.0",
    )
    assert move.post_review_due == move.at + timedelta(days=POST_REVIEW_DAYS)
    entry = list(AuditLog(repo).entries(action="emergency-promote"))[-1]
    assert (entry.actor, entry.reason) == (PROMOTER, "release 1.1.0")
    assert datetime.fromisoformat(entry.details["post_review_due"]) == move.post_review_due


def test_a_registry_without_emergency_moves_is_written_as_before(tmp_path: Path) -> None:
    """Blocks written before post-reviews existed must render byte for byte the same, or a
    fresh clone could never use the registry cache for them."""
    import promptgov

    root = tmp_path / "repo"
    promptgov.init(root, example=True)
    add_version(root, "1.0.0")
    release(root, "1.0.0")
    text = (root / "schemas/prompt-version-schema.yml").read_text()
    assert "history:" in text and "post_review" not in text


def test_a_normal_promotion_schedules_no_post_review(repo: Path) -> None:
    dev = registry(repo).entry(PROMPT).environments["dev"].history[-1]
    assert dev.kind is MoveKind.PROMOTE and dev.post_review_due is None
    assert [(d.env, d.version) for d in registry(repo).post_reviews()] == [("prod", "1.1.0")]


# --------------------------------------------------------------------------- shown by status


def test_status_lists_a_post_review_that_is_not_due_yet(repo: Path) -> None:
    move = emergency_move(repo)
    res = run_cli("status", "--repo", repo)
    assert res.exit_code == 0, res.stderr
    assert (
        f"post-review due: {PROMPT} prod: emergency promotion 1.1.0 by {PROMOTER} on "
        f"{move.at:%Y-%m-%d}, due {move.post_review_due:%Y-%m-%d} (in 1 day 23 hours)"
    ) in res.stdout.splitlines()
    assert "warning:" not in res.stderr


def test_status_shows_an_overdue_post_review_with_its_date_and_how_late(overdue: Path) -> None:
    move = emergency_move(overdue)
    res = run_cli("status", "--repo", overdue)
    assert res.exit_code == 0, res.stderr
    assert (
        f"post-review overdue: {PROMPT} prod: emergency promotion 1.1.0 by {PROMOTER} on "
        f"{move.at:%Y-%m-%d}, due {move.post_review_due:%Y-%m-%d}, 3 days overdue"
    ) in res.stdout.splitlines()
    data = run_cli("status", PROMPT, "--repo", overdue, "--json")
    (row,) = json.loads(data.stdout)
    (due,) = row["post_reviews"]
    assert (due["env"], due["version"], due["by"], due["overdue"]) == (
        "prod",
        "1.1.0",
        PROMOTER,
        True,
    )
    assert 3 * 86400 < due["overdue_seconds"] < 3 * 86400 + 3600


def test_the_library_tells_when_a_post_review_becomes_overdue(repo: Path) -> None:
    move = emergency_move(repo)
    assert move.post_review_due is not None
    reg = registry(repo)
    (before,) = reg.post_reviews(now=move.post_review_due - timedelta(seconds=1))
    (after,) = reg.post_reviews(now=move.post_review_due + timedelta(hours=5))
    assert before.overdue_by is None
    assert after.overdue_by == timedelta(hours=5)
    assert reg.post_reviews(overdue_only=True, now=move.post_review_due) == []


# --------------------------------------------------------------------------- warned by every command


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["history", PROMPT],
        ["show", f"{PROMPT}@prod"],
        ["audit", "verify"],
        ["rollback", PROMPT, "--dry-run", "--reason", "check", "--authorized-by", REVIEWER],
        ["show", f"{PROMPT}@9.9.9"],
    ],
    ids=["status", "history", "show", "audit-verify", "rollback-dry-run", "failing-show"],
)
def test_every_command_warns_of_an_overdue_post_review_in_one_line(
    overdue: Path, args: list[str]
) -> None:
    res = run_cli(*args, "--repo", overdue)
    lines = [line for line in res.stderr.splitlines() if "post-review" in line]
    assert lines == [warning_line(emergency_move(overdue))]


def test_no_command_warns_before_the_post_review_is_due(repo: Path) -> None:
    res = run_cli("history", PROMPT, "--repo", repo)
    assert res.exit_code == 0 and "post-review" not in res.stderr


# --------------------------------------------------------------------------- verify --strict


def test_verify_warns_of_an_overdue_post_review_and_strict_fails(overdue: Path) -> None:
    report = verify(registry(overdue).repo)
    assert report.ok
    (warning,) = report.warnings
    assert warning.file == "schemas/prompt-version-schema.yml"
    assert "prod: emergency promotion 1.1.0 by bob" in warning.message
    strict = verify(registry(overdue).repo, strict=True)
    assert not strict.ok and [p.message for p in strict.problems] == [warning.message]

    res = run_cli("verify", "--repo", overdue)
    assert res.exit_code == 0, res.stdout
    assert f"! {warning}" in res.stdout.splitlines()
    res = run_cli("verify", "--strict", "--repo", overdue)
    assert res.exit_code == 1
    assert f"✗ {warning}" in res.stdout.splitlines()


def test_verify_strict_passes_while_the_post_review_is_not_due(repo: Path) -> None:
    assert verify(registry(repo).repo, strict=True).ok
    assert run_cli("verify", "--strict", "--repo", repo).exit_code == 0


# --------------------------------------------------------------------------- the review


def test_review_by_another_approver_closes_the_post_review(overdue: Path) -> None:
    move = emergency_move(overdue)
    res = run_cli(
        "review",
        PROMPT,
        "--env",
        "prod",
        "--by",
        REVIEWER,
        "--reason",
        "hotfix checked: INC-7 closed",
        "--repo",
        overdue,
    )
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == (
        f"Recorded the post-review of {PROMPT} prod: emergency promotion 1.1.0 by {PROMOTER} "
        f"on {move.at:%Y-%m-%d}, by {REVIEWER} (3 days late)"
    )
    assert "post-review" not in res.stderr
    entry = registry(overdue).entry(PROMPT)
    (done,) = entry.post_reviews
    assert (done.env, done.move_seq, done.version, done.by) == ("prod", move.seq, "1.1.0", REVIEWER)
    assert done.reason == "hotfix checked: INC-7 closed"
    audit = list(AuditLog(overdue).entries(action="post-review"))
    assert len(audit) == 1 and audit[0].actor == REVIEWER and audit[0].seq == done.audit_seq
    assert audit[0].details["reviewed_move"] == {
        "seq": move.seq,
        "by": PROMOTER,
        "kind": "emergency",
    }
    assert audit[0].details["overdue"] is True
    log = registry(overdue).repo.changelog()[-1]
    assert (log.action, log.version, log.env, log.author) == (
        "post-review",
        "1.1.0",
        "prod",
        REVIEWER,
    )
    assert log.audit_seq == done.audit_seq
    assert registry(overdue).post_reviews() == []
    assert "post-review" not in run_cli("status", "--repo", overdue).stdout
    assert run_cli("verify", "--strict", "--repo", overdue).exit_code == 0
    events = [e for e in registry(overdue).history(PROMPT) if e.kind == "post-review"]
    assert [(e.version, e.env, e.by) for e in events] == [("1.1.0", "prod", REVIEWER)]


def test_the_emergency_promoter_may_not_review_their_own_move(overdue: Path) -> None:
    before = snapshot(overdue)
    res = run_cli(
        "review", PROMPT, "--env", "prod", "--by", " Bob", "--reason", "fine", "--repo", overdue
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0] == (
        f"error: Bob made the emergency promotion of {PROMPT} 1.1.0 to prod and may not review "
        "it (separation of duties); ask another approver of prod."
    )
    assert snapshot(overdue) == before


def test_only_an_approver_of_the_environment_may_review(overdue: Path) -> None:
    before = snapshot(overdue)
    with pytest.raises(PermissionDenied, match="mallory may not review emergency moves in prod"):
        do_review(overdue, by="mallory")
    assert snapshot(overdue) == before


def test_the_author_of_the_version_may_not_review_it(repo: Path) -> None:
    configure(repo, lambda doc: doc["groups"]["release-managers"].append("carol"))
    before = snapshot(repo)
    with pytest.raises(PermissionDenied, match="Carol wrote support-reply@1.1.0"):
        do_review(repo, by="Carol")
    assert snapshot(repo) == before


def test_review_needs_a_reason_and_a_reviewer(repo: Path) -> None:
    before = snapshot(repo)
    with pytest.raises(InputError, match="a post-review needs the reviewer and a reason"):
        do_review(repo, reason="  ")
    with pytest.raises(InputError, match="a post-review needs the reviewer and a reason"):
        do_review(repo, by=" ")
    assert snapshot(repo) == before


def test_review_with_nothing_to_review_is_refused(repo: Path) -> None:
    before = snapshot(repo)
    with pytest.raises(NotFound, match=f"{PROMPT} has no open post-review in staging"):
        do_review(repo, env="staging")
    with pytest.raises(NotFound, match=f"{PROMPT} has no open post-review of 1.0.0 in prod"):
        do_review(repo, ref=f"{PROMPT}@1.0.0")
    assert snapshot(repo) == before
    do_review(repo)
    with pytest.raises(NotFound, match=f"{PROMPT} has no open post-review in prod"):
        do_review(repo)


def test_several_open_reviews_need_the_version_named(repo: Path) -> None:
    add_version(repo, "1.2.0")
    release(repo, "1.2.0", ["prod"], emergency=True, by=REVIEWER)
    before = snapshot(repo)
    with pytest.raises(InputError, match=r"2 open post-reviews in prod \(1\.1\.0, 1\.2\.0\)"):
        do_review(repo)
    assert snapshot(repo) == before
    # alice made the 1.2.0 move, so she may review only bob's 1.1.0.
    with pytest.raises(PermissionDenied, match="separation of duties"):
        do_review(repo, ref=f"{PROMPT}@1.2.0")
    do_review(repo, ref=f"{PROMPT}@1.1.0")
    assert [d.version for d in registry(repo).post_reviews()] == ["1.2.0"]


# --------------------------------------------------------------------------- emergency rollback


def test_an_emergency_rollback_is_due_a_post_review_too(repo: Path) -> None:
    from promptgov import RollbackOptions, rollback
    from promptgov.notify import NotifyPolicy

    options = RollbackOptions(
        reason="replies promise refunds",
        emergency=True,
        skip_evals=True,
        notify_policy=NotifyPolicy(retries=0, timeout_s=1),
    )
    rollback(registry(repo), PROMPT, options, by=REVIEWER)
    move = emergency_move(repo)
    assert move.kind is MoveKind.ROLLBACK and move.version == "1.0.0+rollback"
    assert move.post_review_due == move.at + timedelta(days=POST_REVIEW_DAYS)
    start = list(AuditLog(repo).entries(action="rollback-start"))[-1]
    assert datetime.fromisoformat(start.details["post_review_due"]) == move.post_review_due
    backdate(repo, "prod", LATE)
    res = run_cli("history", PROMPT, "--repo", repo)
    lines = [line for line in res.stderr.splitlines() if "post-review" in line]
    assert warning_line(emergency_move(repo), what="rollback") in lines
    with pytest.raises(PermissionDenied, match="separation of duties"):
        do_review(repo, ref=f"{PROMPT}@1.0.0+rollback")
    do_review(repo, by=PROMOTER, ref=f"{PROMPT}@1.0.0+rollback")
    assert [d.version for d in registry(repo).post_reviews()] == ["1.1.0"]


def test_a_plain_rollback_is_not_due_a_post_review(repo: Path) -> None:
    from promptgov import RollbackOptions, rollback
    from promptgov.notify import NotifyPolicy

    do_review(repo)
    options = RollbackOptions(reason="bad replies", notify_policy=NotifyPolicy(retries=0))
    rollback(registry(repo), PROMPT, options, by=REVIEWER)
    assert emergency_move(repo).post_review_due is None
    assert registry(repo).post_reviews() == []
