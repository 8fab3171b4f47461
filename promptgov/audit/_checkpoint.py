"""Ed25519 keys, signed checkpoints of the chain's head, and key-rotation endorsements."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import Conflict, InputError, NotFound, UnsafePath
from ._record import GENESIS_HASH, encode, utc_now_text
from ._verify import AuditProblem, AuditVerifyReport, LogScan

CHECKPOINTS_FILE = "audit/checkpoints.jsonl"
CHECKPOINT_DOMAIN = b"promptgov-audit-checkpoint-v1\x00"
ROTATE_DOMAIN = b"promptgov-audit-rotate-v1\x00"
_CHECKPOINT_KEYS = frozenset({"v", "seq", "head", "key_id", "public_key", "time", "prev", "sig"})


@dataclass(frozen=True)
class KeyFiles:
    """Where ``keygen`` wrote a key pair, and the key's id."""

    key_id: str
    private_path: Path
    public_path: Path


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log had ``seq`` entries ending in ``head``."""

    seq: int
    head: str
    key_id: str
    time: str
    line: int
    created: bool
    """False when the head was already covered by the newest checkpoint."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seq": self.seq,
            "head": self.head,
            "key_id": self.key_id,
            "time": self.time,
            "line": self.line,
            "created": self.created,
        }


# --------------------------------------------------------------------------- keys


def public_raw(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | bytes) -> str:
    """A short stable name for a public key: the first 16 hex digits of its sha256."""
    raw = key if isinstance(key, bytes) else public_raw(key)
    return hashlib.sha256(raw).hexdigest()[:16]


def _inside(path: Path, root: Path | None) -> bool:
    if root is None:
        return False
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def write_keypair(out_dir: Path, *, repo_root: Path | None = None) -> KeyFiles:
    """Create an Ed25519 key pair in ``out_dir``: private key 0600, public key 0644.

    The private key signs checkpoints and must never be committed, so a directory
    inside the governed repository is refused; existing key files are never overwritten.

    Raises:
        UnsafePath: ``out_dir`` is inside the repository.
        Conflict: a key file with the same name already exists.
        InputError: the directory cannot be written.
    """
    if _inside(out_dir, repo_root):
        raise UnsafePath(
            f"refusing to write a private key inside the repository ({out_dir}); "
            "choose a directory outside it, e.g. ~/.config/promptgov."
        )
    private = Ed25519PrivateKey.generate()
    kid = key_id(private.public_key())
    priv_path = out_dir / f"promptgov-audit-{kid}.key"
    pub_path = out_dir / f"promptgov-audit-{kid}.pub"
    priv_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(priv_pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(priv_path, 0o600)
        fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pub_pem)
    except FileExistsError as exc:
        raise Conflict(f"{exc.filename} already exists; keys are never overwritten.") from exc
    except OSError as exc:
        raise InputError(f"cannot write keys to {out_dir}: {exc.strerror or exc}.") from exc
    return KeyFiles(kid, priv_path, pub_path)


def load_private_key(source: Path | bytes, *, repo_root: Path | None = None) -> Ed25519PrivateKey:
    """A private key from a PEM file (or PEM bytes, e.g. from ``$PROMPTGOV_AUDIT_KEY``).

    Raises:
        UnsafePath: the key file lies inside the repository.
        PermissionDenied-like InputError: the key file is readable by other users.
        NotFound / InputError: the file is missing or not an Ed25519 private key.
    """
    if isinstance(source, Path):
        if _inside(source, repo_root):
            raise UnsafePath(
                f"refusing a private key stored inside the repository ({source}); "
                "move it outside and delete it from git history if it was committed."
            )
        try:
            mode = source.stat().st_mode
            data = source.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"key file {source} does not exist; generate an Ed25519 key there.",
                cli_hint="Create one with 'promptgov audit keygen'.",
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read key file {source}: {exc.strerror or exc}.") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(
                f"key file {source} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
                f"run 'chmod 600 {source}'."
            )
        label = str(source)
    else:
        data, label = source, "the key given"
    try:
        key = serialization.load_pem_private_key(data.strip() + b"\n", password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"{label} is not a PEM private key; use an Ed25519 key in PEM form.",
            cli_hint="Use a key from 'promptgov audit keygen'.",
        ) from exc
    except Exception as exc:  # cryptography raises its own UnsupportedAlgorithm here
        raise InputError(f"{label} cannot be read as a private key ({exc}).") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            f"{label} is not an Ed25519 key; use an Ed25519 key.",
            cli_hint="Use a key from 'promptgov audit keygen'.",
        )
    return key


