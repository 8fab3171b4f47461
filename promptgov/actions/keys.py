"""``promptgov keys``: the allowed-signers file — who may sign decisions, with which key.

The file is governed policy (``actions/_policy_files.py``): these functions edit it on
disk, and nothing decided counts the edit until it is approved and applied as a policy
change (``promptgov policy propose`` → ``approve`` → ``apply``), a signed, audited action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .. import signing
from ..errors import Conflict, InputError, NotFound
from ..model import identity, utcnow
from ..repo import Repo
from ..store.files import atomic_write, read_bytes
from ._signatures import signers


@dataclass(frozen=True)
class KeyOptions:
    """When a key may sign."""

    valid_after: datetime | None = None
    valid_before: datetime | None = None


def _file(repo: Repo) -> Path:
    rel = repo.config.allowed_signers
    if not rel:
        raise InputError(
            "promptgov.yml names no allowed-signers file.",
            cli_hint="Add 'allowed_signers: allowed_signers' to promptgov.yml (a policy change).",
        )
    return repo.path(rel)


def list_keys(repo: Repo) -> list[signing.AllowedSigner]:
    """Every line of the allowed-signers file (read-only)."""
    _file(repo)
    return signers(repo)


def add_key(repo: Repo, who: str, public_key: str, options: KeyOptions) -> signing.AllowedSigner:
    """Give ``who`` the key ``public_key`` (``type base64 [comment]`` text or a ``.pub`` path).

    Raises:
        InputError: no allowed-signers file is named, or the key does not parse.
        Conflict: ``who`` already has this key.
    """
    path = _file(repo)
    text = public_key
    if not text.startswith(("ssh-", "ecdsa-", "sk-")):
        data = read_bytes(Path(public_key))
        if data is None:
            raise NotFound(f"no public key file {public_key}.")
        text = data.decode("utf-8", "replace").strip()
    fields = text.split()
    line = f"{identity(who)} {' '.join(fields[:2])}"
    (new,) = signing.parse(line, label=public_key)
    new = signing.AllowedSigner(
        new.principals, new.public_key, None, options.valid_after, options.valid_before
    )
    current = signers(repo)
    if any(s.public_key == new.public_key and who in s.principals for s in current):
        raise Conflict(f"{who} already has key {new.fingerprint}.")
    atomic_write(path, signing.dump([*current, new]).encode())
    return new


def revoke_key(repo: Repo, who: str, *, at: datetime | None = None) -> list[signing.AllowedSigner]:
    """End every key of ``who`` (a name or a ``SHA256:`` fingerprint) at ``at`` (default
    now): it stops counting from then on, and what it signed before still counts.

    Raises:
        NotFound: no key is ``who``'s.
    """
    path = _file(repo)
    current = signers(repo)
    if not any(who in s.principals or who == s.fingerprint for s in current):
        raise NotFound(f"the allowed signers give no key to {who}.")
    when = at or utcnow()
    if when.microsecond:  # the file keeps whole seconds: what was signed before still counts
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    revoked = signing.revoke(current, who, when)
    atomic_write(path, signing.dump(revoked).encode())
    return [s for s in revoked if who in s.principals or who == s.fingerprint]
