"""The allowed-signers file, in OpenSSH's own format (``ssh-keygen -Y verify -f``, git's
``gpg.ssh.allowedSignersFile``): who may sign, with which key, from when until when.

A line is ``principals [options] keytype base64 [comment]``; promptgov reads and writes
the ``namespaces``, ``valid-after`` and ``valid-before`` options and refuses the others
(``cert-authority``) rather than half-honouring them. Revoking a key writes its
``valid-before``: what it signed before stays valid, nothing it signs after counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ..errors import InvalidFile
from ._sshsig import NAMESPACE, fingerprint

_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-|sk-|rsa-)")
_TIME = re.compile(r"^(\d{8})(\d{4})?(\d{2})?(Z?)$")
_OPTION = re.compile(r'([a-z-]+)(?:="([^"]*)")?(?:,|$)')


@dataclass(frozen=True)
class AllowedSigner:
    """One line: the principals a key signs as, and when."""

    principals: tuple[str, ...]
    public_key: str
    """``type base64``."""
    namespaces: tuple[str, ...] | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    comment: str = ""

    @property
    def fingerprint(self) -> str:
        """The key's ``SHA256:…`` fingerprint: the identity distinct approvals count."""
        return fingerprint(self.public_key)

    def valid_at(self, when: datetime, namespace: str = NAMESPACE) -> str | None:
        """None if this key may sign in ``namespace`` at ``when``, else why not."""
        if self.namespaces is not None and namespace not in self.namespaces:
            return f"the key may not sign in namespace {namespace}"
        if self.valid_after is not None and when < self.valid_after:
            return f"the key is valid only after {format_time(self.valid_after)}"
        if self.valid_before is not None and when >= self.valid_before:
            return f"the key was revoked or expired on {format_time(self.valid_before)}"
        return None

    def line(self) -> str:
        """The line as OpenSSH reads it."""
        opts = []
        if self.namespaces is not None:
            opts.append(f'namespaces="{",".join(self.namespaces)}"')
        if self.valid_after is not None:
            opts.append(f'valid-after="{format_time(self.valid_after)}"')
        if self.valid_before is not None:
            opts.append(f'valid-before="{format_time(self.valid_before)}"')
        parts = [",".join(self.principals), *([",".join(opts)] if opts else []), self.public_key]
        return " ".join([*parts, *([self.comment] if self.comment else [])])


def format_time(when: datetime) -> str:
    """``YYYYMMDDHHMMSSZ``, the UTC form OpenSSH reads."""
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def parse_time(text: str) -> datetime:
    """An OpenSSH ``YYYYMMDD[HHMM[SS]][Z]`` time (UTC whether or not ``Z`` is written).

    Raises:
        ValueError: it is not such a time.
    """
    m = _TIME.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a YYYYMMDD[HHMM[SS]]Z time")
    raw = m.group(1) + (m.group(2) or "0000") + (m.group(3) or "00")
    return datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse(text: str, *, label: str = "allowed_signers") -> list[AllowedSigner]:
    """Every signer of an allowed-signers file.

    Raises:
        InvalidFile: a line does not parse, or uses an option promptgov does not honour.
    """
    out = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(_parse_line(line))
        except ValueError as exc:
            raise InvalidFile(
                f"{label} line {no}: {exc}.", cli_hint="See 'promptgov keys list'.", file=label
            ) from exc
    return out


def _parse_line(line: str) -> AllowedSigner:
    principals, _, rest = line.partition(" ")
    rest = rest.strip()
    options: dict[str, str] = {}
    if rest and not _KEY_TYPE.match(rest):
        opts, _, rest = _split_options(rest)
        for name, value in _OPTION.findall(opts):
            options[name] = value
    fields = rest.split(None, 2)
    if len(fields) < 2 or not _KEY_TYPE.match(fields[0]):
        raise ValueError("expected 'principals [options] keytype base64 [comment]'")
    unknown = set(options) - {"namespaces", "valid-after", "valid-before"}
    if unknown:
        raise ValueError(f"option {sorted(unknown)[0]} is not supported")
    signer = AllowedSigner(
        principals=tuple(p.strip('"') for p in principals.split(",") if p),
        public_key=f"{fields[0]} {fields[1]}",
        namespaces=tuple(options["namespaces"].split(",")) if "namespaces" in options else None,
        valid_after=parse_time(options["valid-after"]) if "valid-after" in options else None,
        valid_before=parse_time(options["valid-before"]) if "valid-before" in options else None,
        comment=fields[2] if len(fields) > 2 else "",
    )
    fingerprint(signer.public_key)  # refuses a key that is not base64
    return signer


def _split_options(rest: str) -> tuple[str, str, str]:
    """The options field (which may quote spaces) and what follows it."""
    quoted = False
    for i, ch in enumerate(rest):
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            return rest[:i], " ", rest[i + 1 :].strip()
    return rest, "", ""


def dump(signers: Iterable[AllowedSigner]) -> str:
    """The file's text, one line per signer."""
    return "".join(s.line() + "\n" for s in signers)


def revoke(signers: Iterable[AllowedSigner], who: str, at: datetime) -> list[AllowedSigner]:
    """``signers`` with every key of ``who`` (a principal or a fingerprint) valid only before
    ``at`` (an earlier recorded revocation stands)."""
    out = []
    for s in signers:
        if who in s.principals or who == s.fingerprint:
            before = at if s.valid_before is None else min(s.valid_before, at)
            s = replace(s, valid_before=before)
        out.append(s)
    return out
