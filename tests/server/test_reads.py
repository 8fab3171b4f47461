"""The read API against a real server: prompts, caching headers, history, diff, evals,
audit, health, metrics, and refusals that leak nothing."""

from __future__ import annotations

import json

from ..flows import PROMPT
from .conftest import Served


def test_list_shows_each_prompt_with_its_pointers(server: Served) -> None:
    with server.client("viewer") as c:
        r = c.get("/v1/prompts")
    assert r.status_code == 200
    row = next(p for p in r.json() if p["name"] == PROMPT)
    assert row["environments"] == {"dev": "1.1.0", "staging": "1.1.0", "prod": "1.1.0"}
    assert row["versions"] == 2


def test_get_by_env_version_and_label(server: Served) -> None:
    with server.client("viewer") as c:
        prod = c.get(f"/v1/prompts/{PROMPT}")
        pinned = c.get(f"/v1/prompts/{PROMPT}", params={"version": "1.0.0"})
        label = c.get(f"/v1/prompts/{PROMPT}", params={"label": "production"})
        latest = c.get(f"/v1/prompts/{PROMPT}", params={"label": "latest"})
        dev = c.get(f"/v1/prompts/{PROMPT}", params={"env": "dev"})
    body = prod.json()
    assert (body["version"], body["env"], body["type"]) == ("1.1.0", "prod", "text")
    assert "{{ customer_name }}" in body["template"]
    assert [v["name"] for v in body["variables"]] == ["customer_name", "order_id", "message"]
    assert body["card"]["owner"] == "alice@example.com"
    assert body["model"]["parameters"]["temperature"] == 0.2
    assert len(body["sha256"]) == 64
    assert pinned.json()["version"] == "1.0.0" and pinned.json()["env"] is None
    assert label.json() == body
    assert latest.json()["version"] == "1.1.0"
    assert dev.json()["env"] == "dev"


def test_etag_answers_304_and_cache_control_tells_pinned_from_moving(server: Served) -> None:
    with server.client("viewer") as c:
        first = c.get(f"/v1/prompts/{PROMPT}")
        again = c.get(f"/v1/prompts/{PROMPT}", headers={"If-None-Match": first.headers["etag"]})
        other = c.get(f"/v1/prompts/{PROMPT}", headers={"If-None-Match": '"nope"'})
        pinned = c.get(f"/v1/prompts/{PROMPT}", params={"version": "1.0.0"})
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert other.status_code == 200
    assert "immutable" in pinned.headers["cache-control"]
    assert pinned.headers["etag"] != first.headers["etag"]


def test_history_has_every_pointer_move_with_who_and_why(server: Served) -> None:
    with server.client("viewer") as c:
        r = c.get(f"/v1/prompts/{PROMPT}/history")
    prod = r.json()["environments"]["prod"]
    assert prod["current"] == "1.1.0"
    moves = [(m["previous"], m["version"], m["by"], m["reason"]) for m in prod["history"]]
    assert moves == [
        (None, "1.0.0", "alice", "release 1.0.0"),
        ("1.0.0", "1.1.0", "alice", "release 1.1.0"),
    ]
    kinds = {e["kind"] for e in r.json()["events"]}
    assert {"version", "eval", "gate", "approval", "promote"} <= kinds


def test_diff_of_two_versions(server: Served) -> None:
    with server.client("viewer") as c:
        r = c.get(f"/v1/prompts/{PROMPT}/diff", params={"a": "1.0.0", "b": "prod"})
    d = r.json()
    assert (d["a"], d["b"]) == ("1.0.0", "1.1.0")
    assert any(line.startswith("+") and "release 1.1.0" in line for line in d["template"])


def test_evals_of_a_version_list_runs_and_gate_verdicts(server: Served) -> None:
    with server.client("viewer") as c:
        r = c.get(f"/v1/prompts/{PROMPT}/versions/1.0.0/evals")
    body = r.json()
    assert len(body["eval_runs"]) == 1
    assert {g["env"] for g in body["gate_results"]} == {"dev", "staging", "prod"}
    assert {g["verdict"] for g in body["gate_results"]} == {"pass"}


def test_audit_entries_filter_and_verify(server: Served) -> None:
    with server.client("viewer") as c:
        promotes = c.get("/v1/audit", params={"prompt": PROMPT, "action": "promote"}).json()
        paged = c.get("/v1/audit", params={"after": promotes[0]["seq"], "limit": 1}).json()
        verify = c.get("/v1/audit/verify").json()
    assert len(promotes) == 6 and {e["action"] for e in promotes} == {"promote"}
    assert [e["seq"] for e in paged] == [promotes[0]["seq"] + 1]
    assert verify["ok"] is True and verify["entries"] >= 6


def test_health_ready_and_metrics(server: Served) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        metrics = c.get("/metrics").text
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert (
        f'promptgov_served_version{{env="prod",prompt="{PROMPT}",version="1.1.0"}} 1.0' in metrics
    )
    assert "promptgov_http_requests_total{" in metrics
    assert 'route="/v1/prompts/{name}"' in metrics


def test_unknown_names_are_404_and_bad_queries_400(server: Served) -> None:
    with server.client("viewer") as c:
        unknown = c.get("/v1/prompts/no-such-prompt")
        version = c.get(f"/v1/prompts/{PROMPT}", params={"version": "9.9.9"})
        env = c.get(f"/v1/prompts/{PROMPT}", params={"env": "qa"})
        both = c.get(f"/v1/prompts/{PROMPT}", params={"env": "dev", "version": "1.0.0"})
        unsafe = c.get("/v1/prompts/..%2Fetc")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    problem = unknown.json()
    assert problem["type"] == "urn:promptgov:problem:not-found"
    assert problem["status"] == 404 and "no-such-prompt" in problem["detail"]
    assert version.status_code == 404 and version.json()["version"] == "9.9.9"
    assert env.status_code == 404 and "qa" in env.json()["detail"]
    assert both.status_code == 400
    assert unsafe.status_code in (400, 404)


def test_reads_need_a_token_and_refusals_leak_nothing(server: Served) -> None:
    secret = server.tokens["viewer"].secret
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    with server.client() as c:
        anonymous = c.get(f"/v1/prompts/{PROMPT}")
        bad = c.get(f"/v1/prompts/{PROMPT}", headers={"Authorization": f"Bearer {forged}"})
        junk = c.get(f"/v1/prompts/{PROMPT}", headers={"Authorization": "Token x"})
    for r in (anonymous, bad, junk):
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert set(r.json()) == {"type", "title", "status", "detail"}
        assert forged not in r.text and server.tokens["viewer"].record.id not in r.text
    assert (
        json.loads(bad.text)["detail"] == "this token is not valid (unknown, expired or revoked)."
    )
