"""Signed checkpoints: keys, signatures, extension, truncation, key rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from conftest import LOG, build_log, compact_fields, entry_spans
from cryptography.hazmat.primitives import serialization

from promptgov.audit import (
    AuditLog,
    load_private_key,
    load_public_key,
    write_keypair,
)
from promptgov.audit._checkpoint import checkpoint_line, rotation_details
from promptgov.errors import Conflict, InputError, UnsafePath, VerificationFailed
from promptgov.store.files import Transaction, repo_lock

CPS = "audit/checkpoints.jsonl"


def _priv(keys):
    return load_private_key(keys.private_path)


def _pub(keys):
    return load_public_key(keys.public_path)


def test_keygen_writes_0600_private_key_and_public_key(tmp_path: Path) -> None:
    keys = write_keypair(tmp_path / "k")
    assert stat.S_IMODE(keys.private_path.stat().st_mode) == 0o600
    pub = serialization.load_pem_public_key(keys.public_path.read_bytes())
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert keys.key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert keys.key_id in keys.private_path.name


def test_keygen_refuses_a_directory_inside_the_repository(root: Path) -> None:
    with pytest.raises(UnsafePath, match="refusing to write a private key inside the repository"):
        write_keypair(root / "keys", repo_root=root)
    assert not (root / "keys").exists()


def test_private_key_readable_by_others_or_inside_repo_is_refused(root: Path, keys) -> None:
    keys.private_path.chmod(0o644)
    with pytest.raises(InputError, match="accessible by other users .*chmod 600"):
        load_private_key(keys.private_path)
    inside = root / "k.key"
    inside.write_bytes(keys.private_path.read_bytes())
    inside.chmod(0o600)
    with pytest.raises(UnsafePath, match="inside the repository"):
        load_private_key(inside, repo_root=root)


def test_checkpoint_then_verify_with_public_key(root: Path, keys) -> None:
    log = build_log(root, 5, fields=compact_fields)
    cp = log.checkpoint(_priv(keys))
    assert (cp.seq, cp.head, cp.key_id, cp.created) == (5, log.head()[1], keys.key_id, True)
    line = json.loads((root / CPS).read_bytes())
    assert (line["seq"], line["head"], line["key_id"]) == (5, log.head()[1], keys.key_id)
    report = log.verify(public_key=keys.public_path)
    assert report.ok and report.checkpoints == 1 and report.anchored


def test_checkpoint_with_nothing_new_adds_no_line(root: Path, keys) -> None:
    log = build_log(root, 2, fields=compact_fields)
    log.checkpoint(_priv(keys))
    before = (root / CPS).read_bytes()
    assert log.checkpoint(_priv(keys)).created is False
    assert (root / CPS).read_bytes() == before


def test_checkpoint_of_empty_log_is_refused(root: Path, keys) -> None:
    with pytest.raises(InputError, match="nothing to checkpoint"):
        AuditLog(root).checkpoint(_priv(keys))
    assert not (root / CPS).exists()


def _tamper(root: Path, field: str, value) -> None:
    obj = json.loads((root / CPS).read_bytes())
    obj[field] = value
    (root / CPS).write_text(json.dumps(obj) + "\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", 4), ("head", "0" * 64), ("time", "2000-01-01T00:00:00.000000Z")],
)
def test_altered_checkpoint_fails_its_signature(root: Path, keys, field: str, value) -> None:
    log = build_log(root, 5, fields=compact_fields)
    log.checkpoint(_priv(keys))
    _tamper(root, field, value)
    problem = log.verify(public_key=keys.public_path).problems[0]
    assert problem.file == CPS and problem.line == 1
    assert problem.reason.startswith(f"checkpoint signature is invalid for key {keys.key_id}")


def test_flipped_signature_byte_is_detected(root: Path, keys) -> None:
    log = build_log(root, 5, fields=compact_fields)
    log.checkpoint(_priv(keys))
    sig = bytearray(base64.b64decode(json.loads((root / CPS).read_bytes())["sig"]))
    sig[10] ^= 0x01
    _tamper(root, "sig", base64.b64encode(bytes(sig)).decode())
    assert "signature is invalid" in log.verify().problems[0].reason


def test_wrong_public_key_is_reported(root: Path, keys, keys2) -> None:
    log = build_log(root, 3, fields=compact_fields)
    log.checkpoint(_priv(keys))
    report = log.verify(public_key=keys2.public_path)
    assert not report.ok
    assert report.problems[0].reason.startswith(
        f"the public key given ({keys2.key_id}) signed none of the checkpoints"
    )


def test_signing_with_another_key_without_rotation_is_refused(root: Path, keys, keys2) -> None:
    log = build_log(root, 3, fields=compact_fields)
    log.checkpoint(_priv(keys))
    build_log(root, 1, start=3, fields=compact_fields)
    before = (root / CPS).read_bytes()
    with pytest.raises(Conflict, match=f"key {keys2.key_id} is not the log's checkpoint key"):
        log.checkpoint(_priv(keys2))
    assert (root / CPS).read_bytes() == before


def test_removed_middle_checkpoint_breaks_the_extension(root: Path, keys) -> None:
    log = build_log(root, 2, fields=compact_fields)
    for i in range(3):
        log.checkpoint(_priv(keys))
        build_log(root, 1, start=10 + i, fields=compact_fields)
    lines = (root / CPS).read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    (root / CPS).write_bytes(lines[0] + lines[2])
    problem = log.verify(public_key=keys.public_path).problems[0]
    assert (problem.file, problem.line) == (CPS, 2)
    assert "does not extend the previous one" in problem.reason


def test_checkpoint_going_backwards_is_reported(root: Path, keys) -> None:
    log = build_log(root, 4, fields=compact_fields)
    log.checkpoint(_priv(keys))
    first = (root / CPS).read_bytes().strip()
    hashes = [json.loads(line)["hash"] for line in _record_lines(root)]
    back = checkpoint_line(_priv(keys), 2, hashes[1], first)
    (root / CPS).write_bytes(first + b"\n" + back + b"\n")
    assert "goes back from entry 4 to 2" in log.verify().problems[0].reason


def _record_lines(root: Path) -> list[bytes]:
    data = (root / LOG).read_bytes()
    return [ln for ln in data.split(b"\n") if ln.startswith(b'{"action"')]


def test_log_rewritten_after_checkpoint_is_never_signed(root: Path, keys) -> None:
    log = build_log(root, 3, fields=compact_fields)
    log.checkpoint(_priv(keys))
    data = (root / LOG).read_bytes()
    (root / LOG).write_bytes(data[: entry_spans(data)[2][0]])  # drop the last entry
    before = (root / CPS).read_bytes()
    with pytest.raises(VerificationFailed, match="the log has 2 entries but this checkpoint"):
        log.checkpoint(_priv(keys))
    assert (root / CPS).read_bytes() == before


def test_external_checkpoint_catches_truncation_of_log_and_checkpoints(
    root: Path, keys, tmp_path: Path
) -> None:
    log = build_log(root, 6, fields=compact_fields)
    log.checkpoint(_priv(keys))
    kept = tmp_path / "published-checkpoint.jsonl"
    kept.write_bytes((root / CPS).read_bytes())
    data = (root / LOG).read_bytes()
    (root / LOG).write_bytes(data[: entry_spans(data)[4][0]])
    (root / CPS).unlink()
    assert log.verify().ok  # without outside help nothing shows
    problem = log.verify(public_key=keys.public_path).problems[0]
    assert "no signed checkpoint to check against the public key" in problem.reason
    problem = log.verify(checkpoint=kept, public_key=keys.public_path).problems[0]
    assert problem.file == str(kept) and problem.kind == "truncated"
    assert "the log has 4 entries but this checkpoint covers 6" in problem.reason


def test_key_rotation_is_a_signed_entry_and_keeps_the_trust_chain(root: Path, keys, keys2) -> None:
    log = build_log(root, 3, fields=compact_fields)
    log.checkpoint(_priv(keys))
    build_log(root, 2, start=3, fields=compact_fields)
    entry = log.rotate_key(_priv(keys), _priv(keys2), actor="sec", reason="yearly rotation")
    assert (entry.seq, entry.action) == (6, "rotate-key")
    assert entry.details["old_key_id"] == keys.key_id
    assert entry.details["new_key_id"] == keys2.key_id
    last = json.loads((root / CPS).read_bytes().splitlines()[-1])
    assert (last["seq"], last["key_id"]) == (6, keys2.key_id)
    for trusted in (keys.public_path, keys2.public_path):
        report = log.verify(public_key=trusted)
        assert report.ok and report.checkpoints == 2, report.summary()
        assert report.key_ids == [keys.key_id, keys2.key_id]
    build_log(root, 1, start=7, fields=compact_fields)
    with pytest.raises(Conflict):
        log.checkpoint(_priv(keys))
    assert log.checkpoint(_priv(keys2)).created


def test_forged_rotation_entry_is_reported(root: Path, keys, keys2, tmp_path: Path) -> None:
    log = build_log(root, 2, fields=compact_fields)
    log.checkpoint(_priv(keys))
    mallory = write_keypair(tmp_path / "m")
    with repo_lock(root):
        txn = Transaction(root)
        details = rotation_details(_priv(mallory), _priv(keys2), log.head()[1])
        # claim to replace the real key, without its signature
        real_raw = _pub(keys).public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        details["old_public_key"] = base64.b64encode(real_raw).decode()
        details["old_key_id"] = keys.key_id
        log.stage(txn, action="rotate-key", actor="mallory", reason="takeover", details=details)
        txn.commit()
    problem = log.verify(public_key=keys.public_path).problems[0]
    assert (problem.seq, problem.kind) == (3, "key")
    assert problem.reason == "key rotation is not signed by both the old and the new key"


def test_rotation_needs_a_key_in_force(root: Path, keys, keys2) -> None:
    log = build_log(root, 2, fields=compact_fields)
    with pytest.raises(InputError, match="no checkpoint key in force yet"):
        log.rotate_key(_priv(keys), _priv(keys2), actor="sec", reason="r")
    assert log.head()[0] == 2
