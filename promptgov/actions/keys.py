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
from ..signed_decisions import signers
from ..store.files import atomic_write, read_bytes


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


#: Where ``upgrade_signing`` puts the allowed-signers file of a repository that names none.
DEFAULT_SIGNERS_FILE = "allowed_signers"
_SIGNERS_HEADER = (
    "# Who may sign promptgov decisions (OpenSSH allowed-signers format; see docs/signing.md).\n"
)


@dataclass(frozen=True)
class SigningUpgrade:
    """What ``upgrade_signing`` changed and found."""

    written: list[str]
    """Files it created or edited (a policy change to propose), empty when already set up."""
    unsigned: list[str]
    """Every decision recorded without a signature, oldest first within each prompt."""
    bad: list[str]
    """Every signature that does not verify, and why."""


def upgrade_signing(repo: Repo) -> SigningUpgrade:
    """Prepare a repository made before signed decisions: name an allowed-signers file in
    ``promptgov.yml`` (creating it empty) when none is named, and list the decisions
    recorded unsigned. The edits are a policy change: nothing counts them until it is
    proposed, approved and applied; the registry is not touched (old decisions stay valid
    where signatures are not required).
    """
    from ..signed_decisions import audit_signatures

    written = []
    if not repo.config.allowed_signers:
        config = repo.path("promptgov.yml")
        text = (read_bytes(config) or b"").decode("utf-8")
        sep = "" if text.endswith("\n") or not text else "\n"
        atomic_write(config, f"{text}{sep}allowed_signers: {DEFAULT_SIGNERS_FILE}\n".encode())
        written.append("promptgov.yml")
        path = repo.path(DEFAULT_SIGNERS_FILE)
        if read_bytes(path) is None:
            atomic_write(path, _SIGNERS_HEADER.encode())
            written.append(DEFAULT_SIGNERS_FILE)
        repo.__dict__.pop("config", None)
    found = list(audit_signatures(repo, repo.store.registry().items(), every_unsigned=True))
    return SigningUpgrade(
        written,
        [f"{f.where}" for f in found if f.unsigned],
        [f"{f.where}: {f.why}" for f in found if not f.unsigned],
    )
