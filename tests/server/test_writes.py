"""Writes through a real server: each one the library's action with the token holder as
the actor, under the role boundaries, with 422/404/409 answers that name what is wrong."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from promptgov import Registry
from promptgov.audit import AuditLog
from promptgov.identity import revoke_token
from promptgov.repo import Repo

from ..flows import PROMPT, add_version
from .conftest import Served, start


@pytest.fixture(scope="module")
def server(released: Path) -> Iterator[Served]:
    """A server of its own: these tests change the repository."""
    add_version(released, "1.2.0")  # by carol, not yet evaluated
    yield from start(released)


def _source(root: Path) -> dict[str, object]:
    v = Registry(root).get(f"{PROMPT}@1.2.0")
    return {
        "template": (v.content.template or "") + "Thank them for their patience.\n",
        "model": v.content.model.model_dump(),
        "variables": [x.model_dump() for x in v.content.variables],
        "card": v.card.model_dump(),
    }


def test_viewer_cannot_promote_and_the_answer_names_the_role(server: Served) -> None:
    with server.client("viewer") as c:
        r = c.post(
            f"/v1/prompts/{PROMPT}/promotions",
            json={"version": "1.2.0", "to": "dev", "reason": "x"},
        )
    assert r.status_code == 403
    assert r.json()["detail"] == (
        "victor may not promote in dev: it needs the releaser role in dev; "
        "ask an admin for a token with it."
    )
    assert Registry(server.root).entry(PROMPT).environments["dev"].current == "1.1.0"


def test_an_author_cannot_approve_their_own_version(server: Served) -> None:
    with server.client("carol-approver") as c:
        r = c.post(f"/v1/prompts/{PROMPT}/versions/1.2.0/approvals", json={"env": "staging"})
    assert r.status_code == 403
    assert "separation of duties" in r.json()["detail"]


def test_a_staging_approver_cannot_approve_for_prod(server: Served) -> None:
    with server.client("staging-approver") as c:
        prod = c.post(f"/v1/prompts/{PROMPT}/versions/1.2.0/approvals", json={"env": "prod"})
    assert prod.status_code == 403
    assert "needs the approver role in prod" in prod.json()["detail"]


def test_revoked_and_expired_tokens_are_refused(server: Served) -> None:
    revoked = server.token("revoked", "dave", "admin")
    expired = server.token("expired", "erin", "admin", expires=timedelta(milliseconds=200))
    with server.client("revoked") as c:
        assert c.get("/v1/prompts").status_code == 200
    revoke_token(Repo(server.root), revoked.record.id, by="ops", reason="left the team")
    time.sleep(0.25)
    for key in ("revoked", "expired"):
        with server.client(key) as c:
            r = c.post(
                f"/v1/prompts/{PROMPT}/complaints", json={"complaint": "rude", "env": "prod"}
            )
        assert r.status_code == 401, key
        assert expired.secret not in r.text and revoked.secret not in r.text


def test_bad_bodies_are_422_naming_the_field(server: Served) -> None:
    with server.client("releaser") as c:
        missing = c.post(f"/v1/prompts/{PROMPT}/promotions", json={"version": "1.2.0", "to": "dev"})
        actor = c.post(
            f"/v1/prompts/{PROMPT}/promotions",
            json={"version": "1.2.0", "to": "dev", "reason": "r", "by": "mallory"},
        )
        wrong = c.post(
            f"/v1/prompts/{PROMPT}/complaints", json={"complaint": "x", "severity": "dire"}
        )
        not_json = c.post(
            f"/v1/prompts/{PROMPT}/rollbacks",
            content=b"{",
            headers={"content-type": "application/json"},
        )
    assert missing.status_code == 422
    assert missing.json()["detail"].startswith("body.reason: Field required")
    assert actor.status_code == 422 and actor.json()["errors"][0]["field"] == "body.by"
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.severity"
    assert not_json.status_code == 422


def test_unknown_names_on_writes_are_404(server: Served) -> None:
    with server.client("releaser") as c:
        r = c.post("/v1/prompts/ghost/rollbacks", json={"reason": "x", "env": "prod"})
        v = c.post(
            f"/v1/prompts/{PROMPT}/promotions",
            json={"version": "7.0.0", "to": "dev", "reason": "x"},
        )
    assert r.status_code == 404 and r.json()["prompt"] == "ghost"
    assert v.status_code == 404


def test_a_moved_environment_is_409_with_the_current_pointer(server: Served) -> None:
    with server.client("releaser") as c:
        r = c.post(
            f"/v1/prompts/{PROMPT}/promotions",
            json={"version": "1.0.0", "to": "dev", "reason": "x", "expect": "1.0.0"},
        )
    assert r.status_code == 409
    body = r.json()
    assert (body["env"], body["current"], body["expected"]) == ("dev", "1.1.0", "1.0.0")


def test_a_release_through_the_api_is_recorded_as_its_token_holders(server: Served) -> None:
    with server.client("author") as author:
        added = author.post(
            f"/v1/prompts/{PROMPT}/versions",
            json={"message": "patience", "version": "1.3.0", "source": _source(server.root)},
        )
        assert added.status_code == 201, added.text
        assert added.json()["author"] == "carol"
        run = author.post(f"/v1/prompts/{PROMPT}/versions/1.3.0/evals")
        assert run.status_code == 201, run.text
        gate = author.post(f"/v1/prompts/{PROMPT}/versions/1.3.0/gate", json={"env": "dev"})
        assert gate.json()["verdict"] == "pass"
    with server.client("releaser") as releaser:
        moved = releaser.post(
            f"/v1/prompts/{PROMPT}/promotions",
            json={"version": "1.3.0", "to": "dev", "reason": "try it", "expect": "1.1.0"},
        )
    assert moved.status_code == 201, moved.text
    assert moved.json()["move"]["by"] == "alice"
    entries = {e.action: e for e in AuditLog(server.root).entries(prompt=PROMPT) if e.seq > 0}
    releaser_id = server.tokens["releaser"].record.id
    assert entries["promote"].actor == "alice"
    assert entries["promote"].details["via"] == f"token {releaser_id}"
    assert entries["add"].details["via"] == f"token {server.tokens['author'].record.id}"
    log = (server.root / "audit/artifact-audit-log.md").read_text()
    assert all(t.secret not in log for t in server.tokens.values())


def test_rollback_dry_run_then_for_real(server: Served) -> None:
    with server.client("releaser") as c:
        plan = c.post(
            f"/v1/prompts/{PROMPT}/rollbacks",
            json={"reason": "bad", "env": "prod", "dry_run": True},
        )
        assert plan.status_code == 200, plan.text
        assert plan.json()["dry_run"] is True
        assert Registry(server.root).entry(PROMPT).environments["prod"].current == "1.1.0"
        done = c.post(
            f"/v1/prompts/{PROMPT}/rollbacks", json={"reason": "bad answers", "env": "prod"}
        )
    assert done.status_code == 200, done.text
    current = Registry(server.root).entry(PROMPT).environments["prod"].current
    assert current is not None and current.startswith("1.0.0")
    assert done.json()["plan"]["target"] == "1.0.0"


def test_complaint_flag_and_clear(server: Served) -> None:
    with server.client("author") as c:
        r = c.post(
            f"/v1/prompts/{PROMPT}/complaints",
            json={"complaint": "too curt", "env": "dev", "severity": "low"},
        )
    assert r.status_code == 201, r.text
    with server.client("author") as c:
        assert (
            c.post(f"/v1/prompts/{PROMPT}/versions/1.2.0/flag", json={"reason": "odd"}).status_code
            == 403
        )
    with server.client("prod-approver") as c:
        flagged = c.post(f"/v1/prompts/{PROMPT}/versions/1.2.0/flag", json={"reason": "odd tone"})
        assert flagged.status_code == 200, flagged.text
        assert flagged.json()["quarantine"]["by"] == "alice"
        cleared = c.post(
            f"/v1/prompts/{PROMPT}/versions/1.2.0/clear", json={"reason": "reviewed", "env": "prod"}
        )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["quarantine"] is None
