"""SSH signatures (OpenSSH's SSHSIG format): verified in-process, made by ``ssh-keygen -Y sign``.

Verification runs here, with ``cryptography`` doing the key maths, because ``verify`` checks
thousands of signatures and a process per signature would take seconds. Signing goes
through ``ssh-keygen`` so a key in ``ssh-agent`` (or a hardware token) signs exactly as it
does for ``git commit -S`` with ``gpg.format=ssh``; the format is PROTOCOL.sshsig.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import InputError

#: The namespace every promptgov signature is made in (``ssh-keygen -n promptgov``).
NAMESPACE = "promptgov"
#: Seconds ``ssh-keygen -Y sign`` may take (an agent asking for confirmation included).
SIGN_TIMEOUT = 60.0

_MAGIC = b"SSHSIG"
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_EC_HASH = {"nistp256": hashes.SHA256(), "nistp384": hashes.SHA384(), "nistp521": hashes.SHA512()}


class BadSignature(ValueError):
    """A signature that does not parse or does not verify; the message says which."""


@dataclass(frozen=True)
class SshSig:
    """A parsed SSHSIG blob."""

    public_key: str
    """The signer's key as ``type base64`` (the allowed-signers key field)."""
    namespace: str
    hash_algorithm: str
    sig_type: str
    sig: bytes

    @property
    def fingerprint(self) -> str:
        """``SHA256:…``, as ``ssh-keygen -l`` prints it."""
        return fingerprint(self.public_key)


def fingerprint(public_key: str) -> str:
    """The ``SHA256:…`` fingerprint of a ``type base64`` public key."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise BadSignature("the signature is truncated")
    (n,) = struct.unpack(">I", buf[pos : pos + 4])
    end = pos + 4 + n
    if end > len(buf):
        raise BadSignature("the signature is truncated")
    return buf[pos + 4 : end], end


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def parse(armored: str) -> SshSig:
    """The fields of an armored SSH signature.

    Raises:
        BadSignature: it is not an SSHSIG of version 1.
    """
    text = armored.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise BadSignature("not an SSH signature (no BEGIN/END SSH SIGNATURE lines)")
    try:
        blob = base64.b64decode("".join(text[len(_BEGIN) : -len(_END)].split()), validate=True)
    except ValueError as exc:
        raise BadSignature("the signature is not valid base64") from exc
    if not blob.startswith(_MAGIC) or len(blob) < 10:
        raise BadSignature("not an SSH signature (no SSHSIG magic)")
    if struct.unpack(">I", blob[6:10])[0] != 1:
        raise BadSignature("unsupported SSHSIG version")
    pos = 10
    key, pos = _read_string(blob, pos)
    namespace, pos = _read_string(blob, pos)
    _reserved, pos = _read_string(blob, pos)
    hash_alg, pos = _read_string(blob, pos)
    sig_blob, pos = _read_string(blob, pos)
    sig_type, p = _read_string(sig_blob, 0)
    sig, _ = _read_string(sig_blob, p)
    key_type, _ = _read_string(key, 0)
    try:
        return SshSig(
            public_key=f"{key_type.decode()} {base64.b64encode(key).decode()}",
            namespace=namespace.decode(),
            hash_algorithm=hash_alg.decode(),
            sig_type=sig_type.decode(),
            sig=sig,
        )
    except UnicodeDecodeError as exc:
        raise BadSignature("the signature's text fields are not UTF-8") from exc


def verify(message: bytes, armored: str, *, namespace: str = NAMESPACE) -> SshSig:
    """The parsed signature, once it verifies over ``message`` with its own embedded key.

    Whether that key may sign is the allowed-signers file's question, not this one's.

    Raises:
        BadSignature: it does not parse, is for another namespace or does not verify.
    """
    s = parse(armored)
    if s.namespace != namespace:
        raise BadSignature(f"it is signed for namespace {s.namespace!r}, not {namespace!r}")
    digest = _HASHES.get(s.hash_algorithm)
    if digest is None:
        raise BadSignature(f"unsupported hash algorithm {s.hash_algorithm!r}")
    signed = (
        _MAGIC
        + _string(namespace.encode())
        + _string(b"")
        + _string(s.hash_algorithm.encode())
        + _string(digest(message).digest())
    )
    try:
        _check(s, signed)
    except (InvalidSignature, UnsupportedAlgorithm, ValueError) as exc:
        if isinstance(exc, BadSignature):
            raise
        raise BadSignature("the signature does not verify (the signed text was altered)") from exc
    return s


def _check(s: SshSig, signed: bytes) -> None:
    """Raise unless ``s.sig`` is the key's signature over ``signed``."""
    key = serialization.load_ssh_public_key(s.public_key.encode())
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(s.sig, signed)
    elif isinstance(key, rsa.RSAPublicKey):
        algs = {"rsa-sha2-256": hashes.SHA256(), "rsa-sha2-512": hashes.SHA512()}
        if s.sig_type not in algs:
            raise BadSignature(f"unsupported RSA signature type {s.sig_type!r}")
        key.verify(s.sig, signed, padding.PKCS1v15(), algs[s.sig_type])
    elif isinstance(key, ec.EllipticCurvePublicKey):
        r, p = _read_string(s.sig, 0)
        ss, _ = _read_string(s.sig, p)
        der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(ss, "big"))
        curve = s.sig_type.rsplit("-", 1)[-1]
        key.verify(der, signed, ec.ECDSA(_EC_HASH.get(curve, hashes.SHA256())))
    else:
        raise BadSignature(f"unsupported key type {s.public_key.split()[0]}")


def sign(message: bytes, key: str | Path, *, namespace: str = NAMESPACE) -> str:
    """The armored SSH signature of ``message`` by ``key``, made by ``ssh-keygen -Y sign``.

    ``key`` is a private key file, or a public key file (``.pub``) whose private half
    ``ssh-agent`` holds — as git's ``user.signingKey``. A ``key::ssh-ed25519 AAAA…``
    literal names an agent key by its public text.

    Raises:
        InputError: ssh-keygen is missing, fails or times out.
    """
    with tempfile.TemporaryDirectory(prefix="promptgov-sign-") as tmp:
        key_path = Path(key) if not str(key).startswith("key::") else Path(tmp, "agent.pub")
        if str(key).startswith("key::"):
            key_path.write_text(str(key)[5:] + "\n", encoding="utf-8")
        data = Path(tmp, "statement")
        data.write_bytes(message)
        cmd = ["ssh-keygen", "-q", "-Y", "sign", "-n", namespace, "-f", str(key_path), str(data)]
        try:
            done = subprocess.run(
                cmd, capture_output=True, timeout=SIGN_TIMEOUT, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError as exc:
            raise InputError(
                "ssh-keygen is not installed, so nothing can be signed.",
                cli_hint="Install OpenSSH's client (Debian: apt-get install openssh-client).",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise InputError(f"ssh-keygen did not sign within {SIGN_TIMEOUT:.0f} s.") from exc
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().splitlines()
            raise InputError(
                f"ssh-keygen could not sign with {key}: {why[-1] if why else 'failed'}.",
                cli_hint="Check the key file, or that ssh-agent holds the key (ssh-add -l).",
            )
        return Path(tmp, "statement.sig").read_text(encoding="ascii")
