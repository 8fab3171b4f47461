"""``promptgov audit …``: exit codes, one-line messages, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import LOG, build_log, compact_fields, entry_spans, line_of, record_spans

from promptgov.audit import AuditLog, find_repo_root
from promptgov.cli._audit import audit_app
from promptgov.errors import NotFound


def _break_entry_2(root: Path) -> int:
    """Alter entry 2's reason; returns the line of its record."""
    data = bytearray((root / LOG).read_bytes())
    a, _ = record_spans(bytes(data))[1]
    pos = data.index(b'"reason":"v1"', a) + len(b'"reason":"')
    data[pos] = ord("w")
    (root / LOG).write_bytes(bytes(data))
    return line_of(bytes(data), a)


def test_verify_clean_log_exits_0(cli, root: Path) -> None:
    log = build_log(root, 3, fields=compact_fields)
    result = cli("audit", "verify", "--repo", root)
    assert result.exit_code == 0
    assert result.stdout == f"audit log OK: 3 entries, head 3 {log.head()[1][:16]}\n"
    assert "no signed checkpoint" in result.stderr


def test_verify_broken_log_exits_1_naming_the_first_bad_entry(cli, root: Path) -> None:
    build_log(root, 4, fields=compact_fields)
    line = _break_entry_2(root)
    result = cli("audit", "verify", "--repo", root)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: audit log broken at entry 2 (line {line}): stored hash does not match the "
        "record: the entry was altered\n"
    )
    assert result.stdout == ""


def test_verify_json_reports_problems_and_exits_1(cli, root: Path) -> None:
    build_log(root, 4, fields=compact_fields)
    line = _break_entry_2(root)
    result = cli("audit", "verify", "--json", "--repo", root)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["entries"] == 4
    assert data["problems"][0] | {"message": ""} == {
        "seq": 2, "line": line, "kind": "entry", "file": LOG, "message": "",
        "reason": "stored hash does not match the record: the entry was altered",
    }  # fmt: skip


