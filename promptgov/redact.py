"""Redaction: credentials never reach the audit log, notification results or a terminal.

Two complementary means: URLs whose structure is known (notification targets) are taken
apart and their secret parts masked (:func:`redact_url`, ``***``); free text is searched
for credential shapes — API keys, bearer tokens, passwords in URLs, webhook paths,
``key=value`` pairs — masked as ``[REDACTED]`` (:func:`redact_text`, :func:`redact`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

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


def redact_text(text: str, urls: Iterable[str] = (), secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and everything that looks like a credential masked.

    The credentials inside ``urls`` (a notification target's token, say) and the strings
    in ``secrets`` are replaced by ``***`` wherever they appear (HTTP libraries quote the
    URL they failed on); then every credential pattern is masked as ``[REDACTED]``. Audit
    entries are permanent and readable by everyone with the repository, so this runs on
    every string before it is hashed.
    """
    text = _scrub(text, urls, secrets)
    if not text:
        return text
    if _TRIGGER.search(text):
        for pattern, repl in _PATTERNS:
            text = pattern.sub(repl, text)
    return _detected(text)


#: What detect-secrets 1.5 misses, as (pattern, group to mask): HuggingFace tokens, and
#: URL passwords containing ``/`` (its basic-auth pattern stops at one).
_EXTRA_DENYLIST = (
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), 0),
    (re.compile(r"://[^\s/@:]+:([^\s@]+)@"), 1),
)
_TOKENISH = re.compile(r"[A-Za-z0-9_\-/+=.]{10,}|://|@")
#: Content hashes are recorded everywhere and are never credentials.
_HASH = re.compile(r"[0-9a-f]{64}\Z")
#: The keyword detector only looks at lines holding one of its keywords.
_KEYWORDS = re.compile(r"(?i)key|pass|pwd|secret|contrase")
#: detect-secrets plugins that find things which are not credentials here.
_NOT_SECRETS = frozenset({"IPPublicDetector"})


@functools.cache
def _secret_plugins() -> tuple[re.Pattern[str], Any]:
    """detect-secrets' regex plugins as one pattern, and its keyword detector (``password:
    …``, ``aws_secret_access_key=…``): a maintained pattern set, loaded on first use.

    The plugins' patterns are joined into one alternation so a string is scanned once.
    """
    import importlib
    import inspect
    import pkgutil

    import detect_secrets.plugins as plugins
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.keyword import KeywordDetector

    parts: list[str] = []
    for info in pkgutil.iter_modules(plugins.__path__):
        module = importlib.import_module(f"{plugins.__name__}.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, RegexBasedDetector)
                and cls is not RegexBasedDetector
                and cls.__module__ == module.__name__
                and name not in _NOT_SECRETS
            ):
                for p in cls().denylist:
                    flags = "i" if p.flags & re.IGNORECASE else ""
                    body = re.sub(r"\(\?P<[^>]+>", "(", p.pattern)  # names would clash
                    parts.append(f"(?{flags}:{body})" if flags else f"(?:{body})")
    return re.compile("|".join(parts)), KeywordDetector()


def _detected(text: str) -> str:
    """``text`` with every credential detect-secrets finds masked as ``[REDACTED]``."""
    if len(text) < 8 or _HASH.match(text):
        return text
    combined, keyword = _secret_plugins()
    # Every shape the plugins look for is a run of 10+ token characters or sits in a URL.
    spans = [m.span() for m in combined.finditer(text)] if _TOKENISH.search(text) else []
    for pattern, group in _EXTRA_DENYLIST:
        spans.extend(m.span(group) for m in pattern.finditer(text))
    found: set[str] = set()
    if _KEYWORDS.search(text):
        for line in text.splitlines():
            if not _KEYWORDS.search(line):
                continue
            # The YAML rules catch ``k: v``, ``k = v`` and ``k="v"`` alike.
            found.update(
                s.secret_value
                for s in keyword.analyze_line(filename="free-text.yaml", line=line)
                if s.secret_value and s.secret_value != MASK
            )
    for secret in found:
        spans.extend((m.start(), m.end()) for m in re.finditer(re.escape(secret), text))
    for start, end in sorted(_merge(spans), reverse=True):
        text = text[:start] + MASK + text[end:]
    return text


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans as one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


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


