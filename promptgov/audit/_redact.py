"""Secret redaction applied to every audit record before it is hashed and written."""

from __future__ import annotations

import re
from typing import Any

MASK = "[REDACTED]"

#: Mapping keys whose values are credentials whatever they look like.
_SECRET_KEY = re.compile(
    r"(?i)^(?:.*[_-])?(?:api[_-]?key|apikey|token|secret|password|passwd|pwd|"
    r"authorization|auth|private[_-]?key|client[_-]?secret|webhook(?:[_-]?url)?|cookie|credentials?)$"
)

# Each pattern keeps a readable prefix (group 1) and masks the rest: people can still tell
# which kind of credential was there.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys, whole block.
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
            re.S,
        ),
        MASK,
    ),
    # Webhook URLs whose path is the credential.
    (
        re.compile(r"(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>)]+"),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)(discord(?:app)?\.com/api/webhooks/)[^\s\"'<>)]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\.webhook\.office\.com/)[^\s\"'<>)]+"), r"\1" + MASK),
    (re.compile(r"(?i)(chat\.googleapis\.com/v1/spaces/)[^\s\"'<>)]+"), r"\1" + MASK),
    # apprise service URLs carry tokens right after the scheme (slack://TokenA/TokenB/TokenC).
    (
        re.compile(
            r"(?i)\b((?:slack|discord|msteams|tgram|pover|pushover|gotify|gotifys|ntfy|ntfys|"
            r"matrix|matrixs|mmost|mmosts|rocket|rockets|twilio|pbul|join|ifttt|zulip|opsgenie|"
            r"pagerduty|signal|signals|whatsapp|webex|wxteams|lark|feishu|dingtalk)://)[^\s\"'<>]+"
        ),
        r"\1" + MASK,
    ),
    # Passwords inside URLs: scheme://user:password@host.
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\"'<>]*:)[^\s/@\"'<>]+(@)"),
        r"\1" + MASK + r"\2",
    ),
    # Credentials in query strings: ?token=…&key=….
    (
        re.compile(
            r"(?i)([?&;](?:[a-z0-9_\-]*(?:token|key|secret|password|passwd|pwd|sig|signature|"
            r"auth|credential|session|code))=)[^&#\s\"'<>]+"
        ),
        r"\1" + MASK,
    ),
    # Authorization headers and bearer tokens.
    # (a token has a digit in it, so prose like "the bearer of bad news" is left alone).
    (
        re.compile(r"(?i)\b(bearer\s+)(?=[A-Za-z0-9\-._~+/]*\d)[A-Za-z0-9\-._~+/]{8,}=*"),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)(authorization\s*[:=]\s*basic\s+)[A-Za-z0-9+/]+=*"), r"\1" + MASK),
    (re.compile(r"\b(Basic\s+)(?=[A-Za-z0-9+/]*[\d+/=])[A-Za-z0-9+/]{12,}=*"), r"\1" + MASK),
    # Provider API keys by shape: OpenAI/Anthropic sk-…, GitHub, AWS, Google, Slack, JWTs.
    (re.compile(r"\b(sk-)[A-Za-z0-9_\-]{12,}"), r"\1" + MASK),
    (re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{20,}"), r"\1" + MASK),
    (re.compile(r"\b(github_pat_)[A-Za-z0-9_]{20,}"), r"\1" + MASK),
    (re.compile(r"\b((?:AKIA|ASIA))[0-9A-Z]{16}\b"), r"\1" + MASK),
    (re.compile(r"\b(AIza)[0-9A-Za-z\-_]{30,}"), r"\1" + MASK),
    (re.compile(r"\b(xox[abposr]-)[A-Za-z0-9\-]{10,}"), r"\1" + MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), MASK),
    # key=value / key: value in free text (logs, error messages).
    (
        re.compile(
            r"(?i)\b((?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|secret|"
            r"client[_-]?secret|password|passwd|pwd)\s*[=:]\s*)(?!\[REDACTED\])[^\s,;&\"'<>]+"
        ),
        r"\1" + MASK,
    ),
)


#: Cheap first pass: text without any of these cannot match a pattern above.
_TRIGGER = re.compile(
    r"(?i)private key|://|hooks\.slack|discord|webhook|googleapis|[?&;=:]|bearer|basic|sk-|"
    r"gh[pousr]_|github_pat_|akia|asia|aiza|xox|eyj"
)


def redact_text(text: str) -> str:
    """``text`` with every credential pattern masked as ``[REDACTED]``.

    Audit entries are permanent and public to everyone who can read the repository,
    so anything that looks like a secret is removed before it is hashed.
    """
    if not text or not _TRIGGER.search(text):
        return text
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with secrets masked in every string.

    Values stored under a credential-looking key (``api_key``, ``token``, ``password``…)
    are masked entirely.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and _SECRET_KEY.match(key) and item not in (None, "", [], {}):
                out[key] = MASK
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
