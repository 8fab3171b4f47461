"""Signed approvals and pointer moves under ``require_signatures``, with real ssh-keygen keys:
what counts, what promotion refuses and names, what verify reports."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from promptgov import signed_decisions as _signatures
from promptgov import signing
from promptgov.actions.approve import ApproveOptions, approve
from promptgov.actions.gate import GateOptions, check_gate
from promptgov.actions.keys import KeyOptions, add_key, revoke_key
from promptgov.actions.promote import PromoteOptions, promote
from promptgov.actions.verify import verify
from promptgov.errors import GateFailed, PermissionDenied
from promptgov.model import utcnow

from ..flows import (
    APPROVER,
    PROMPT,
    add_version,
    change_policy,
    edit_config,
    env_config,
    registry,
    release,
)
from ..signing.test_sshsig import keygen, ssh_verify

REF = f"{PROMPT}@1.0.0"


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    kd = tmp_path / "keys"
    kd.mkdir()
    return {who: keygen(kd, who) for who in ("alice", "bob", "carol", "mallory")}


def _require(
    root: Path,
    keys: dict[str, Path],
    *,
    required: int = 1,
    extra: str = "",
    managers: tuple[str, ...] = ("alice", "bob"),
) -> None:
    def edit(r: Path) -> None:
        def cfg(doc):  # type: ignore[no-untyped-def]
            doc["allowed_signers"] = "allowed_signers"
            prod = env_config(doc, "prod")
            prod["require_signatures"] = True
            prod["approvals"]["required"] = required
            doc["groups"]["release-managers"] = list(managers)

        edit_config(r, cfg)
        for who in ("alice", "bob", "carol"):
            add_key(
                registry(r).repo,
                who if who != "alice" else "alice" + extra,
                f"{keys[who]}.pub",
                KeyOptions(),
            )

    change_policy(root, edit)


@pytest.fixture
def signed_repo(example_repo: Path, keys: dict[str, Path]) -> Path:
    """1.0.0 serving in dev and staging, gated for prod, which requires signatures."""
    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0", ("dev", "staging"))
    _require(example_repo, keys)
    check_gate(registry(example_repo), REF, GateOptions(env="prod"))
    return example_repo


def _approve(root: Path, who: str, key: Path | None, env: str = "prod"):  # type: ignore[no-untyped-def]
    return approve(
        registry(root), REF, ApproveOptions(env=env, sign_with=str(key) if key else None), by=who
    )


def _promote(root: Path, key: Path | None, by: str = APPROVER):  # type: ignore[no-untyped-def]
    options = PromoteOptions(to="prod", reason="release", sign_with=str(key) if key else None)
    return promote(registry(root), REF, options, by=by)


def test_signed_approval_and_move_promote_and_verify_with_ssh_keygen(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    a = _approve(signed_repo, "alice", keys["alice"])
    res = _promote(signed_repo, keys["alice"])
    assert res.move.signed is not None and a.signed is not None
    assert res.move.approvers == ["alice"]
    report = verify(registry(signed_repo).repo)
    assert report.ok, report.problems
    assert report.checked["signatures"] == 2
    for signed in (a.signed, res.move.signed):
        done = ssh_verify(
            signed_repo,
            "alice",
            Path(f"{keys['alice']}.pub"),
            signed.statement.encode(),
            signed.signature,
        )
        assert done.returncode == 0, done.stderr


def test_unsigned_approval_or_move_is_refused_where_required(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    with pytest.raises(
        PermissionDenied, match=r"alice's approval of support-reply@1.0.0 for prod must be signed"
    ):
        _approve(signed_repo, "alice", None)
    _approve(signed_repo, "alice", keys["alice"])
    with pytest.raises(
        PermissionDenied, match="the move of prod to support-reply@1.0.0 must be signed"
    ):
        _promote(signed_repo, None)


def test_key_not_in_allowed_signers_or_of_another_person_is_refused(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    with pytest.raises(PermissionDenied, match=r"key SHA256:\S+ is not in the allowed signers"):
        _approve(signed_repo, "alice", keys["mallory"])
    with pytest.raises(PermissionDenied, match=r"is not alice's key"):
        _approve(signed_repo, "alice", keys["bob"])


def test_revoked_key_stops_counting_from_its_date_not_before(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    _approve(signed_repo, "alice", keys["alice"])
    change_policy(signed_repo, lambda r: revoke_key(registry(r).repo, "alice"))
    time.sleep(1.05)  # the file keeps whole seconds; the revocation starts at the next one
    # What alice signed before the revocation still counts; her key signs nothing new.
    with pytest.raises(PermissionDenied, match="revoked or expired"):
        _promote(signed_repo, keys["alice"])
    res = _promote(signed_repo, keys["bob"], by="bob")
    assert res.move.approvers == ["alice"]


def test_approval_signed_before_the_key_is_removed_no_longer_counts(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    _approve(signed_repo, "alice", keys["alice"])

    def drop_alice(r: Path) -> None:
        path = r / "allowed_signers"
        path.write_text(
            "".join(ln for ln in path.read_text().splitlines(True) if not ln.startswith("alice"))
        )

    change_policy(signed_repo, drop_alice)
    with pytest.raises(
        GateFailed, match=r"alice's approval: key SHA256:\S+ is not in the allowed signers"
    ):
        _promote(signed_repo, keys["bob"], by="bob")
    problems = [str(p) for p in verify(registry(signed_repo).repo).problems]
    assert any("support-reply@1.0.0 approval by alice for prod: key" in p for p in problems), (
        problems
    )


def test_one_key_under_two_spellings_counts_once(example_repo: Path, keys: dict[str, Path]) -> None:
    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0", ("dev", "staging"))
    _require(
        example_repo,
        keys,
        required=2,
        extra=",alice.smith",
        managers=("alice", "alice.smith", "bob"),
    )
    check_gate(registry(example_repo), REF, GateOptions(env="prod"))
    _approve(example_repo, "alice", keys["alice"])
    _approve(example_repo, "alice.smith", keys["alice"])
    with pytest.raises(GateFailed, match=r"alice.smith's approval: signed with the key alice used"):
        _promote(example_repo, keys["bob"], by="bob")


def test_author_key_is_self_approval_whatever_the_spelling(
    example_repo: Path, keys: dict[str, Path]
) -> None:
    # carol wrote 1.0.0; her key also carries the name "cc", which the policy allows.
    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0", ("dev", "staging"))
    _require(example_repo, keys)

    def give_carol_cc(r: Path) -> None:
        edit_config(r, lambda d: d["groups"].__setitem__("release-managers", ["alice", "cc"]))
        add_key(registry(r).repo, "cc", f"{keys['carol']}.pub", KeyOptions())
        text = (
            (r / "allowed_signers")
            .read_text()
            .replace("\ncc ", "\ncc,carol ")
            .replace("carol ssh", "carol,cc ssh", 1)
        )
        (r / "allowed_signers").write_text(text)

    change_policy(example_repo, give_carol_cc)
    check_gate(registry(example_repo), REF, GateOptions(env="prod"))
    _approve(example_repo, "cc", keys["carol"])
    with pytest.raises(
        GateFailed, match=r"cc's approval: its key also belongs to the author carol"
    ):
        _promote(example_repo, keys["alice"])


def _forged(signed_repo: Path, key: Path, **change: object) -> signing.SignatureCheck:
    """An approval whose statement says ``change`` instead of the record, checked as the
    record's signature."""
    reg = registry(signed_repo)
    rec = reg.entry(PROMPT).versions[0]
    a = _approve(signed_repo, "alice", key)
    from dataclasses import replace

    honest = _signatures.approval_decision(PROMPT, rec, a)
    forged = signing.sign_decision(replace(honest, **change), key)
    return signing.check(forged, honest, _signatures.signers(reg.repo))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"sha256": "0" * 64}, "over another content"),
        ({"env": "staging"}, "for environment staging, not prod"),
        ({"version": "1.0.1"}, "for version 1.0.1, not 1.0.0"),
        ({"prompt": "other"}, "about prompt other"),
        ({"action": "promote"}, "for action promote"),
    ],
)
def test_statement_that_binds_another_fact_is_refused(
    signed_repo: Path, keys: dict[str, Path], change: dict[str, object], why: str
) -> None:
    result = _forged(signed_repo, keys["alice"], **change)
    assert not result.ok and why in result.why