# --------------------------------------------------------------------------- URLs

#: Mask for credentials found by taking a URL apart.
URL_MASK = "***"

#: Schemes whose host and path are addresses, not credentials (apprise's generic HTTP ones).
_ADDRESS_SCHEMES = frozenset(
    {"http", "https", "json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"}
)
#: Query keys whose values are credentials.
_SECRET_QUERY_KEY = re.compile(
    r"(?i)(token|secret|pass|pwd|key|sig|auth|code|cred|session|bearer|access|hook)"
)
#: A path segment that looks like a generated credential: long, with a digit in it.
_TOKEN_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.=~+%@]{16,}$")
#: Hosts whose webhook URL *is* the credential: every path segment after the prefix is secret.
_HOOK_HOSTS: dict[str, int] = {
    "hooks.slack.com": 1,  # /services/T…/B…/X…
    "discord.com": 2,  # /api/webhooks/<id>/<token>
    "discordapp.com": 2,
    "chat.googleapis.com": 0,
}


def _split_netloc(netloc: str) -> tuple[str, str | None, str]:
    """(user, password, host[:port]) without urllib's port validation."""
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return "", None, netloc
    user, colon, password = userinfo.partition(":")
    return user, (password if colon else None), hostport


def _secret_segments(scheme: str, host: str, segments: list[str]) -> set[int]:
    """Indexes of the path segments that carry credentials."""
    if scheme not in _ADDRESS_SCHEMES:
        # apprise service URLs (slack://, msteams://, discord://…) put tokens in the path;
        # '@user' and '#channel' targets are addresses and stay readable.
        return {i for i, s in enumerate(segments) if s and s[0] not in "@#"}
    bare = host.rsplit(":", 1)[0].lower()
    keep = _HOOK_HOSTS.get(bare)
    if keep is not None:
        return {i for i, s in enumerate(segments) if s and i > keep}
    return {i for i, s in enumerate(segments) if _TOKEN_SEGMENT.match(s)}


def _analyse(url: str) -> tuple[str, list[str]]:
    """The redacted URL and the list of secret strings found in it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return URL_MASK, [url]
    scheme = parts.scheme.lower()
    secrets: list[str] = []
    user, password, hostport = _split_netloc(parts.netloc)
    if password:
        secrets.append(password)
        password = URL_MASK
    if scheme not in _ADDRESS_SCHEMES and hostport:
        # The "host" of a service URL is its first token (slack://TokenA/…).
        host_name = hostport.rsplit(":", 1)[0]
        if host_name and host_name[0] not in "@#":
            secrets.append(host_name)
            hostport = URL_MASK + hostport[len(host_name) :]
    netloc = hostport
    if user or password is not None:
        netloc = f"{user}{':' + password if password is not None else ''}@{hostport}"

    segments = parts.path.split("/")
    for i in _secret_segments(scheme, hostport, segments):
        secrets.append(segments[i])
        segments[i] = URL_MASK
    query_items = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and _SECRET_QUERY_KEY.search(key):
            secrets.append(value)
            value = URL_MASK
        query_items.append((key, value))
    query = urlencode(query_items, safe="*@,:/", quote_via=quote)
    redacted = urlunsplit((parts.scheme, netloc, "/".join(segments), query, parts.fragment))
    return redacted, secrets


def redact_url(url: str) -> str:
    """``url`` with passwords, tokens and webhook path secrets replaced by ``***``.

    Safe to print, log and store: the scheme, host and non-secret path stay readable
    so people can tell targets apart.
    """
    return _analyse(url)[0]


def url_secrets(url: str) -> list[str]:
    """The credential strings inside ``url`` (to scrub them from other text)."""
    return _analyse(url)[1]


def _scrub(text: str, urls: Iterable[str], secrets: Iterable[str]) -> str:
    """``text`` with every secret of ``urls`` and every string of ``secrets`` masked."""
    found: set[str] = {s for s in secrets if s}
    for url in urls:
        found.update(url_secrets(url))
    variants: set[str] = set()
    for s in found:
        if len(s) < 4:
            continue
        variants.update({s, unquote(s), quote(s, safe="")})
    for s in sorted(variants, key=len, reverse=True):
        text = text.replace(s, URL_MASK)
    return text
