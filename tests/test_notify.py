"""Notifications against a real HTTP sink on 127.0.0.1: apprise json://, signed webhooks, outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptgov.errors import InvalidFile
from promptgov.notify import (
    DeliveryResult,
    Notification,
    NotificationTarget,
    Notifier,
    NotifyEvent,
    NotifyPolicy,
    Outbox,
    audit_link,
    body_for,
    load_targets,
    redact_text,
    redact_url,
    render_notification,
)
from promptgov.notify._senders import with_cc
from tests.notify_sink import Behaviour, NotifySink, closed_port_url, sink_fixture

sink = pytest.fixture(sink_fixture, name="sink")

FAST = NotifyPolicy(retries=2, backoff_s=0.01, timeout_s=2.0)
ROOT = Path(__file__).absolute().parent.parent


def _rollback(**over: object) -> Notification:
    args: dict[str, object] = {
        "prompt": "greet",
        "env": "prod",
        "from_version": "1.4.0",
        "to_version": "1.3.0+rollback",
        "reason": "accuracy fell from 0.93 to 0.71 on the nightly suite",
        "authorized_by": "carol",
        "audit_link": "audit/artifact-audit-log.md#entry-42",
        "evidence": ["logs/evals/run-17.json"],
        "owners": ["@alice", "bob@example.com"],
    }
    args.update(over)
    return render_notification("rollback", **args)  # type: ignore[arg-type]


def _target(url: str, **over: object) -> NotificationTarget:
    return NotificationTarget.model_validate({"name": "ops", "url": url, **over})


# -- success and message content -------------------------------------------------------------


def test_apprise_json_target_receives_the_rollback_facts(sink: NotifySink) -> None:
    results = Notifier([_target(sink.json_url("/hooks/ops"))], FAST).send(_rollback())

    assert [(r.name, r.ok, r.attempts) for r in results] == [("ops", True, 1)]
    (got,) = sink.requests_to("/hooks/ops")
    payload = got.json
    assert payload["title"] == "Rollback: greet in prod → 1.3.0+rollback"
    message = payload["message"]
    for fact in (
        "`greet`",
        "**prod**",
        "`1.4.0`",
        "`1.3.0+rollback`",
        "Reason: accuracy fell from 0.93 to 0.71 on the nightly suite",
        "Authorized by: carol",
        "Audit entry: audit/artifact-audit-log.md#entry-42",
        "Evidence: logs/evals/run-17.json",
        "Owners: @alice, bob@example.com",
    ):
        assert fact in message
    assert payload["type"] == "warning"


def test_webhook_body_carries_structured_data_and_delivery_id(sink: NotifySink) -> None:
    note = _rollback()
    target = _target(sink.http_url("/wh"), kind="webhook")

    (result,) = Notifier([target], FAST).send(note)

    assert result.ok and result.status_code == 200
    (got,) = sink.requests_to("/wh")
    body = got.json
    assert body["event"] == "rollback"
    assert body["data"]["from_version"] == "1.4.0"
    assert body["data"]["to_version"] == "1.3.0+rollback"
    assert body["data"]["audit_link"] == "audit/artifact-audit-log.md#entry-42"
    assert body["owners"] == ["@alice", "bob@example.com"]
    assert got.header("X-Promptgov-Event") == "rollback"
    assert got.header("X-Promptgov-Delivery") == body["id"] == note.idempotency_key
    assert got.header("X-Promptgov-Signature") is None


def test_audit_link_points_at_the_entry_anchor() -> None:
    assert audit_link(7) == "audit/artifact-audit-log.md#entry-7"
    assert (
        audit_link(7, "https://git.example.com/prompts/blob/main/")
        == "https://git.example.com/prompts/blob/main/audit/artifact-audit-log.md#entry-7"
    )


@pytest.mark.parametrize(
    ("event", "title", "lead"),
    [
        (
            "promotion",
            "Promotion: greet 1.3.0 → prod",
            "**Promoted** `greet` `1.3.0` to **prod** (was `1.2.1`).",
        ),
        (
            "trigger",
            "Rollback trigger: greet in prod",
            "**Rollback trigger fired** for `greet` in **prod**, serving `1.2.1`. "
            "Last known good: `1.3.0`.",
        ),
    ],
)
def test_promotion_and_trigger_messages(event: str, title: str, lead: str) -> None:
    from_v, to_v = ("1.2.1", "1.3.0")
    note = render_notification(
        event, prompt="greet", env="prod", from_version=from_v, to_version=to_v, audit_link="a#1"
    )
    assert note.title == title
    assert note.body.splitlines()[0] == lead
    assert "- Audit entry: a#1" in note.body.splitlines()


def test_a_list_of_facts_reads_as_names_not_a_python_list() -> None:
    """A promotion message said "Approvers: ['morgan']"."""
    note = render_notification(
        "promotion",
        prompt="greet",
        env="prod",
        to_version="1.3.0",
        extra={"kind": "promotion", "approvers": ["morgan", "alice"]},
    )
    assert "- Approvers: morgan, alice" in note.body.splitlines()
    assert "[" not in note.body and note.data["approvers"] == ["morgan", "alice"]


def test_test_message_is_plain() -> None:
    note = render_notification(NotifyEvent.TEST)
    assert note.title == "promptgov test notification"
    assert note.data == {"event": "test"}


def test_slack_targets_get_slack_mentions_and_mail_targets_get_owners_in_cc() -> None:
    note = _rollback(owners=["@alice", "bob@example.com"])
    assert body_for(note, "slack://T1/B2/C3").endswith("Owners: <@alice>, bob@example.com\n")
    assert body_for(note, "https://hooks.slack.com/services/T/B/C").endswith(
        "Owners: <@alice>, bob@example.com\n"
    )
    url = with_cc("mailtos://me:pw@example.com?to=ops@example.com&cc=lead@example.com", ["b@x.org"])

    import apprise

    service: Any = apprise.Apprise.instantiate(url)
    assert service is not None
    assert set(service.cc) == {"lead@example.com", "b@x.org"}
    assert [t[1] for t in service.targets] == ["ops@example.com"]


def test_targets_only_get_their_events(sink: NotifySink) -> None:
    promo_only = _target(sink.json_url("/promo"), events=["promotion"])
    assert Notifier([promo_only], FAST).send(_rollback()) == []
    assert sink.received == []


# -- failures: 5xx, refused, timeout ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["apprise", "webhook"])
def test_500_then_success_is_retried(sink: NotifySink, kind: str) -> None:
    sink.script("/flaky", 500, 200)
    url = sink.json_url("/flaky") if kind == "apprise" else sink.http_url("/flaky")

    (result,) = Notifier([_target(url, kind=kind)], FAST).send(_rollback())

    assert result.ok and result.attempts == 2 and result.error is None
    assert [r.status for r in sink.requests_to("/flaky")] == [500, 200]


@pytest.mark.parametrize("kind", ["apprise", "webhook"])
def test_always_500_gives_a_failed_result_after_every_attempt(sink: NotifySink, kind: str) -> None:
    sink.script("/down", 500)
    url = sink.json_url("/down") if kind == "apprise" else sink.http_url("/down")
    policy = NotifyPolicy(retries=3, backoff_s=0.01, timeout_s=2)

    (result,) = Notifier([_target(url, kind=kind)], policy).send(_rollback())

    assert not result.ok
    assert result.attempts == 4 == len(sink.requests_to("/down"))
    assert result.status_code == 500
    assert result.error and "500" in result.error and "\n" not in result.error


@pytest.mark.parametrize("kind", ["apprise", "webhook"])
def test_connection_refused_gives_a_failed_result(kind: str) -> None:
    url = closed_port_url("json" if kind == "apprise" else "http", "/hook")

    (result,) = Notifier([_target(url, kind=kind)], FAST).send(_rollback())

    assert not result.ok and result.attempts == 3 and result.status_code is None
    assert result.error and "\n" not in result.error


@pytest.mark.parametrize("kind", ["apprise", "webhook"])
def test_slow_target_times_out_within_the_policy_bound(sink: NotifySink, kind: str) -> None:
    sink.script("/slow", Behaviour(delay_s=1.5))
    url = sink.json_url("/slow") if kind == "apprise" else sink.http_url("/slow")
    policy = NotifyPolicy(retries=1, backoff_s=0.01, timeout_s=0.3)

    started = time.monotonic()
    (result,) = Notifier([_target(url, kind=kind)], policy).send(_rollback())
    elapsed = time.monotonic() - started

    assert not result.ok and result.attempts == 2
    assert result.error and "timeout" in result.error
    assert len(sink.requests_to("/slow")) == 2
    # Bounded by the policy (two 0.3 s attempts + 0.01 s wait), far from the sink's 3 s.
    assert elapsed < policy.max_duration_s + 1.0


def test_trickling_target_is_cut_off_at_the_deadline(sink: NotifySink) -> None:
    # Every byte arrives within the read timeout, the whole answer would take 6 s.
    sink.script("/drip", Behaviour(drip_s=0.1, body=b"x" * 60))
    policy = NotifyPolicy(retries=0, timeout_s=0.3)

    started = time.monotonic()
    (result,) = Notifier([_target(sink.http_url("/drip"), kind="webhook")], policy).send(
        _rollback()
    )
    elapsed = time.monotonic() - started

    assert not result.ok
    assert result.error == "no complete answer within 0.8s (deadline)"
    assert elapsed < 3.0


def test_4xx_is_not_retried(sink: NotifySink) -> None:
    sink.script("/gone", 404)
    (result,) = Notifier([_target(sink.http_url("/gone"), kind="webhook")], FAST).send(_rollback())
    assert not result.ok and result.attempts == 1 and result.status_code == 404


def test_targets_are_served_concurrently(sink: NotifySink) -> None:
    # Each answer waits until all three requests are in flight: a serial sender would
    # see the first one fail with 503 after the sink's 5 s wait.
    for path in ("/a", "/b", "/c"):
        sink.script(path, Behaviour(gate=3))
    targets = [
        NotificationTarget(name=name, url=sink.json_url(f"/{name}")) for name in ("a", "b", "c")
    ]
    policy = NotifyPolicy(retries=0, timeout_s=8)

    results = Notifier(targets, policy).send(_rollback())

    assert [(r.name, r.ok) for r in results] == [("a", True), ("b", True), ("c", True)]


def test_policy_bound_counts_every_attempt_and_wait() -> None:
    policy = NotifyPolicy(retries=2, backoff_s=0.5, timeout_s=1.0)
    assert policy.attempts == 3
    assert [policy.backoff(1), policy.backoff(2)] == [0.5, 1.0]
    assert policy.max_duration_s == 4.5


# -- signed webhooks -------------------------------------------------------------------------


def test_signed_webhook_is_verified_by_the_sink(sink: NotifySink) -> None:
    secret = "s3cret-signing-key"
    sink.require_signature("/signed", secret)
    target = _target(sink.http_url("/signed"), kind="webhook", secret_env="HOOK_SECRET")

    (result,) = Notifier([target], FAST, environ={"HOOK_SECRET": secret}).send(_rollback())

    assert result.ok
    (got,) = sink.requests_to("/signed")
    assert got.signature_ok is True
    mac = hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.header("X-Promptgov-Signature") == f"sha256={mac}"


def test_wrong_signature_is_rejected_and_not_retried(sink: NotifySink) -> None:
    sink.require_signature("/signed", "right")
    target = _target(sink.http_url("/signed"), kind="webhook", secret_env="HOOK_SECRET")

    (result,) = Notifier([target], FAST, environ={"HOOK_SECRET": "wrong"}).send(_rollback())

    assert not result.ok and result.status_code == 401 and result.attempts == 1
    assert sink.requests_to("/signed")[0].signature_ok is False


def test_missing_signing_secret_sends_nothing(sink: NotifySink) -> None:
    target = _target(sink.http_url("/signed"), kind="webhook", secret_env="HOOK_SECRET")

    (result,) = Notifier([target], FAST, environ={}).send(_rollback())

    assert not result.ok and result.attempts == 1
    assert result.error == "$HOOK_SECRET is not set; export the webhook's signing secret"
    assert sink.received == []


# -- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("slack://T1A2B3C4/B5D6E7F8/abcdefgh12345678/#alerts", "slack://***/***/***/#alerts"),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
            "https://hooks.slack.com/services/***/***/***",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/tok_en",
            "https://discord.com/api/webhooks/***/***",
        ),
        ("json://ops:hunter22@10.0.0.5:8080/hook", "json://ops:***@10.0.0.5:8080/hook"),
        (
            "https://example.com/hook?token=abc123&channel=ops",
            "https://example.com/hook?token=***&channel=ops",
        ),
        (
            "https://x.webhook.office.com/webhookb2/0f8fad5b-d9cb-469f-a165-70867728950e/"
            "IncomingWebhook/a1b2c3d4e5f6a7b8c9d0",
            "https://x.webhook.office.com/webhookb2/***/IncomingWebhook/***",
        ),
        ("json://127.0.0.1:9000/hooks/ops", "json://127.0.0.1:9000/hooks/ops"),
        ("mailtos://me:app-password@example.com?to=ops@example.com", None),
    ],
)
def test_redact_url(url: str, expected: str | None) -> None:
    out = redact_url(url)
    if expected is not None:
        assert out == expected
    else:
        assert "app-password" not in out and "ops@example.com" in out


_token = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=8, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(token=_token, host=st.sampled_from(["example.com", "10.1.2.3:8443"]))
def test_redaction_never_leaks_a_credential(token: str, host: str) -> None:
    urls = [
        f"json://user:{token}@{host}/hook",
        f"https://{host}/hook?api_key={token}",
        f"slack://{token}/{token}/{token}",
        f"https://hooks.slack.com/services/{token}/B1/{token}",
        f"msteams://{token}/{token}/{token}/{token}",
    ]
    for url in urls:
        assert token not in redact_url(url)
        assert token not in redact_text(f"failed to reach {url}: boom", [url])


def test_failed_result_never_shows_url_credentials() -> None:
    dead = closed_port_url("json", "/hook")
    scheme_host, path = dead.split("/hook")[0], "/hook"
    url = scheme_host.replace("json://", "json://ops:hunter2hunter@") + path + "?token=tok987654"

    (result,) = Notifier([_target(url)], FAST).send(_rollback())

    shown = json.dumps(result.to_dict()) + str(result)
    assert not result.ok
    assert "hunter2hunter" not in shown and "tok987654" not in shown
    assert "ops:***@127.0.0.1" in result.target
    assert "hunter2hunter" not in repr(_target(url))


# -- configuration ---------------------------------------------------------------------------


def test_load_targets_from_config() -> None:
    targets = load_targets(
        [
            {"name": "ops-slack", "url": "slack://T/B/C", "events": ["rollback", "trigger"]},
            {
                "name": "audit-hook",
                "url": "https://audit.example.com/in",
                "kind": "webhook",
                "secret_env": "AUDIT_SECRET",
            },
        ]
    )
    assert [t.name for t in targets] == ["ops-slack", "audit-hook"]
    assert targets[0].wants("rollback") and not targets[0].wants("promotion")
    assert targets[1].wants("promotion")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            [{"name": "a b", "url": "json://h/"}],
            "promptgov.yml: notifications[0] name: Value error, use letters, digits, "
            "'-', '_' or '.' (at most 64). See docs/notifications.md for the target format.",
        ),
        (
            [{"name": "w", "url": "slack://T/B/C", "kind": "webhook"}],
            "promptgov.yml: notifications[0] entry: Value error, webhook target 'w' needs an "
            "http:// or https:// URL. See docs/notifications.md for the target format.",
        ),
        (
            [{"name": "x", "url": "json://h/"}, {"name": "x", "url": "json://g/"}],
            "promptgov.yml: notification target names must be unique: x.",
        ),
        (
            [{"name": "x", "url": "json://h/", "events": ["deploy"]}],
            "promptgov.yml: notifications[0] events.0: Input should be 'rollback', 'promotion', "
            "'trigger' or 'test'. See docs/notifications.md for the target format.",
        ),
    ],
)
def test_bad_target_config_is_a_one_line_error(raw: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidFile) as err:
        load_targets(raw)
    assert err.value.message == message


# -- outbox ----------------------------------------------------------------------------------


def test_outbox_keeps_failures_and_retry_delivers_them_once(
    sink: NotifySink, tmp_path: Path
) -> None:
    sink.script("/ops", 500)
    ok_target = NotificationTarget(name="ok", url=sink.json_url("/ok"))
    flaky = NotificationTarget(name="ops", url=sink.json_url("/ops"))
    notifier = Notifier([ok_target, flaky], NotifyPolicy(retries=1, backoff_s=0, timeout_s=2))
    outbox = Outbox(tmp_path)
    note = _rollback()

    first = outbox.dispatch(notifier, note)

    assert [(r.name, r.ok) for r in first] == [("ok", True), ("ops", False)]
    (pending,) = outbox.pending()
    assert (pending.target, pending.attempts) == ("ops", 2)
    assert pending.notification == note
    stored = json.loads((tmp_path / ".promptgov/outbox/pending" / f"{pending.id}.json").read_text())
    assert stored["last_error"] == first[1].error

    # A repeated dispatch (resumed rollback) re-tries only what failed.
    again = outbox.dispatch(notifier, note)
    assert [(r.name, r.skipped, r.ok) for r in again] == [("ok", True, True), ("ops", False, False)]
    assert outbox.pending()[0].attempts == 4
    assert len(sink.requests_to("/ok")) == 1

    sink.script("/ops", 200)
    retried = outbox.retry(notifier)

    assert [(r.name, r.ok) for r in retried] == [("ops", True)]
    assert outbox.pending() == []
    assert outbox.delivered(note, "ops") and outbox.delivered(note, "ok")
    assert outbox.retry(notifier) == []
    assert [r.name for r in outbox.dispatch(notifier, note) if not r.skipped] == []
    assert len(sink.requests_to("/ops")) == 5 and len(sink.requests_to("/ok")) == 1


def test_retry_keeps_entries_whose_target_was_removed(sink: NotifySink, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    gone = NotificationTarget(name="gone", url=closed_port_url("json"))
    outbox.dispatch(Notifier([gone], NotifyPolicy(retries=0, timeout_s=1)), _rollback())

    (result,) = outbox.retry(Notifier([], FAST))

    assert not result.ok
    assert result.error == "target 'gone' is no longer configured in promptgov.yml"
    assert [p.target for p in outbox.pending()] == ["gone"]


def _retry_in_subprocess(repo: Path, url: str) -> subprocess.Popen[bytes]:
    code = textwrap.dedent(
        f"""
        from promptgov.notify import Notifier, NotificationTarget, NotifyPolicy, Outbox
        target = NotificationTarget(name="ops", url={url!r})
        Outbox({str(repo)!r}).retry(Notifier([target], NotifyPolicy(retries=0, timeout_s=30)))
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def test_retry_killed_mid_send_is_resumed_by_the_next_retry(
    sink: NotifySink, tmp_path: Path
) -> None:
    target = NotificationTarget(name="ops", url=sink.json_url("/ops"))
    outbox = Outbox(tmp_path)
    sink.script("/ops", 500, Behaviour(delay_s=30), 200)
    note = _rollback()
    outbox.dispatch(Notifier([target], NotifyPolicy(retries=0, timeout_s=2)), note)

    proc = _retry_in_subprocess(tmp_path, sink.json_url("/ops"))
    sink.wait_for(2, timeout=20)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert [p.target for p in outbox.pending()] == ["ops"]
    (result,) = outbox.retry(Notifier([target], FAST))
    assert result.ok and outbox.pending() == [] and outbox.delivered(note, "ops")