def test_replayed_approval_on_new_content_with_the_same_version_is_refused(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    reg = registry(signed_repo)
    old = reg.entry(PROMPT).versions[0]
    a = _approve(signed_repo, "alice", keys["alice"])
    new_content = old.model_copy(update={"sha256": "f" * 64})
    result = signing.check(
        a.signed,
        _signatures.approval_decision(PROMPT, new_content, a),
        _signatures.signers(reg.repo),
    )
    assert not result.ok and "over another content" in result.why


def test_statement_altered_after_signing_is_reported(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    a = _approve(signed_repo, "alice", keys["alice"])
    assert a.signed is not None
    altered = a.signed.model_copy(
        update={"statement": a.signed.statement.replace('"reason":""', '"reason":"x"')}
    )
    reg = registry(signed_repo)
    rec = reg.entry(PROMPT).versions[0]
    result = signing.check(
        altered, _signatures.approval_decision(PROMPT, rec, a), _signatures.signers(reg.repo)
    )
    assert not result.ok and "altered" in result.why


def test_approval_added_by_editing_yaml_is_reported_and_refused(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    path = signed_repo / "schemas/prompt-version-schema.yml"
    text = path.read_text()
    stamp = (utcnow() - timedelta(minutes=1)).isoformat()
    forged = f"      approvals:\n      - env: prod\n        by: alice\n        at: '{stamp}'\n"
    assert "      approvals:\n" in text
    path.write_text(text.replace("      approvals:\n", forged, 1))
    report = verify(registry(signed_repo).repo)
    assert not report.ok
    assert any("approval by alice for prod: it is unsigned" in str(w) for w in report.warnings)
    with pytest.raises(Exception, match="audit"):
        _promote(signed_repo, keys["alice"])


def test_signature_made_by_plain_ssh_keygen_counts(
    signed_repo: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    reg = registry(signed_repo)
    rec = reg.entry(PROMPT).versions[0]
    a = _approve(signed_repo, "alice", keys["alice"])
    decision = _signatures.approval_decision(PROMPT, rec, a)
    from promptgov.hashing import canonical_json
    from promptgov.model import SignedStatement

    msg = tmp_path / "statement.json"
    msg.write_bytes(canonical_json(decision.statement()))
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "promptgov", "-f", str(keys["alice"]), str(msg)],
        check=True,
        timeout=30,
    )
    signed = SignedStatement(
        statement=msg.read_text(), signature=(tmp_path / "statement.json.sig").read_text()
    )
    assert signing.check(signed, decision, _signatures.signers(reg.repo)).ok


def test_rollback_authorization_is_signed_where_required(
    example_repo: Path, keys: dict[str, Path]
) -> None:
    from promptgov.actions.rollback import RollbackOptions, rollback

    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0")
    add_version(example_repo, "1.1.0", note="A second release.")
    release(example_repo, "1.1.0", ("dev", "staging"))
    _require(example_repo, keys)
    check_gate(registry(example_repo), f"{PROMPT}@1.1.0", GateOptions(env="prod"))
    approve(
        registry(example_repo),
        f"{PROMPT}@1.1.0",
        ApproveOptions(env="prod", sign_with=str(keys["alice"])),
        by="alice",
    )
    promote(
        registry(example_repo),
        f"{PROMPT}@1.1.0",
        PromoteOptions(to="prod", reason="r", sign_with=str(keys["alice"])),
        by="alice",
    )
    with pytest.raises(
        PermissionDenied, match="bob's authorization of the rollback of prod must be signed"
    ):
        rollback(registry(example_repo), PROMPT, RollbackOptions(reason="bad"), by="bob")
    res = rollback(
        registry(example_repo),
        PROMPT,
        RollbackOptions(reason="bad", sign_with=str(keys["bob"])),
        by="bob",
    )
    failed = [line.task for line in res.checklist if not line.ok]
    assert failed == ["Stakeholders notified"]  # the example configures no targets
    move = registry(example_repo).entry(PROMPT).environments["prod"].history[-1]
    assert move.signed is not None and '"action":"rollback"' in move.signed.statement
    report = verify(registry(example_repo).repo)
    assert not report.problems, report.problems


def test_cli_keys_sign_with_and_attest_export_checked_by_ssh_keygen(
    signed_repo: Path, keys: dict[str, Path], tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    listed = cli("keys", "list", "--repo", signed_repo, "--json")
    assert listed.exit_code == 0
    assert [r["principals"] for r in json.loads(listed.stdout)] == [["alice"], ["bob"], ["carol"]]
    denied = cli("approve", REF, "--env", "prod", "--by", "alice", "--repo", signed_repo)
    assert denied.exit_code == 2
    assert "alice's approval of support-reply@1.0.0 for prod must be signed" in denied.stderr
    monkeypatch.setenv("PROMPTGOV_SIGNING_KEY", str(keys["alice"]))
    assert (
        cli("approve", REF, "--env", "prod", "--by", "alice", "--repo", signed_repo).exit_code == 0
    )
    done = cli(
        "promote", REF, "--to", "prod", "--by", "alice", "--reason", "go", "--repo", signed_repo
    )
    assert done.exit_code == 0, done.stderr
    bundle = tmp_path / "bundle"
    out = cli("attest", "export", f"{PROMPT}@prod", "-o", bundle, "--repo", signed_repo, "--json")
    assert out.exit_code == 0, out.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [s["action"] for s in manifest["statements"]] == ["approve", "promote"]
    readme = (bundle / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("ssh-keygen -Y verify")]
    assert len(commands) == 2
    for command in commands:
        ran = subprocess.run(command, shell=True, cwd=bundle, capture_output=True, timeout=30)
        assert ran.returncode == 0, ran.stderr
        assert b'Good "promptgov" signature for alice' in ran.stdout
    # Every DSSE envelope verifies with securesystemslib, a third-party DSSE verifier.
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    for entry in manifest["statements"]:
        raw = base64.b64decode(entry["public_key"].split()[1])[-32:]
        key = SSlibKey(entry["fingerprint"], "ed25519", "ed25519", {"public": raw.hex()})
        envelope = Envelope.from_dict(json.loads((bundle / entry["dsse"]).read_text()))
        assert key.keyid in envelope.verify([key], 1)
        assert json.loads(envelope.pae().split(b" ", 4)[4]) == json.loads(
            (bundle / entry["file"]).read_text()
        )
    # A statement altered in the bundle fails the same command.
    first = bundle / manifest["statements"][0]["file"]
    first.write_text(first.read_text().replace('"prod"', '"dev"'))
    ran = subprocess.run(commands[0], shell=True, cwd=bundle, capture_output=True, timeout=30)
    assert ran.returncode != 0


def test_sdk_require_signed_keeps_serving_the_signed_version(
    example_repo: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    from promptgov.sdk import PromptClient

    def signers_only(r: Path) -> None:
        edit_config(r, lambda d: d.__setitem__("allowed_signers", "allowed_signers"))
        for who in ("alice", "bob"):
            add_key(registry(r).repo, who, f"{keys[who]}.pub", KeyOptions())

    change_policy(example_repo, signers_only)
    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0", ("dev", "staging"))
    reg = registry(example_repo)
    check_gate(reg, REF, GateOptions(env="prod"))
    _approve(example_repo, "alice", keys["alice"])
    _promote(example_repo, keys["alice"])
    clock = [0.0]
    client = PromptClient(
        example_repo,
        env="prod",
        cache_dir=tmp_path / "cache",
        require_signed=True,
        clock=lambda: clock[0],
    )
    assert client.get(PROMPT).version == "1.0.0"
    add_version(example_repo, "1.1.0", note="Unsigned release.")
    release(example_repo, "1.1.0")  # approved and promoted without signatures
    clock[0] += 3600
    served = client.get(PROMPT)
    assert served.version == "1.0.0" and served.source == "stale"
    assert served.error is not None
    assert "not switching to support-reply@1.1.0: the move of prod" in served.error
    assert "it is unsigned" in served.error
    unsigned = PromptClient(example_repo, env="prod", cache_dir=tmp_path / "c2")
    assert unsigned.get(PROMPT).version == "1.1.0"


def test_git_sign_signs_the_promotion_commit_with_the_deciding_key(
    example_repo: Path, keys: dict[str, Path]
) -> None:
    from ..flows import git, git_init

    git_init(example_repo)
    add_version(example_repo, "1.0.0")
    release(example_repo, "1.0.0", ("dev", "staging"))
    _require(example_repo, keys)
    change_policy(
        example_repo, lambda r: edit_config(r, lambda d: d["git"].__setitem__("sign", True))
    )
    check_gate(registry(example_repo), REF, GateOptions(env="prod"))
    _approve(example_repo, "alice", keys["alice"])
    res = _promote(example_repo, keys["alice"])
    assert res.git_commit is not None
    done = subprocess.run(
        [
            "git",
            "-c",
            "gpg.ssh.allowedSignersFile=allowed_signers",
            "verify-commit",
            res.git_commit,
        ],
        cwd=example_repo,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert 'Good "git" signature for alice' in done.stderr
    assert "Promptgov-Action: promote" in git(
        example_repo, "log", "-1", "--format=%B", res.git_commit
    )


def test_upgrade_names_the_signers_file_and_lists_unsigned_decisions(
    served_repo: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    before = (served_repo / "schemas/prompt-version-schema.yml").read_bytes()
    out = cli("keys", "upgrade", "--repo", served_repo, "--json")
    assert out.exit_code == 0, out.stderr
    up = json.loads(out.stdout)
    assert up["written"] == ["promptgov.yml", "allowed_signers"]
    assert "support-reply@1.0.0 approval by alice for prod" in up["unsigned"]
    assert any(u.startswith("support-reply prod move #1 to 1.0.0 by alice") for u in up["unsigned"])
    assert up["bad"] == []
    assert (served_repo / "schemas/prompt-version-schema.yml").read_bytes() == before
    # The edit is a policy change like any other: applied, the repository verifies.
    change_policy(served_repo, lambda r: None)
    report = verify(registry(served_repo).repo)
    assert report.ok, report.problems
    assert cli("keys", "upgrade", "--repo", served_repo, "--json").exit_code == 0


def test_emergency_move_and_its_post_review_are_signed(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    from promptgov.actions.review import ReviewOptions, review

    options = PromoteOptions(
        to="prod", reason="incident", emergency=True, sign_with=str(keys["alice"])
    )
    res = promote(registry(signed_repo), REF, options, by="alice")
    assert res.move.signed is not None and '"action":"emergency"' in res.move.signed.statement
    with pytest.raises(
        PermissionDenied, match="bob's post-review of the prod move #1 must be signed"
    ):
        review(registry(signed_repo), PROMPT, ReviewOptions(env="prod", reason="fine"), by="bob")
    done = review(
        registry(signed_repo),
        PROMPT,
        ReviewOptions(env="prod", reason="fine", sign_with=str(keys["bob"])),
        by="bob",
    )
    assert done.review.signed is not None
    report = verify(registry(signed_repo).repo)
    assert report.ok, report.problems
    assert not report.warnings, report.warnings


def test_gate_verdict_is_signed_over_the_results_file(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    check_gate(
        registry(signed_repo), REF, GateOptions(env="prod", by="bob", sign_with=str(keys["bob"]))
    )
    rec = registry(signed_repo).entry(PROMPT).versions[0]
    signed = rec.gate_results[-1].signed
    assert signed is not None and '"results_sha256":"' in signed.statement
    assert verify(registry(signed_repo).repo).ok
    # Eval results edited after the verdict: the signature no longer covers them.
    output = signed_repo / rec.eval_runs[-1].output
    output.write_bytes(output.read_bytes() + b" ")
    problems = [str(p) for p in verify(registry(signed_repo).repo).problems]
    assert any(
        "gate verdict for prod by bob: its signed statement is over other eval results" in p
        for p in problems
    ), problems


def test_eval_run_is_signed_by_the_ci_key_over_its_output(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    from promptgov.actions.evaluate import run_version_eval

    outcome = run_version_eval(registry(signed_repo), REF, by="carol", sign_with=str(keys["carol"]))
    assert outcome.run.signed is not None
    assert f'"results_sha256":"{outcome.run.output_sha256}"' in outcome.run.signed.statement
    report = verify(registry(signed_repo).repo)
    assert report.ok, report.problems
    with pytest.raises(PermissionDenied, match="is not bob's key"):
        run_version_eval(registry(signed_repo), REF, by="bob", sign_with=str(keys["carol"]))


def test_complaint_flag_and_quarantine_clear_are_signed(
    signed_repo: Path, keys: dict[str, Path]
) -> None:
    from promptgov.actions.feedback import (
        ClearOptions,
        ComplaintOptions,
        FlagOptions,
        clear_quarantine,
        flag_version,
        report_complaint,
    )
    from promptgov.audit import AuditLog

    complaint = report_complaint(
        registry(signed_repo),
        PROMPT,
        ComplaintOptions(complaint="rude", env="staging", sign_with=str(keys["carol"])),
        by="carol",
    )
    assert complaint.signed is not None and '"action":"complaint"' in complaint.signed.statement
    flagged = flag_version(
        registry(signed_repo), REF, FlagOptions(reason="odd", sign_with=str(keys["bob"])), by="bob"
    )
    assert flagged.quarantine is not None and flagged.quarantine.signed is not None
    assert verify(registry(signed_repo).repo).ok
    with pytest.raises(PermissionDenied, match="alice's clearing of the quarantine must be signed"):
        clear_quarantine(registry(signed_repo), REF, ClearOptions(reason="fine"), by="alice")
    clear_quarantine(
        registry(signed_repo),
        REF,
        ClearOptions(reason="fine", sign_with=str(keys["alice"])),
        by="alice",
    )
    entry = list(AuditLog(signed_repo).entries())[-1]
    done = ssh_verify(
        signed_repo,
        "alice",
        Path(f"{keys['alice']}.pub"),
        entry.details["signed"]["statement"].encode(),
        entry.details["signed"]["signature"],
    )
    assert done.returncode == 0, done.stderr
