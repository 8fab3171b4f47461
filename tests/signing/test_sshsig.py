"""SSHSIG in-process against the real ssh-keygen, both ways, and the allowed-signers format."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from promptgov import signing
from promptgov.errors import InvalidFile
from promptgov.signing._dsse import raw_sign


def keygen(tmp: Path, name: str, kind: str = "ed25519") -> Path:
    """A fresh key pair made by ssh-keygen; the private key's path."""
    path = tmp / name
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", name, "-f", str(path)],
        check=True,
        timeout=30,
    )
    return path


def ssh_verify(
    tmp: Path, who: str, pub: Path, message: bytes, sig: str
) -> subprocess.CompletedProcess[bytes]:
    """Run the real ``ssh-keygen -Y verify`` on ``sig`` over ``message``."""
    signers = tmp / "allowed_signers_check"
    signers.write_text(f"{who} {pub.read_text().split()[0]} {pub.read_text().split()[1]}\n")
    (tmp / "msg.sig").write_text(sig)
    return subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(signers),
            "-I",
            who,
            "-n",
            "promptgov",
            "-s",
            str(tmp / "msg.sig"),
        ],
        input=message,
        capture_output=True,
        timeout=30,
    )


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_signature_made_by_ssh_keygen_verifies_in_process(tmp_path: Path, kind: str) -> None:
    key = keygen(tmp_path, "alice", kind)
    (tmp_path / "m").write_bytes(b"the statement\n")
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "promptgov", "-f", str(key), str(tmp_path / "m")],
        check=True,
        timeout=30,
    )
    sig = (tmp_path / "m.sig").read_text()
    parsed = signing.verify(b"the statement\n", sig)
    pub = (tmp_path / "alice.pub").read_text().split()
    assert parsed.public_key == f"{pub[0]} {pub[1]}"
    with pytest.raises(signing.BadSignature, match="altered"):
        signing.verify(b"the statement!\n", sig)
    with pytest.raises(signing.BadSignature, match="namespace"):
        signing.verify(b"the statement\n", sig, namespace="git")


def test_signature_promptgov_makes_verifies_with_ssh_keygen(tmp_path: Path) -> None:
    key = keygen(tmp_path, "alice")
    sig = signing.sign(b'{"a":1}', key)
    done = ssh_verify(tmp_path, "alice", Path(f"{key}.pub"), b'{"a":1}', sig)
    assert done.returncode == 0, done.stderr
    assert b'Good "promptgov" signature for alice' in done.stdout


def test_signing_through_a_real_ssh_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = keygen(tmp_path, "alice")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"], check=True, timeout=5)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, timeout=30)
        key.unlink()  # only the agent holds the private key now
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        sig = signing.sign(b"agent-signed", Path(f"{key}.pub"))
        # The agent also gives the raw Ed25519 signature a DSSE envelope needs.
        pae = signing.pae(signing.PAYLOAD_TYPE, b"agent-signed")
        raw = raw_sign(pae, Path(f"{key}.pub"))
    finally:
        agent.terminate()
        agent.wait(timeout=10)
    assert signing.verify(b"agent-signed", sig).fingerprint == signing.fingerprint(
        Path(f"{key}.pub").read_text()
    )
    assert raw is not None
    public = serialization.load_ssh_public_key(Path(f"{key}.pub").read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(raw), pae)


def test_allowed_signers_round_trip_and_revocation(tmp_path: Path) -> None:
    key = keygen(tmp_path, "alice")
    pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    text = f'alice,alice.smith namespaces="promptgov,git",valid-after="20260101" {pub} laptop\n'
    (signer,) = signing.parse(text)
    assert signer.principals == ("alice", "alice.smith")
    assert signer.namespaces == ("promptgov", "git")
    assert signer.comment == "laptop"
    cut = datetime(2026, 6, 1, tzinfo=UTC)
    (revoked,) = signing.revoke([signer], "alice", cut)
    assert revoked.valid_at(datetime(2026, 5, 31, tzinfo=UTC)) is None
    assert "revoked" in str(revoked.valid_at(cut))
    assert "after" in str(revoked.valid_at(datetime(2025, 5, 1, tzinfo=UTC)))
    assert signing.parse(signing.dump([revoked])) == [revoked]
    # The file promptgov writes is one ssh-keygen reads: verify against it for real.
    (tmp_path / "m").write_bytes(b"x")
    sig = signing.sign(b"x", key)
    (tmp_path / "s.sig").write_text(sig)
    (tmp_path / "as").write_text(signing.dump([revoked]))
    done = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(tmp_path / "as"),
            "-I",
            "alice.smith",
            "-n",
            "promptgov",
            "-s",
            str(tmp_path / "s.sig"),
            "-Overify-time=20260301",
        ],
        input=b"x",
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def test_cert_authority_lines_are_refused_not_half_honoured() -> None:
    with pytest.raises(InvalidFile, match="cert-authority"):
        signing.parse("alice cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n")


@given(st.text(max_size=200))
def test_hostile_signature_text_is_an_answer_not_a_crash(text: str) -> None:
    with pytest.raises(signing.BadSignature):
        signing.verify(b"m", text)


@given(st.binary(max_size=300))
def test_hostile_signature_blob_is_an_answer_not_a_crash(blob: bytes) -> None:
    armored = (
        "-----BEGIN SSH SIGNATURE-----\n"
        + base64.b64encode(b"SSHSIG" + blob).decode()
        + "\n-----END SSH SIGNATURE-----"
    )
    with pytest.raises(signing.BadSignature):
        signing.verify(b"m", armored)


@pytest.mark.parametrize(
    "statement",
    [
        "[]",
        '{"predicate": "x", "subject": ["y"]}',
        '{"predicate": {"time": 3}, "subject": [{}]}',
        '{"predicate": {"time": "2026-01-01T00:00:00+00:00"}, "subject": ["s"]}',
        "not json",
    ],
)
def test_well_signed_statement_of_the_wrong_shape_is_an_answer(
    tmp_path: Path, statement: str
) -> None:
    from promptgov.model import SignedStatement

    key = keygen(tmp_path, "alice")
    signed = SignedStatement(statement=statement, signature=signing.sign(statement.encode(), key))
    expect = signing.Decision(
        action="approve",
        prompt="p",
        sha256="0" * 64,
        version="1.0.0",
        env="prod",
        by="alice",
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    result = signing.check(signed, expect, [])
    assert not result.ok and "not a promptgov decision" in result.why
