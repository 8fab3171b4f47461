"""Policy is governed too: the gate file, the suites and promptgov.yml change only through an
approved policy change, judged by the policy in force before it (SOC 2 CC8.1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from promptgov import GateOptions, Registry, check_gate
from promptgov.actions._policy_files import PolicyDrift, governed_set, require_policy_in_force
from promptgov.actions._policy_ledger import Manifest
from promptgov.actions.policy import (
    ApplyOptions,
    PolicyApproveOptions,
    ProposeOptions,
    apply_policy,
    approve_policy,
    policy_status,
    propose_policy,
)
from promptgov.actions.verify import verify
from promptgov.audit import AuditLog
from promptgov.errors import CheckFailed, Conflict, InvalidFile, PermissionDenied
from promptgov.model import GateVerdict, ProjectConfig
from promptgov.repo import Repo

from .. import flows
from ..conftest import run_cli, snapshot
from ..flows import EMPATHY_LINE, PROMPT, git
from .test_merge import _commit, _pull, clones, seed  # noqa: F401

REF = f"{PROMPT}@1.0.0"
GATE = "ci/eval-gate.yml"
SUITE = "evals/eval-config.promptfoo.yml"


@pytest.fixture
def failing(example_repo: Path) -> Path:
    """support-reply@1.0.0 evaluated: it never apologizes, so every test fails its gate."""
    flows.add_version(example_repo, "1.0.0", remove=[EMPATHY_LINE])
    flows.evaluate(example_repo, "1.0.0")
    return example_repo


def weaken_gate(root: Path) -> None:
    """Let anything through: every pass rate threshold to zero (edited by hand)."""
    path = root / GATE
    doc = yaml.safe_load(path.read_text())
    doc["defaults"]["min_pass_rate"] = 0.0
    for rules in doc["environments"].values():
        rules["min_pass_rate"] = 0.0
    path.write_text(yaml.safe_dump(doc))


def refused(root: Path, *args: str, code: int = 1) -> str:
    """Run a CLI command that must be refused and leave the repository byte-identical."""
    before = snapshot(root)
    res = run_cli(*args, "--repo", root)
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert snapshot(root) == before
    assert "Traceback" not in res.stderr
    return " ".join(res.stderr.split())


def problems(root: Path) -> list[str]:
    """What verify finds, but the generated docs a hand edit leaves stale."""
    return [str(p) for p in verify(Repo(root)).problems if not p.file.startswith("docs/")]


# --------------------------------------------------------------------------- by hand


def test_weakening_the_gate_by_hand_is_refused_by_every_decision_and_reported(
    failing: Path,
) -> None:
    weaken_gate(failing)
    drifted = (
        "error: the policy differs from what audit entry #1 put in force (ci/eval-gate.yml "
        "changed), so nothing was decided: restore the files, or have the change approved and "
        "applied as a policy change. Run 'promptgov policy propose' (see 'promptgov policy "
        "status')."
    )
    assert refused(failing, "gate", REF, "--env", "dev") == drifted
    promote = ("promote", REF, "--to", "dev", "--by", "alice", "--reason", "r")
    assert refused(failing, *promote) == drifted
    assert refused(failing, "eval", REF) == drifted  # a recorded run is evidence
    assert problems(failing) == [
        f"{GATE}: differs from the policy audit entry #1 put in force, and no policy change "
        "records it; record it with 'promptgov policy propose' or restore it"
    ]
    status = policy_status(Repo(failing))
    assert [(f.path, f.kind) for f in status.files] == [(GATE, "changed")]


def test_a_served_repo_refuses_rollback_approval_and_review_on_an_edited_config(
    served_repo: Path,
) -> None:
    flows.edit_config(served_repo, lambda doc: flows.env_config(doc, "prod").update(approvals={}))
    rollback = ("rollback", PROMPT, "--reason", "r", "--authorized-by", "alice")
    for args in (
        rollback,
        (*rollback, "--dry-run"),
        ("approve", REF, "--env", "prod", "--by", "bob"),
    ):
        message = refused(served_repo, *args)
        assert "(promptgov.yml changed)" in message and "promptgov policy propose" in message
    assert problems(served_repo)[0].startswith("promptgov.yml: differs from the policy")


def test_editing_adding_or_deleting_a_suite_file_by_hand_is_caught(failing: Path) -> None:
    suite = failing / SUITE
    doc = yaml.safe_load(suite.read_text())
    doc["tests"] = doc["tests"][:1]  # keep only the easiest test
    suite.write_text(yaml.safe_dump(doc))
    (failing / "evals/extra.yml").write_text("tests: []\n")
    (failing / "evals/model_stub.py").unlink()
    # caches the tools write beside a suite are not policy
    (failing / "evals/__pycache__").mkdir()
    (failing / "evals/__pycache__/model_stub.cpython-311.pyc").write_bytes(b"\0")
    message = refused(failing, "gate", REF, "--env", "dev")
    assert (
        "(evals/eval-config.promptfoo.yml changed, evals/extra.yml added, "
        "evals/model_stub.py deleted)" in message
    )
    assert problems(failing) == [
        "evals/eval-config.promptfoo.yml: differs from the policy audit entry #1 put in force, "
        "and no policy change records it; record it with 'promptgov policy propose' or restore it",
        "evals/extra.yml: is not part of the policy audit entry #1 put in force, and no policy "
        "change records it; record it with 'promptgov policy propose' or restore it",
        "evals/model_stub.py: is missing from the policy audit entry #1 put in force, and no "
        "policy change records it; record it with 'promptgov policy propose' or restore it",
    ]


# --------------------------------------------------------------------------- the proper flow


def test_propose_approve_apply_puts_the_new_thresholds_in_force(failing: Path) -> None:
    assert check_gate(Registry(failing), REF, GateOptions(env="dev")).verdict is GateVerdict.FAIL
    weaken_gate(failing)
    status = json.loads(run_cli("policy", "status", "--json", "--repo", failing).stdout)
    assert status["in_force_seq"] == 1 and not status["in_force"]
    assert [(f["path"], f["kind"]) for f in status["files"]] == [(GATE, "changed")]
    # the comments went with the hand edit: 6 lines out, 4 in
    assert (status["files"][0]["added"], status["files"][0]["removed"]) == (4, 6)
    diff = run_cli("policy", "status", "--diff", "--repo", failing).stdout
    assert "-    min_pass_rate: 0.8\n" in diff and "+    min_pass_rate: 0.0\n" in diff

    res = run_cli(
        "policy", "propose", "--reason", "let 1.0.0 in", "--by", "carol", "--repo", failing
    )
    assert res.exit_code == 0, res.stderr
    assert "approvals: 0 of 1 (none)" in res.stdout
    # still refused until approved and applied
    assert "nothing was decided" in refused(failing, "gate", REF, "--env", "dev")
    short = refused(failing, "policy", "apply", "--by", "carol")
    assert short.startswith("error: policy change #5 has 0 of the approvals the policy in force")

    res = run_cli("policy", "approve", "--by", "alice", "--repo", failing)
    assert res.exit_code == 0 and "ready to apply" in res.stdout, res.stderr
    res = run_cli("policy", "apply", "--by", "carol", "--repo", failing)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"Applied policy change #5 ({GATE}), approved by alice")

    assert verify(Repo(failing)).ok, problems(failing)
    assert policy_status(Repo(failing)).in_force
    entry = list(AuditLog(failing).entries(action="policy-change"))[-1]
    assert entry.approvers == ["alice"] and entry.reason == "let 1.0.0 in"
    # the new thresholds apply, to the same recorded run
    assert check_gate(Registry(failing), REF, GateOptions(env="dev")).verdict is GateVerdict.PASS


def test_approvals_short_of_the_old_policy_are_refused_though_the_new_one_needs_none(
    example_repo: Path,
) -> None:
    root = example_repo

    def anyone_approves(doc: Any) -> None:
        for env in doc["environments"]:
            env["approvals"] = {"required": 0, "allow_self_approval": True}

    flows.edit_config(root, anyone_approves)
    repo = Repo(root)
    proposal = propose_policy(repo, ProposeOptions(reason="fewer approvals"), by="alice")
    assert (proposal.required, proposal.approvers) == (1, [])
    with pytest.raises(PermissionDenied, match="dave may not approve policy changes"):
        approve_policy(Repo(root), PolicyApproveOptions(), by="dave")
    with pytest.raises(PermissionDenied, match="alice proposed policy change #2 and may not"):
        approve_policy(Repo(root), PolicyApproveOptions(), by="alice")
    before = snapshot(root)
    with pytest.raises(CheckFailed, match=r"has 0 of the approvals .* as for prod"):
        apply_policy(Repo(root), ApplyOptions(), by="alice")
    assert snapshot(root) == before

    approve_policy(Repo(root), PolicyApproveOptions(), by="bob")
    apply_policy(Repo(root), ApplyOptions(), by="alice")
    # from now on the lowered bar is the policy in force: the next change needs nobody
    flows.change_policy(root, lambda r: weaken_gate(r), by="dave", approvers=())
    assert verify(Repo(root)).ok, problems(root)


def test_an_approval_binds_the_proposed_bytes(failing: Path) -> None:
    weaken_gate(failing)
    propose_policy(Repo(failing), ProposeOptions(reason="r"), by="carol")
    with (failing / GATE).open("a") as fh:
        fh.write("# and one more thing\n")
    with pytest.raises(Conflict, match=f"{GATE} changed since policy change #4 was proposed"):
        approve_policy(Repo(failing), PolicyApproveOptions(), by="alice")
    # proposing again supersedes the stale proposal
    again = propose_policy(Repo(failing), ProposeOptions(reason="r"), by="carol")
    assert again.seq == 5 and again.blocker is None
    approve_policy(Repo(failing), PolicyApproveOptions(), by="alice")
    apply_policy(Repo(failing), ApplyOptions(), by="carol")
    require_policy_in_force(Repo(failing))


def test_a_python_caller_is_told_what_changed_without_command_line_advice(
    failing: Path,
) -> None:
    weaken_gate(failing)
    with pytest.raises(CheckFailed) as info:
        check_gate(Registry(failing), REF, GateOptions(env="dev"))
    assert "ci/eval-gate.yml changed" in info.value.message
    assert "promptgov " not in info.value.message and info.value.context["file"] == GATE
    assert info.value.cli_hint == "Run 'promptgov policy propose' (see 'promptgov policy status')."


def test_nothing_to_propose_and_a_bad_policy_are_refused(example_repo: Path) -> None:
    assert "nothing to propose" in refused(
        example_repo, "policy", "propose", "--reason", "r", "--by", "carol", code=2
    )
    (example_repo / GATE).write_text("defaults: {min_pass_rate: lots}\n")
    assert "ci/eval-gate.yml" in refused(
        example_repo, "policy", "propose", "--reason", "r", "--by", "carol", code=2
    )


# --------------------------------------------------------------------------- verify


def test_verify_reports_a_policy_change_that_skipped_its_approvals(failing: Path) -> None:
    """A policy-change entry appended without the approvals of the policy before it."""
    weaken_gate(failing)
    proposal = propose_policy(Repo(failing), ProposeOptions(reason="r"), by="carol")
    manifest_sha = next(AuditLog(failing).entries(action="policy-propose")).details["manifest"]
    manifest = Manifest.decode(Repo(failing).store.objects.get_file(manifest_sha))
    AuditLog(failing).append(
        action="policy-change",
        actor="carol",
        reason="r",
        details={
            "proposal_seq": proposal.seq,
            "manifest": manifest_sha,
            "state": {"policy": manifest.policy},
        },
    )
    require_policy_in_force(Repo(failing))  # the forged entry fools the fast check…
    assert problems(failing) == [  # …not verify
        "audit/artifact-audit-log.md: entry #5 (policy-change) has 0 of the approvals the "
        "policy in force before it (entry #1) requires: 1 approval by @release-managers (the "
        "proposer's own does not count), as for prod"
    ]


def test_verify_reports_a_policy_recorded_by_another_action(failing: Path) -> None:
    weaken_gate(failing)
    AuditLog(failing).append(
        action="regenerate", actor="promptgov", reason="docs", details={"state": {"policy": {}}}
    )
    assert (
        "audit/artifact-audit-log.md: entry #4 (regenerate) puts a new policy in force "
        "without a policy change"
    ) in problems(failing)


# --------------------------------------------------------------------------- properties

_segment = st.text("abc._-", min_size=1, max_size=6)
_path = st.lists(_segment, min_size=1, max_size=4).map("/".join)


@settings(max_examples=200, deadline=None)
@given(listing=st.lists(st.one_of(_path, _path.map(lambda p: f"evals/{p}")), max_size=20))
def test_the_governed_set_is_the_named_files_and_the_visible_suite_files(
    listing: list[str],
) -> None:
    config = ProjectConfig(eval_suites={"x": "suites/x.yml"})
    got = governed_set(config, listing)
    assert got == sorted(set(got))
    named = {"promptgov.yml", GATE, SUITE, "suites/x.yml"}
    assert named <= set(got)
    for rel in set(got) - named:
        assert rel in listing and rel.startswith("evals/")
        assert not any(part.startswith(".") or part == "__pycache__" for part in rel.split("/"))
    for rel in listing:
        hidden = any(p.startswith(".") for p in rel.split("/"))
        if rel.startswith("evals/") and not hidden and not rel.endswith(".pyc"):
            assert rel in got


_digests = st.dictionaries(_path, st.one_of(st.none(), st.text("0123456789abcdef", max_size=64)))


@settings(max_examples=200, deadline=None)
@given(base=_digests, policy=_digests)
def test_a_manifest_round_trips_and_its_changes_are_the_differing_files(
    base: dict[str, str | None], policy: dict[str, str | None]
) -> None:
    manifest = Manifest(base, policy)
    assert Manifest.decode(manifest.encode()) == manifest
    changes = PolicyDrift(None, base, policy).changes
    assert [c.path for c in changes] == sorted(
        p for p in set(base) | set(policy) if base.get(p) != policy.get(p)
    )


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_a_malformed_manifest_is_an_invalid_file(data: bytes) -> None:
    try:
        Manifest.decode(data)
    except InvalidFile:
        pass


def test_a_log_from_before_policy_commitments_adopts_its_files_by_a_policy_change(
    example_repo: Path,
) -> None:
    root = example_repo
    (root / "audit/artifact-audit-log.md").unlink()  # rewritten as an older promptgov did
    shutil.rmtree(root / ".promptgov/cache", ignore_errors=True)
    AuditLog(root).append(action="init", actor="promptgov", reason="old", details={"state": {}})
    report = verify(Repo(root))
    assert report.ok and [str(w) for w in report.warnings] == [
        "audit/artifact-audit-log.md: records no policy files (written before policy "
        "commitments); adopt them with 'promptgov policy propose', approve and apply"
    ]
    with pytest.raises(CheckFailed, match="the audit log records no policy files"):
        require_policy_in_force(Repo(root))
    flows.change_policy(root, lambda r: None, reason="adopt the policy")
    require_policy_in_force(Repo(root))
    assert verify(Repo(root), strict=True).ok, problems(root)


def test_a_policy_change_from_another_clone_is_replayed_in_force(
    clones: tuple[Path, Path],  # noqa: F811
) -> None:
    """The merge driver renumbers alice's policy entries after bob's: they still verify."""
    alice, bob = clones
    flows.change_policy(alice, weaken_gate, by="carol", approvers=("bob",))
    _commit(alice, "weaken the gate, approved by bob")
    git(alice, "push", "-q")
    flows.add_version(bob, "1.1.0")
    _commit(bob, "register 1.1.0")

    pulled = _pull(bob)
    assert pulled.returncode == 0, pulled.stderr
    assert verify(Repo(bob)).ok, problems(bob)
    change = next(AuditLog(bob).entries(action="policy-change"))
    proposal = next(AuditLog(bob).entries(action="policy-propose"))
    assert change.details["proposal_seq"] == proposal.seq > 5  # renumbered after bob's entry
    require_policy_in_force(Repo(bob))
    rules = json.loads(run_cli("policy", "status", "--json", "--repo", bob).stdout)
    assert rules["in_force"] and rules["in_force_seq"] == change.seq