def test_verify_garbage_exits_1_with_one_line_and_no_traceback(root: Path) -> None:
    (root / "audit").mkdir()
    (root / LOG).write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000) + b"\n## Entry 1\n\xff")
    proc = subprocess.run(
        [sys.executable, "-m", "promptgov", "audit", "verify", "--repo", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: audit log broken at entry 1 (line ")
    assert "torn final entry" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_unknown_repo_is_an_input_error(cli, tmp_path: Path) -> None:
    result = cli("audit", "verify", "--repo", tmp_path / "nope")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: repository directory {tmp_path / 'nope'} does not exist. Check --repo.\n"
    )


def test_repo_is_found_by_walking_up(cli, root: Path, monkeypatch) -> None:
    (root / "promptgov.yml").write_text("environments: [dev]\n")
    build_log(root, 2, fields=compact_fields)
    sub = root / "prompts" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.delenv("PROMPTGOV_REPO", raising=False)
    assert find_repo_root(None, cwd=sub) == root
    result = cli("audit", "verify", cwd=sub)
    assert result.exit_code == 0 and "2 entries" in result.stdout


def test_no_repo_anywhere_suggests_init(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(NotFound, match=r"no governed repository here .* or above\.$") as info:
        find_repo_root(None, cwd=lonely)
    assert info.value.cli_hint == "Run 'promptgov init' or pass --repo DIR."


def test_show_filters_and_json(cli, root: Path) -> None:
    log = AuditLog(root)
    log.append(action="add", actor="ann", reason="first", prompt="greet")
    log.append(action="add", actor="ann", reason="other", prompt="bye")
    log.append(action="flag", actor="aud", reason="odd", prompt="greet")
    result = cli("audit", "show", "--prompt", "greet", "--json", "--repo", root)
    assert result.exit_code == 0
    assert [(e["seq"], e["action"]) for e in json.loads(result.stdout)] == [(1, "add"), (3, "flag")]
    result = cli("audit", "show", "--action", "flag", "--repo", root)
    assert result.exit_code == 0 and "flag" in result.stdout and "bye" not in result.stdout
    result = cli("audit", "show", "--since", "last tuesday", "--repo", root)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid time 'last tuesday': use RFC 3339")


def test_keygen_checkpoint_verify_flow(cli, root: Path, tmp_path: Path, monkeypatch) -> None:
    build_log(root, 3, fields=compact_fields)
    result = cli("audit", "keygen", "--out", tmp_path / "keys", "--json", "--repo", root)
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    key, pub = info["private_key"], info["public_key"]
    result = cli("audit", "checkpoint", "--key", key, "--repo", root)
    assert result.exit_code == 0
    head = AuditLog(root).head()[1]
    assert result.stdout == f"checkpoint signed by key {info['key_id']}: entry 3 {head[:16]}\n"
    monkeypatch.setenv("PROMPTGOV_AUDIT_KEY", key)
    result = cli("audit", "checkpoint", "--repo", root)
    assert result.stdout == "entry 3 is already covered by the newest checkpoint\n"
    result = cli("audit", "verify", "--public-key", pub, "--repo", root)
    assert result.exit_code == 0
    assert (
        result.stdout == f"audit log OK: 3 entries, head 3 {head[:16]}, 1 checkpoint(s) verified\n"
    )
    data = (root / LOG).read_bytes()
    (root / LOG).write_bytes(data[: entry_spans(data)[2][0]])
    result = cli("audit", "verify", "--public-key", pub, "--repo", root)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: audit log broken at audit/checkpoints.jsonl line 1: the log has 2 entries but "
        "this checkpoint covers 3: entries 3–3 were removed (truncated)\n"
    )


def test_keygen_inside_repo_is_refused(cli, root: Path) -> None:
    result = cli("audit", "keygen", "--out", root / "keys", "--repo", root)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: refusing to write a private key inside the repository")
    assert not (root / "keys").exists()


def test_checkpoint_without_a_key_is_an_input_error(cli, root: Path, monkeypatch) -> None:
    build_log(root, 1, fields=compact_fields)
    monkeypatch.delenv("PROMPTGOV_AUDIT_KEY", raising=False)
    result = cli("audit", "checkpoint", "--repo", root)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: no signing key: pass --key FILE or set $PROMPTGOV_AUDIT_KEY to the key file.\n"
    )


def test_key_in_environment_as_pem_text(cli, root: Path, keys, monkeypatch) -> None:
    build_log(root, 1, fields=compact_fields)
    monkeypatch.setenv("PROMPTGOV_AUDIT_KEY", keys.private_path.read_text())
    result = cli("audit", "checkpoint", "--repo", root)
    assert result.exit_code == 0 and keys.key_id in result.stdout


def test_rotate_key_command(cli, root: Path, keys, keys2) -> None:
    build_log(root, 2, fields=compact_fields)
    assert cli("audit", "checkpoint", "--key", keys.private_path, "--repo", root).exit_code == 0
    result = cli(
        "audit", "rotate-key", "--key", keys.private_path, "--new-key", keys2.private_path,
        "--reason", "laptop lost", "--actor", "sec", "--repo", root,
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.stdout == (
        f"key {keys.key_id} replaced by {keys2.key_id} (entry 3, checkpoint signed by the new key)\n"
    )
    result = cli("audit", "verify", "--public-key", keys.public_path, "--repo", root)
    assert result.exit_code == 0 and "2 checkpoint(s) verified" in result.stdout


def test_repair_command_removes_torn_entry(cli, root: Path) -> None:
    build_log(root, 3, fields=compact_fields)
    data = (root / LOG).read_bytes()
    start, end = entry_spans(data)[-1]
    (root / LOG).write_bytes(data[: start + 100])
    assert cli("audit", "verify", "--repo", root).exit_code == 1
    result = cli("audit", "repair", "--actor", "oncall", "--repo", root)
    assert result.exit_code == 0
    assert result.stdout.startswith("removed torn entry 3 (100 bytes, kept in audit/repairs/")
    assert result.stdout.endswith("); recorded as entry 3\n")
    assert cli("audit", "verify", "--repo", root).exit_code == 0
    result = cli("audit", "repair", "--repo", root)
    assert result.stdout == "nothing to repair: the log has no torn final entry\n"


def test_audit_app_is_a_typer_group_others_can_extend(cli, root: Path) -> None:
    assert isinstance(audit_app, typer.Typer)
    names = {c.name for c in audit_app.registered_commands}
    assert {"verify", "show", "keygen", "checkpoint", "rotate-key", "repair"} <= names
    result = cli("audit", "--help")
    assert result.exit_code == 0 and "verify" in result.stdout
