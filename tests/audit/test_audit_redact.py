"""Secrets never reach the audit log: they are redacted before hashing and writing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import LOG

from promptgov.audit import AuditLog, redact, redact_text

SECRETS = [
    ("OpenAI key sk-proj-abcDEF1234567890xyzXYZ in the reason", "abcDEF1234567890xyzXYZ"),
    ("anthropic sk-ant-api03-AAAAbbbbCCCCdddd1234", "AAAAbbbbCCCCdddd1234"),
    ("Authorization: Bearer eyJhbGciOi.payload123456.sig123456789", "payload123456"),
    ("header Bearer abc.DEF-123_456~xyz", "abc.DEF-123_456~xyz"),
    ("Authorization: Basic YWxpY2U6c2VjcmV0", "YWxpY2U6c2VjcmV0"),
    ("https://api.example.com/v1?token=s3cr3tT0ken&page=2", "s3cr3tT0ken"),
    ("https://api.example.com/v1?page=2&key=AIzaLikeValue99", "AIzaLikeValue99"),
    ("https://api.example.com/v1?api_key=hunter2hunter2", "hunter2hunter2"),
    ("https://alice:pa55w0rd@git.example.com/repo.git", "pa55w0rd"),
    ("postgres://svc:dbpass123@db.internal:5432/app", "dbpass123"),
    ("https://hooks.slack.com/services/T0AAA/B0BBB/XXXXyyyyZZZZ", "XXXXyyyyZZZZ"),
    ("https://hooks.slack.com/services/T0AAA/B0BBB/XXXXyyyyZZZZ", "B0BBB"),
    ("https://discord.com/api/webhooks/123456/tokTOKtok-_x", "tokTOKtok-_x"),
    ("https://acme.webhook.office.com/webhookb2/abc-def@ghi/IncomingWebhook/123/xyz", "abc-def"),
    ("slack://TokenA/TokenB/TokenC/#general", "TokenB"),
    ("ghp_0123456789abcdefghijABCDEFGHIJ012345 leaked", "0123456789abcdefghij"),
    ("aws AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    ("password=correct-horse-battery", "correct-horse-battery"),
    ("client_secret: topsecretvalue", "topsecretvalue"),
    ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIE\n-----END PRIVATE KEY-----", "MC4CAQAw"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secret_in_any_field_never_reaches_the_file(root: Path, text: str, secret: str) -> None:
    log = AuditLog(root)
    log.append(
        action="notify",
        actor="promptgov",
        reason=f"sent: {text}",
        evidence=[text],
        error=text,
        outcome="failure",
        ticket=text,
        details={"target": text, "nested": [{"url": text}]},
    )
    data = (root / LOG).read_bytes()
    assert secret.encode() not in data
    assert b"[REDACTED]" in data
    (entry,) = log.entries()
    assert secret not in entry.reason and "[REDACTED]" in entry.reason
    assert log.verify().ok


@pytest.mark.parametrize("key", ["api_key", "token", "password", "webhook_url", "auth_token"])
def test_values_under_secret_keys_are_masked_whole(key: str) -> None:
    assert redact({key: "plainvalue", "name": "plainvalue"}) == {
        key: "[REDACTED]",
        "name": "plainvalue",
    }


@pytest.mark.parametrize(
    "text",
    [
        "promote greet 1.2.0 → 1.3.0 after gate pass",
        "https://ci.example.com/runs/42?page=2",
        "sha256 " + "ab" * 32,
        "max_tokens=512 and temperature: 0.2",
        "see https://github.com/acme/prompts/pull/17",
        "basic functionality works; the bearer of bad news approved",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text
