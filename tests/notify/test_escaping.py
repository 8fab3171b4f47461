"""User text in a notification arrives as text: real SMTP for mail, apprise's Slack payload
captured on 127.0.0.1."""

from __future__ import annotations

import email
import html
import re
import socket
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from promptgov.notify import NotificationTarget, Notifier, NotifyPolicy, render_notification
from promptgov.notify._render import md_text
from tests.notify_sink import Behaviour, NotifySink, sink_fixture

sink = pytest.fixture(sink_fixture, name="sink")

HOSTILE = "<script>alert(1)</script>&'\""
POLICY = NotifyPolicy(retries=0, timeout_s=5.0)


class _Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd), with what it received."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def _promotion(**over: Any) -> Any:
    args: dict[str, Any] = {
        "prompt": "greet",
        "env": "prod",
        "from_version": "1.2.0",
        "to_version": "1.3.0",
        "reason": HOSTILE,
        "authorized_by": "bob",
        "audit_link": "audit/artifact-audit-log.md#entry-7",
        "owners": ["@alice"],
        "extra": {"approvers": ["bob", "carol"]},
    }
    args.update(over)
    return render_notification("promotion", **args)


def _deliver(url: str, note: Any) -> None:
    target = NotificationTarget.model_validate({"name": "t", "url": url})
    [result] = Notifier([target], POLICY).deliver_all([(target, note)])
    assert result.ok, result.error


def _html_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/html part in {message.get_content_type()}")


def _text_of(fragment: str) -> str:
    """What a reader sees: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_mail_html_part_carries_the_reason_escaped(smtp: tuple[int, _Inbox]) -> None:
    port, inbox = smtp
    _deliver(
        f"mailto://127.0.0.1:{port}?from=promptgov@example.com&to=ops@example.com&mode=insecure",
        _promotion(),
    )
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    [message] = inbox.messages
    body = _html_part(message)
    assert "<script>" not in body
    reason = next(line for line in body.splitlines() if "Reason:" in line)
    assert "&lt;script&gt;" in reason
    assert _text_of(reason).strip() == f"Reason: {HOSTILE}"
    assert "Approvers: bob, carol" in _text_of(body)


def _slack_text(payload: dict[str, Any]) -> str:
    attachment = payload["attachments"][0]
    if "blocks" not in attachment:
        return str(attachment["text"])
    return next(b["text"]["text"] for b in attachment["blocks"] if b["type"] == "section")


@pytest.mark.parametrize("query", ["", "?blocks=yes"], ids=["legacy", "blocks"])
def test_slack_payload_escapes_user_text_and_keeps_the_mention(
    sink: NotifySink, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    from apprise.plugins.slack import NotifySlack

    # apprise's real Slack plugin builds and posts the payload; only its host moves here.
    path = "/services/T1A2B3C4/B5D6E7F8/abcdefgh12345678"
    monkeypatch.setattr(NotifySlack, "webhook_url", sink.url + "/services")
    sink.script(path, Behaviour(body=b"ok"))
    note = _promotion(reason=HOSTILE + " <http://evil.example|click> <!channel> & co")
    _deliver("slack://T1A2B3C4/B5D6E7F8/abcdefgh12345678" + query, note)
    [request] = sink.requests_to(path)
    body = _slack_text(request.json)
    reason = next(line for line in body.splitlines() if "Reason:" in line)
    # Slack's three entities, and no "<" or ">" left to start a link or a mention.
    assert reason == (
        "- Reason: &lt;script&gt;alert(1)&lt;/script&gt;&amp;'\" "
        "&lt;http://evil.example|click&gt; &lt;!channel&gt; &amp; co"
    )
    assert "- Approvers: bob, carol" in body.splitlines()
    assert body.rstrip().endswith("Owners: <@alice>")


@pytest.mark.parametrize(
    ("value", "markdown"),
    [
        ("plain words", "plain words"),
        ("snake_case_name", "snake_case_name"),
        ("_leading and trailing_", "\\_leading and trailing\\_"),
        ("[x](http://e)", "\\[x\\](http://e)"),
        ("a*b* `c`", "a\\*b\\* \\`c\\`"),
        ("&amp; & x", "\\&amp; & x"),
        ("two\nlines\r\n- Approvers: mallory", "two lines - Approvers: mallory"),
        (["bob", "carol"], "bob, carol"),
    ],
)
def test_values_are_escaped_once_for_markdown(value: Any, markdown: str) -> None:
    assert md_text(value) == markdown


def test_a_newline_in_a_reason_cannot_add_a_fact() -> None:
    note = _promotion(reason="ok\n- Authorized by: mallory")
    assert [line for line in note.body.splitlines() if line.startswith("- Authorized by")] == [
        "- Authorized by: bob"
    ]