def test_two_retries_at_once_deliver_once(sink: NotifySink, tmp_path: Path) -> None:
    target = NotificationTarget(name="ops", url=sink.json_url("/ops"))
    sink.script("/ops", 500, Behaviour(delay_s=2.0))
    Outbox(tmp_path).dispatch(Notifier([target], NotifyPolicy(retries=0, timeout_s=2)), _rollback())

    procs = [_retry_in_subprocess(tmp_path, sink.json_url("/ops")) for _ in range(2)]
    codes = [p.wait(timeout=30) for p in procs]

    assert codes == [0, 0]
    assert len(sink.requests_to("/ops")) == 2  # the failed dispatch + exactly one retry
    assert Outbox(tmp_path).pending() == []


def test_corrupt_outbox_entry_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / ".promptgov/outbox/pending/abc.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(InvalidFile) as err:
        Outbox(tmp_path).pending()
    assert err.value.message == (
        f"outbox entry {bad} is unreadable (JSONDecodeError); delete it to drop that delivery."
    )


# -- the sink itself, as a demo runs it ------------------------------------------------------


def test_sink_runs_as_a_module_and_prints_what_it_receives() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.notify_sink", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.post(url + "/demo", json={"hello": "world"}, timeout=5)
        assert reply.status_code == 200
        line = json.loads(proc.stdout.readline())
        assert (line["path"], line["json"], line["status"]) == ("/demo", {"hello": "world"}, 200)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_delivery_result_is_json_ready() -> None:
    result = DeliveryResult(target="t <json://h/>", name="t", ok=False, attempts=2, error="x")
    assert json.loads(json.dumps(result.to_dict()))["attempts"] == 2
    assert str(result) == "t <json://h/>: FAILED after 2 attempt(s): x"


def test_importing_notify_does_not_load_apprise() -> None:
    # apprise costs a few hundred milliseconds to import; commands that never notify
    # must not pay for it.
    code = "import sys, promptgov.notify; print('apprise' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "False")
