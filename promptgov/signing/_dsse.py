"""DSSE envelopes of signed Statements, for verifiers that speak in-toto's envelope format.

DSSE signs ``PAE(payloadType, payload)`` with the key's raw signature scheme, which an
SSH signature is not, so an Ed25519 decision key also signs the PAE bytes once, at decision
time: through ssh-agent's own sign request (a ``.pub`` whose key the agent holds) or from an
unencrypted key file. Other key types, and passphrase-protected files, get the SSH
signature only; the export then says their envelope is unsigned.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ._sshsig import fingerprint

#: The payload type of an in-toto Statement in a DSSE envelope.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: Seconds the agent may take to answer a sign request.
AGENT_TIMEOUT = 30.0
_SIGN_REQUEST, _SIGN_RESPONSE = 13, 14


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: the bytes the envelope's signature covers."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def envelope(statement: str, public_key: str, sig: str | None) -> dict[str, Any]:
    """The DSSE envelope of ``statement`` (``sig``: base64 raw signature over the PAE)."""
    return {
        "payload": base64.b64encode(statement.encode()).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": fingerprint(public_key), "sig": sig}] if sig else [],
    }


def _s(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def raw_sign(message: bytes, key: str | Path) -> str | None:
    """Base64 of ``key``'s raw Ed25519 signature over ``message``, or None where the key
    cannot give one (not Ed25519, passphrase-protected, no agent)."""
    path = Path(key)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data.startswith(b"ssh-ed25519 "):
        return _agent_sign(message, data.decode("ascii", "replace"))
    try:
        private = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError):
        return None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        return None
    return base64.b64encode(private.sign(message)).decode()


def _agent_sign(message: bytes, public_line: str) -> str | None:
    """Ask ssh-agent to sign ``message`` with the Ed25519 key ``public_line``."""
    sock_path = os.environ.get("SSH_AUTH_SOCK")
    if not sock_path:
        return None
    blob = base64.b64decode(public_line.split()[1])
    request = bytes([_SIGN_REQUEST]) + _s(blob) + _s(message) + struct.pack(">I", 0)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(AGENT_TIMEOUT)
            sock.connect(sock_path)
            sock.sendall(_s(request))
            head = _recv(sock, 4)
            reply = _recv(sock, struct.unpack(">I", head)[0])
    except OSError:
        return None
    if not reply or reply[0] != _SIGN_RESPONSE:
        return None
    sig_blob = reply[5:]
    n = struct.unpack(">I", sig_blob[:4])[0]
    if sig_blob[4 : 4 + n] != b"ssh-ed25519":
        return None
    raw = sig_blob[8 + n :]
    return base64.b64encode(raw).decode()


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("the agent closed the connection")
        buf += chunk
    return buf