def load_public_key(source: Path | bytes) -> Ed25519PublicKey:
    """A public key from a PEM file, PEM bytes, or base64 of the 32 raw bytes.

    Raises:
        NotFound / InputError: the file is missing or holds no Ed25519 public key.
    """
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"public key file {source} does not exist.") from None
        except OSError as exc:
            raise InputError(f"cannot read public key {source}: {exc.strerror or exc}.") from exc
        label = str(source)
    else:
        data, label = source, "the public key given"
    text = data.strip()
    if b"PRIVATE KEY" in text:
        raise InputError(f"{label} is a private key; pass the .pub file instead.")
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text + b"\n")
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except Exception as exc:  # malformed PEM/base64 or wrong key length, from cryptography
        raise InputError(f"{label} is not an Ed25519 public key ({type(exc).__name__}).") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{label} is not an Ed25519 public key.")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _verify_sig(raw_pub: bytes | None, sig: bytes | None, message: bytes) -> bool:
    if raw_pub is None or sig is None or len(raw_pub) != 32:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw_pub).verify(sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- rotation


def rotation_message(old_raw: bytes, new_raw: bytes, prev_hash: str) -> bytes:
    """What both keys sign in a rotation: the two keys and the chain position."""
    return ROTATE_DOMAIN + old_raw + new_raw + prev_hash.encode("ascii")


def rotation_details(
    old: Ed25519PrivateKey, new: Ed25519PrivateKey, prev_hash: str
) -> dict[str, Any]:
    """The ``details`` of a ``rotate-key`` entry, signed by the old and the new key."""
    old_raw, new_raw = public_raw(old.public_key()), public_raw(new.public_key())
    message = rotation_message(old_raw, new_raw, prev_hash)
    return {
        "old_key_id": key_id(old_raw),
        "old_public_key": _b64(old_raw),
        "new_key_id": key_id(new_raw),
        "new_public_key": _b64(new_raw),
        "prev_hash": prev_hash,
        "old_signature": _b64(old.sign(message)),
        "new_signature": _b64(new.sign(message)),
    }


@dataclass(frozen=True)
class _KeyPeriod:
    key_id: str
    raw: bytes | None
    from_seq: int


def _timeline(scan: LogScan) -> list[_KeyPeriod]:
    """Signing keys in force over the log, checked rotation by rotation."""
    report = scan.report
    periods: list[_KeyPeriod] = []
    for seq, line, details, prev in scan.rotations:
        old_raw = _unb64(details.get("old_public_key"))
        new_raw = _unb64(details.get("new_public_key"))
        ok = (
            old_raw is not None
            and new_raw is not None
            and details.get("old_key_id") == key_id(old_raw)
            and details.get("new_key_id") == key_id(new_raw)
            and details.get("prev_hash") == prev
        )
        message = rotation_message(old_raw or b"", new_raw or b"", prev) if ok else b""
        if not (
            ok
            and _verify_sig(old_raw, _unb64(details.get("old_signature")), message)
            and _verify_sig(new_raw, _unb64(details.get("new_signature")), message)
        ):
            report.add(
                AuditProblem(
                    "key rotation is not signed by both the old and the new key",
                    seq=seq,
                    line=line,
                    kind="key",
                )
            )
            continue
        assert old_raw is not None and new_raw is not None
        if periods and periods[-1].key_id != key_id(old_raw):
            report.add(
                AuditProblem(
                    f"key rotation replaces key {key_id(old_raw)}, but key {periods[-1].key_id} "
                    "was in force",
                    seq=seq,
                    line=line,
                    kind="key",
                )
            )
            continue
        if not periods:
            periods.append(_KeyPeriod(key_id(old_raw), old_raw, 0))
        periods.append(_KeyPeriod(key_id(new_raw), new_raw, seq))
    return periods


def _key_at(periods: list[_KeyPeriod], seq: int) -> _KeyPeriod | None:
    current = None
    for period in periods:
        if period.from_seq <= seq:
            current = period
    return current


# --------------------------------------------------------------------------- checkpoints


def checkpoint_line(
    private: Ed25519PrivateKey, seq: int, head: str, prev_line: bytes | None
) -> bytes:
    """A signed checkpoint line (canonical JSON, no newline) extending ``prev_line``."""
    raw = public_raw(private.public_key())
    body = {
        "v": 1,
        "seq": seq,
        "head": head,
        "key_id": key_id(raw),
        "public_key": _b64(raw),
        "time": utc_now_text(),
        "prev": hashlib.sha256(prev_line).hexdigest() if prev_line else GENESIS_HASH,
    }
    sig = private.sign(CHECKPOINT_DOMAIN + encode(body))
    return encode({**body, "sig": _b64(sig)})


def last_line(data: bytes | None) -> bytes | None:
    """The last non-empty line of a checkpoints file."""
    if not data:
        return None
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    return lines[-1] if lines else None


def check_checkpoints(
    scan: LogScan,
    sources: list[tuple[str, bytes, bool]],
    public_key: Ed25519PublicKey | None,
) -> None:
    """Verify checkpoint files against the scanned log, adding problems to its report.

    ``sources`` are (label, bytes, chained): the repository's checkpoints file is
    chained from its first line; a file given on the command line may start anywhere.
    Each checkpoint must be well formed, signed by the key in force at its position,
    extend the previous one, and match the log (which must still hold its head).
    """
    report = scan.report
    periods = _timeline(scan)
    parsed: list[tuple[str, int, dict[str, Any], bytes, bool]] = []
    for label, data, chained in sources:
        first = True
        for number, raw_line in enumerate(data.split(b"\n"), start=1):
            if not raw_line.strip():
                continue
            try:
                obj = json.loads(raw_line)
            except (ValueError, RecursionError):
                obj = None
            if type(obj) is not dict or obj.keys() != _CHECKPOINT_KEYS:
                report.add(
                    AuditProblem(
                        "not a checkpoint (invalid JSON or missing fields)",
                        line=number,
                        kind="checkpoint",
                        file=label,
                    )
                )
                first = False
                continue
            parsed.append((label, number, obj, raw_line, chained or not first))
            first = False
    if not periods:
        first_key = next(
            (o for _, _, o, _, _ in parsed if isinstance(o.get("public_key"), str)), None
        )
        raw = _unb64(first_key["public_key"]) if first_key else None
        if raw is not None and len(raw) == 32:
            periods = [_KeyPeriod(key_id(raw), raw, 0)]
    report.key_ids = [p.key_id for p in periods]
    if public_key is not None:
        anchor = key_id(public_key)
        report.anchored = True
        if not parsed:
            report.add(
                AuditProblem(
                    "no signed checkpoint to check against the public key (the checkpoints "
                    "were removed, or none was ever written)",
                    kind="checkpoint",
                    file=CHECKPOINTS_FILE,
                )
            )
        elif anchor not in report.key_ids:
            report.add(
                AuditProblem(
                    f"the public key given ({anchor}) signed none of the checkpoints and no "
                    "key rotation links it to them",
                    kind="key",
                    file=CHECKPOINTS_FILE,
                )
            )
            return
    elif parsed:
        report.warnings.append(
            "checkpoint signatures were checked with the keys recorded in the repository; "
            "pass --public-key to check them against a key you trust"
        )
    prev_line: dict[str, bytes] = {}
    prev_seq: dict[str, int] = {}
    for label, number, obj, raw_line, chained in parsed:
        problem = _check_one(
            obj, raw_line, periods, scan, prev_line.get(label), chained, prev_seq.get(label, 0)
        )
        prev_line[label] = raw_line
        if isinstance(obj.get("seq"), int):
            prev_seq[label] = obj["seq"]
        if problem is not None:
            seq = obj.get("seq") if isinstance(obj.get("seq"), int) else None
            kind = "truncated" if problem.startswith("the log has") else "checkpoint"
            report.add(AuditProblem(problem, seq=seq, line=number, kind=kind, file=label))
        else:
            report.checkpoints += 1


def _check_one(
    obj: dict[str, Any],
    raw_line: bytes,
    periods: list[_KeyPeriod],
    scan: LogScan,
    previous: bytes | None,
    chained: bool,
    previous_seq: int,
) -> str | None:
    seq, head = obj["seq"], obj["head"]
    if type(seq) is not int or seq < 1 or not isinstance(head, str):
        return "checkpoint has an invalid seq or head"
    raw = _unb64(obj["public_key"])
    if raw is None or len(raw) != 32 or obj["key_id"] != key_id(raw):
        return "checkpoint's key id does not match its public key"
    body = {k: v for k, v in obj.items() if k != "sig"}
    try:
        message = CHECKPOINT_DOMAIN + encode(body)
    except (ValueError, TypeError, UnicodeError):
        return "checkpoint cannot be encoded"
    if not _verify_sig(raw, _unb64(obj["sig"]), message):
        return (
            f"checkpoint signature is invalid for key {obj['key_id']} (the checkpoint was altered)"
        )
    period = _key_at(periods, seq)
    if period is None or period.key_id != obj["key_id"]:
        expected = period.key_id if period else "none"
        return (
            f"checkpoint is signed by key {obj['key_id']}, but key {expected} was in force at "
            f"entry {seq}"
        )
    if chained:
        expected_prev = hashlib.sha256(previous).hexdigest() if previous else GENESIS_HASH
        if obj["prev"] != expected_prev:
            return (
                "checkpoint does not extend the previous one (a checkpoint was removed or altered)"
            )
        if seq < previous_seq:
            return f"checkpoint goes back from entry {previous_seq} to {seq}"
    hashes = scan.hashes
    if seq > len(hashes):
        return (
            f"the log has {len(hashes)} entries but this checkpoint covers {seq}: "
            f"entries {len(hashes) + 1}–{seq} were removed (truncated)"
        )
    if hashes[seq - 1] != head:
        return f"entry {seq} differs from the signed checkpoint: the log was rewritten up to there"
    return None


def new_checkpoint_check(report: AuditVerifyReport, signing: Ed25519PublicKey) -> None:
    """Refuse to sign with a key other than the one in force.

    Raises:
        Conflict: the log's current key differs from ``signing``.
    """
    kid = key_id(signing)
    if report.key_ids and report.key_ids[-1] != kid:
        raise Conflict(
            f"key {kid} is not the log's checkpoint key ({report.key_ids[-1]}); sign with that "
            "key, or rotate the log's key to it.",
            cli_hint="Replace it with 'promptgov audit rotate-key'.",
        )
