"""Single sign-on through a trusted proxy header, open reads, and webhooks: identities from
the header map to roles in promptgov.yml only when the peer is inside the trusted range."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptgov.audit import AuditLog
from promptgov.server import ServerOptions

from ..flows import PROMPT, configure
from ..notify_sink import NotifySink
from .conftest import Running, Served, start

SECRET = "hook-secret-for-tests"
HEADER = "X-Forwarded-User"


@pytest.fixture(scope="module")
def sink() -> Iterator[NotifySink]:
    with NotifySink() as s:
        s.require_signature("/hook", SECRET)
        yield s


@pytest.fixture(scope="module")
def server(released: Path, sink: NotifySink) -> Iterator[Served]:
    def edit(doc: Any) -> None:
        doc["server"] = {
            "reads": "open",
            "roles": [{"identity": "@release-managers", "role": "releaser", "envs": ["prod"]}],
        }
        doc["notifications"] = [
            {
                "name": "hook",
                "kind": "webhook",
                "url": sink.http_url("/hook"),
                "events": ["rollback", "promotion"],
                "secret_env": "PG_TEST_HOOK_SECRET",
            }
        ]

    configure(released, edit)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PG_TEST_HOOK_SECRET", SECRET)
        yield from start(
            released,
            ServerOptions(trusted_proxy_header=HEADER, trusted_proxy_cidrs=("127.0.0.0/8",)),
        )


def test_reads_are_open_when_configured(server: Served) -> None:
    with server.client() as c:
        assert c.get(f"/v1/prompts/{PROMPT}").json()["version"] == "1.1.0"
        assert (
            c.post(f"/v1/prompts/{PROMPT}/complaints", json={"complaint": "x"}).status_code == 401
        )


def test_a_proxied_identity_acts_under_its_group_role(server: Served, sink: NotifySink) -> None:
    with server.client() as c:
        nobody = c.post(
            f"/v1/prompts/{PROMPT}/rollbacks", json={"reason": "r"}, headers={HEADER: "mallory"}
        )
        staging = c.post(
            f"/v1/prompts/{PROMPT}/rollbacks",
            json={"reason": "r", "env": "staging"},
            headers={HEADER: "bob"},
        )
        done = c.post(
            f"/v1/prompts/{PROMPT}/rollbacks",
            json={"reason": "bad replies"},
            headers={HEADER: "bob"},
        )
    assert (
        nobody.status_code == 403 and "mallory may not roll back in prod" in nobody.json()["detail"]
    )
    assert staging.status_code == 403
    assert done.status_code == 200, done.text
    start = next(e for e in AuditLog(server.root).entries(action="rollback-start"))
    assert (start.actor, start.details["via"]) == ("bob", "sso-proxy")
    hooks = [r for r in sink.wait_for(1) if r.path == "/hook"]
    assert hooks and all(r.signature_ok for r in hooks)
    assert hooks[-1].json["event"] == "rollback"


def test_the_header_is_ignored_from_outside_the_trusted_range(released: Path) -> None:
    options = ServerOptions(trusted_proxy_header=HEADER, trusted_proxy_cidrs=("10.0.0.0/8",))
    with Running(released, options) as running, httpx.Client(base_url=running.url) as c:
        r = c.post(
            f"/v1/prompts/{PROMPT}/complaints", json={"complaint": "x"}, headers={HEADER: "bob"}
        )
    assert r.status_code == 401
