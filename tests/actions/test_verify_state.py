"""The governed state is checked against the audit chain: forged edits are named and refused."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import promptgov
from promptgov.errors import IntegrityError

from .. import flows
from ..conftest import run_cli, snapshot

REGISTRY = "schemas/prompt-version-schema.yml"
CHANGELOG = "schemas/prompt-change-log.yml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.0.0 released to prod, then 1.1.0 (safety line removed) evaluated: its gate fails."""
    root = tmp_path_factory.mktemp("state") / "repo"
    promptgov.init(root, example=True)
    flows.add_version(root, "1.0.0", note="")
    flows.release(root, "1.0.0")
    flows.add_version(root, "1.1.0", remove=[flows.SAFETY_LINE])
    flows.evaluate(root, "1.1.0")
    res = run_cli("gate", "support-reply@1.1.0", "--env", "dev", "--repo", root)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert run_cli("verify", "--repo", root).exit_code == 0
    return root


@pytest.fixture
def repo(built: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "repo"
    shutil.copytree(built, dst, symlinks=True)
    return dst


def _load(root: Path, rel: str) -> Any:
    return yaml.safe_load((root / rel).read_text())


def _dump(root: Path, rel: str, data: Any) -> None:
    (root / rel).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _version(data: dict[str, Any], version: str) -> dict[str, Any]:
    versions = data["prompts"]["support-reply"]["versions"]
    return next(v for v in versions if v["version"] == version)


def _problems(root: Path) -> list[str]:
    res = run_cli("verify", "--repo", root, "--json")
    assert res.exit_code == 1, res.stdout
    return [f"{p['file']}: {p['message']}" for p in json.loads(res.stdout)["problems"]]


def test_a_forged_gate_verdict_and_approvals_are_named_and_cannot_promote(repo: Path) -> None:
    data = _load(repo, REGISTRY)
    rec = _version(data, "1.1.0")
    for g in rec["gate_results"]:
        g["verdict"] = "pass"
    rec["approvals"] = [
        {"env": env, "by": "alice", "at": "2026-01-01T00:00:00Z"} for env in flows.ENVS
    ]
    _dump(repo, REGISTRY, data)
    problems = _problems(repo)
    assert any(
        p.startswith(f"{REGISTRY}: support-reply@1.1.0: approvals, gate_results differ from")
        for p in problems
    ), problems
    before = snapshot(repo)
    for env in flows.ENVS:
        res = run_cli("promote", "support-reply@1.1.0", "--to", env, "--by", "alice",
                      "--reason", "forged", "--repo", repo)  # fmt: skip
        assert res.exit_code == 1 and "disagrees with audit entry #" in res.stderr, res.stderr
    assert snapshot(repo) == before


def test_swapped_content_hashes_are_named_and_never_served(repo: Path) -> None:
    data = _load(repo, REGISTRY)
    a, b = _version(data, "1.0.0"), _version(data, "1.1.0")
    a["sha256"], b["sha256"] = b["sha256"], a["sha256"]
    _dump(repo, REGISTRY, data)
    problems = _problems(repo)
    for version in ("1.0.0", "1.1.0"):
        assert any(f"support-reply@{version}: sha256 differs" in p for p in problems), problems
    with pytest.raises(IntegrityError, match="disagrees with audit entry"):
        promptgov.Registry(repo).get("support-reply", env="prod")
    res = run_cli("show", "support-reply@prod", "--repo", repo)
    assert res.exit_code == 1 and len(res.stderr.strip().splitlines()) <= 2


def test_an_edited_eval_output_is_named_and_cannot_pass_a_gate(repo: Path) -> None:
    out = next((repo / "logs/evals/support-reply").glob("*.json"), None)
    outputs = sorted((repo / "logs/evals/support-reply").glob("*.json"))
    assert out is not None and len(outputs) == 2
    newest = max(outputs, key=lambda p: p.stat().st_mtime_ns)
    data = json.loads(newest.read_text())
    for row in data["results"]["results"]:
        row["success"], row["score"] = True, 1
        row["gradingResult"] = {"pass": True, "score": 1, "reason": "ok"}
    data["results"]["stats"].update(successes=len(data["results"]["results"]), failures=0)
    newest.write_text(json.dumps(data))
    rel = newest.relative_to(repo).as_posix()
    assert f"{rel}: was changed since audit entry #" in " ".join(_problems(repo))
    before = snapshot(repo)
    res = run_cli("gate", "support-reply@1.1.0", "--env", "dev", "--repo", repo)
    assert res.exit_code == 1 and f"eval output {rel} was changed" in res.stderr, res.stderr
    assert snapshot(repo) == before


def test_a_forged_registry_cache_never_changes_a_decision(repo: Path) -> None:
    """Shards and index edited with a passing verdict, approvals and another content hash."""
    cache = repo / ".promptgov/cache/registry"
    (shard,) = [p for p in cache.glob("support-reply.*.json")]
    entry = json.loads(shard.read_text())
    for v in entry["versions"]:
        if v["version"] == "1.1.0":
            for g in v["gate_results"]:
                g["verdict"] = "pass"
            v["approvals"] = [
                {"env": e, "by": "alice", "at": "2026-01-01T00:00:00Z"} for e in flows.ENVS
            ]
    shard.write_text(json.dumps(entry))
    index = json.loads((cache / "index.json").read_text())
    index["prompts"]["support-reply"]["summary"]["envs"]["prod"] = "1.1.0"
    (cache / "index.json").write_text(json.dumps(index))
    res = run_cli("promote", "support-reply@1.1.0", "--to", "dev", "--by", "alice",
                  "--reason", "forged", "--repo", repo)  # fmt: skip
    assert res.exit_code == 1 and "gate verdict for dev is fail" in res.stderr, res.stderr
    status = promptgov.Registry(repo).status("support-reply")[0]
    assert status.to_dict()["environments"]["prod"] == "1.0.0"
    assert (
        "1.1.0"
        not in _load(repo, REGISTRY)["prompts"]["support-reply"]["environments"]["dev"]["current"]
    )


def test_a_cache_written_under_another_key_is_not_trusted(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache carried by a clone was MAC'd by somebody else's key: it is rebuilt, not read."""
    from promptgov.store import localkey

    monkeypatch.setenv("PROMPTGOV_STATE_HOME", str(tmp_path / "other-user"))
    localkey._load.cache_clear()
    try:
        index = repo / ".promptgov/cache/registry/index.json"
        old = json.loads(index.read_text())["mac"]
        assert promptgov.Registry(repo).names() == ["support-reply"]
        assert json.loads(index.read_text())["mac"] != old
    finally:
        localkey._load.cache_clear()


@pytest.mark.parametrize("damage", ["edit", "truncate", "empty"])
def test_an_edited_truncated_or_emptied_change_log_is_named(repo: Path, damage: str) -> None:
    path = repo / CHANGELOG
    entries = _load(repo, CHANGELOG)
    if damage == "edit":
        entries[0]["summary"] = "nothing happened"
        _dump(repo, CHANGELOG, entries)
        expected = [f"{CHANGELOG}: entry 1: summary differs from audit entry #"]
    elif damage == "truncate":
        _dump(repo, CHANGELOG, entries[:-1])
        expected = [f"{CHANGELOG}: entry {len(entries)}, recorded by audit entry #"]
    else:
        path.write_text("")
        expected = [f"{CHANGELOG}: entry {i}, recorded by" for i in range(1, len(entries) + 1)]
    problems = _problems(repo)
    for e in expected:
        assert any(p.startswith(e) for p in problems), (e, problems)


def test_a_version_added_by_hand_is_not_recorded_and_not_promoted(repo: Path) -> None:
    data = _load(repo, REGISTRY)
    forged = {**copy.deepcopy(_version(data, "1.0.0")), "version": "9.0.0"}
    data["prompts"]["support-reply"]["versions"].append(forged)
    _dump(repo, REGISTRY, data)
    assert f"{REGISTRY}: support-reply@9.0.0: version not recorded in the audit log" in _problems(
        repo
    )
    res = run_cli("promote", "support-reply@9.0.0", "--to", "dev", "--by", "alice",
                  "--reason", "x", "--emergency", "--repo", repo)  # fmt: skip
    assert res.exit_code == 1 and "disagrees with audit entry" in res.stderr


def test_a_prompt_removed_from_the_registry_is_named_and_not_re_added(repo: Path) -> None:
    data = _load(repo, REGISTRY)
    data["prompts"] = {}
    _dump(repo, REGISTRY, data)
    assert any("support-reply, recorded by audit entry #" in p for p in _problems(repo))
    before = snapshot(repo)
    res = run_cli("add", "support-reply", "--author", "carol", "-m", "again", "--repo", repo)
    assert res.exit_code == 1 and "was removed from" in res.stderr, res.stderr
    assert snapshot(repo) == before


def test_a_failed_gate_is_logged_as_a_failure(built: Path) -> None:
    from promptgov.audit import AuditLog

    (gate,) = [e for e in AuditLog(built).entries(action="gate") if e.to_version == "1.1.0"]
    assert gate.gate_verdict == "fail" and gate.outcome == "failure"
    assert gate.error and gate.error.startswith("gate fail: ")
    passed = [e for e in AuditLog(built).entries(action="gate") if e.to_version == "1.0.0"]
    assert passed and all(e.outcome == "success" for e in passed)
