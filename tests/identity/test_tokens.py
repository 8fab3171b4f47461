"""API tokens: shown once, stored as a hash, vouched for by the audit chain, checked by verify."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from promptgov import verify
from promptgov.errors import InputError, NotAuthenticated, NotFound
from promptgov.identity import (
    TOKENS_FILE,
    Role,
    TokenOptions,
    check_tokens,
    create_token,
    list_tokens,
    revoke_token,
)
from promptgov.model import utcnow
from promptgov.repo import Repo

from ..conftest import snapshot


def test_a_token_is_stored_only_as_its_hash_and_authenticates(example_repo: Path) -> None:
    repo = Repo(example_repo)
    created = create_token(
        repo, TokenOptions(name="alice", role="approver", envs=("prod",)), by="ops"
    )
    assert created.secret.startswith(f"pgt_{created.record.id}_")
    secret = created.secret.split("_", 2)[2].encode()
    assert not any(secret in data for data in snapshot(example_repo).values())
    who = check_tokens(repo).authenticate(created.secret)
    assert (who.name, who.token_id) == ("alice", created.record.id)
    assert who.allows(Role.APPROVER, "prod") and not who.allows(Role.APPROVER, "staging")
    assert not who.allows(Role.RELEASER, "prod")
    assert verify(repo).ok


def test_revoked_and_expired_tokens_do_not_authenticate(example_repo: Path) -> None:
    repo = Repo(example_repo)
    a = create_token(repo, TokenOptions(name="a", role="viewer"), by="ops")
    b = create_token(
        repo, TokenOptions(name="b", role="viewer", expires=timedelta(hours=1)), by="ops"
    )
    revoke_token(repo, a.record.id, by="ops", reason="lost laptop")
    check = check_tokens(Repo(example_repo))
    with pytest.raises(NotAuthenticated):
        check.authenticate(a.secret)
    with pytest.raises(NotAuthenticated):
        check.authenticate(b.secret, now=utcnow() + timedelta(hours=2))
    assert check.authenticate(b.secret).name == "b"
    assert [t.state(utcnow()) for t in list_tokens(repo)] == ["revoked", "active"]
    with pytest.raises(InputError, match="already revoked"):
        revoke_token(repo, a.record.id, by="ops")
    with pytest.raises(NotFound):
        revoke_token(repo, "0" * 12, by="ops")


def test_a_line_added_or_widened_by_hand_is_ignored_and_reported(example_repo: Path) -> None:
    repo = Repo(example_repo)
    created = create_token(repo, TokenOptions(name="v", role="viewer", envs=("dev",)), by="ops")
    path = example_repo / TOKENS_FILE
    path.write_text(path.read_text().replace("role: viewer", "role: admin"))
    check = check_tokens(Repo(example_repo))
    assert check.tokens == {}
    assert check.problems == [
        f"token {created.record.id} differs from its audit entry #{created.record.audit_seq}; it is ignored"
    ]
    with pytest.raises(NotAuthenticated):
        check.authenticate(created.secret)
    report = verify(Repo(example_repo))
    assert not report.ok
    assert any(p.file == TOKENS_FILE for p in report.problems)


def test_a_revocation_removed_by_hand_stays_in_force(example_repo: Path) -> None:
    repo = Repo(example_repo)
    created = create_token(repo, TokenOptions(name="v", role="viewer"), by="ops")
    path = example_repo / TOKENS_FILE
    before = path.read_text()
    revoke_token(repo, created.record.id, by="ops")
    path.write_text(before)
    check = check_tokens(Repo(example_repo))
    with pytest.raises(NotAuthenticated):
        check.authenticate(created.secret)
    assert check.problems == [
        f"token {created.record.id} was revoked in the audit log; it stays revoked"
    ]


def test_bad_requests_are_refused_with_nothing_written(example_repo: Path) -> None:
    repo = Repo(example_repo)
    before = snapshot(example_repo)
    with pytest.raises(InputError, match="unknown role 'owner'"):
        create_token(repo, TokenOptions(name="x", role="owner"), by="ops")
    with pytest.raises(NotFound, match="unknown environment 'qa'"):
        create_token(repo, TokenOptions(name="x", role="viewer", envs=("qa",)), by="ops")
    assert snapshot(example_repo) == before


def test_cli_prints_the_token_once_and_lists_no_secret(example_repo: Path, cli) -> None:
    made = cli(
        "token",
        "create",
        "--name",
        "alice",
        "--role",
        "releaser",
        "--env",
        "prod",
        "--expires",
        "90d",
        "--by",
        "ops",
        "--repo",
        example_repo,
        "--json",
    )
    assert made.exit_code == 0, made.stdout
    data = json.loads(made.stdout)
    assert data["public_key"] == f"pgt_{data['id']}" and data["envs"] == ["prod"]
    listed = cli("token", "list", "--repo", example_repo)
    assert listed.exit_code == 0 and data["id"] in listed.stdout
    assert data["token"] not in listed.stdout
    bad = cli(
        "token",
        "create",
        "--name",
        "x",
        "--role",
        "viewer",
        "--expires",
        "soon",
        "--repo",
        example_repo,
    )
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --expires: 'soon' is not a duration")
    revoked = cli("token", "revoke", data["id"], "--by", "ops", "--repo", example_repo)
    assert revoked.exit_code == 0 and f"Revoked token {data['id']} of alice." in revoked.stdout
