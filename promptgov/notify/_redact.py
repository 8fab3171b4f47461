"""Redaction of credentials in notification URLs and in the error text that mentions them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"

#: Schemes whose host and path are addresses, not credentials (apprise's generic HTTP ones).
_ADDRESS_SCHEMES = frozenset(
    {"http", "https", "json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"}
)
#: Query keys whose values are credentials.
_SECRET_KEY = re.compile(
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
        return MASK, [url]
    scheme = parts.scheme.lower()
    secrets: list[str] = []
    user, password, hostport = _split_netloc(parts.netloc)
    if password:
        secrets.append(password)
        password = MASK
    if scheme not in _ADDRESS_SCHEMES and hostport:
        # The "host" of a service URL is its first token (slack://TokenA/…).
        host_name = hostport.rsplit(":", 1)[0]
        if host_name and host_name[0] not in "@#":
            secrets.append(host_name)
            hostport = MASK + hostport[len(host_name) :]
    netloc = hostport
    if user or password is not None:
        netloc = f"{user}{':' + password if password is not None else ''}@{hostport}"

    segments = parts.path.split("/")
    for i in _secret_segments(scheme, hostport, segments):
        secrets.append(segments[i])
        segments[i] = MASK
    query_items = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and _SECRET_KEY.search(key):
            secrets.append(value)
            value = MASK
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


def redact_text(text: str, urls: Iterable[str] = (), secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret of ``urls`` and every string of ``secrets`` masked.

    Error messages from HTTP libraries often quote the URL they failed on; this
    keeps credentials out of results, audit entries and terminals.
    """
    found: set[str] = {s for s in secrets if s}
    for url in urls:
        found.update(url_secrets(url))
    variants: set[str] = set()
    for s in found:
        if len(s) < 4:
            continue
        variants.update({s, unquote(s), quote(s, safe="")})
    for s in sorted(variants, key=len, reverse=True):
        text = text.replace(s, MASK)
    return text
