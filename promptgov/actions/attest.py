"""``promptgov attest export``: the signed decisions behind one version, as files an auditor
checks with OpenSSH alone.

The bundle holds each signed Statement verbatim with its SSH signature, the allowed-signers
file, a ``manifest.json`` and a README with the exact ``ssh-keygen -Y verify`` command of
every signature (``-Overify-time`` at the Statement's time, so a key revoked later still
verifies what it signed before). Read-only for the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import signed_decisions as _signatures
from .. import signing
from ..errors import InputError, NotFound
from ..registry import Registry
from ..store.files import atomic_write, read_bytes

_README = """# Signed decisions for {name}@{version} (sha256 {sha256})

Each `statements/*.json` is an in-toto Statement, exactly the bytes that were signed; the
`.sig` beside it is an SSH signature (namespace `promptgov`). Check them with OpenSSH:

```sh
{commands}
```

Each command prints `Good "promptgov" signature for <identity>` and exits 0. The Statement's
`subject` names the prompt and its content sha256; `predicate` says what was decided.
"""


@dataclass
class AttestBundle:
    """What an export wrote."""

    directory: Path
    name: str
    version: str
    statements: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "directory": str(self.directory),
            "prompt": self.name,
            "version": self.version,
            "statements": self.statements,
        }


def export_attestations(registry: Registry, ref: str, out: Path) -> AttestBundle:
    """Write the signed decisions about ``ref`` (``name@version`` or ``name@env``) to ``out``.

    Raises:
        NotFound: the version has no signed decision.
        InputError: the policy names no allowed-signers file.
    """
    repo = registry.repo
    name, rec = registry.resolve(ref)
    entry = registry.entry(name)
    signed: list[tuple[str, str, signing.Decision, Any]] = []
    for a in rec.approvals:
        if a.signed is not None:
            signed.append(("approve", a.env, _signatures.approval_decision(name, rec, a), a.signed))
    for env, state in entry.environments.items():
        for m in state.history:
            if m.version == rec.version and m.signed is not None:
                decision = _signatures.move_decision(name, rec.sha256, env, m)
                signed.append((m.kind.value, env, decision, m.signed))
    if not signed:
        raise NotFound(f"{name}@{rec.version} has no signed decision to export.")
    rel = repo.config.allowed_signers
    signers_bytes = read_bytes(repo.path(rel)) if rel else None
    if signers_bytes is None:
        raise InputError(
            "promptgov.yml names no allowed-signers file; there is nothing to check against."
        )
    bundle = AttestBundle(out, name, rec.version)
    allowed = _signatures.signers(repo)
    commands = []
    atomic_write(out / "allowed_signers", signers_bytes)
    for i, (action, env, decision, s) in enumerate(signed, 1):
        base = f"statements/{i:02d}-{action}-{env}"
        atomic_write(out / f"{base}.json", s.statement.encode())
        atomic_write(out / f"{base}.json.sig", s.signature.encode())
        key = _public_key(s.signature)
        env_doc = signing.envelope(s.statement, key, s.dsse if key else None)
        atomic_write(out / f"{base}.dsse.json", json.dumps(env_doc, indent=2).encode())
        result = signing.check(s, decision, allowed)
        who = result.principal or decision.by
        when = signing.format_time(decision.at).rstrip("Z")
        commands.append(
            f"ssh-keygen -Y verify -f allowed_signers -I {who} -n {signing.NAMESPACE} "
            f"-s {base}.json.sig -Overify-time={when} < {base}.json"
        )
        bundle.statements.append(
            {
                "file": f"{base}.json",
                "signature": f"{base}.json.sig",
                "dsse": f"{base}.dsse.json",
                "public_key": key,
                "action": action,
                "env": env,
                "identity": who,
                "fingerprint": result.fingerprint,
                "valid": result.ok,
                **({} if result.ok else {"why": result.why}),
                "verify": commands[-1],
            }
        )
    atomic_write(
        out / "manifest.json",
        json.dumps(bundle.to_dict() | {"sha256": rec.sha256}, indent=2).encode(),
    )
    readme = _README.format(
        name=name, version=rec.version, sha256=rec.sha256, commands="\n".join(commands)
    )
    atomic_write(out / "README.md", readme.encode())
    return bundle


def _public_key(armored: str) -> str:
    """The key an SSH signature names ("" when it does not parse)."""
    try:
        return signing.parse_signature(armored).public_key
    except signing.BadSignature:
        return ""
