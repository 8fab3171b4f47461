"""Scripting basics of the command line: the version, messages, and a filter that matches nothing."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli, run_proc
from .real_promptfoo import Promptfoo, promptfoo  # noqa: F401


def test_version_prints_the_installed_distributions_version() -> None:
    proc = run_proc("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"promptgov {version('promptgov')}"


def test_audit_show_of_an_action_no_entry_has_is_an_error(example_repo: Path) -> None:
    res = run_cli("audit", "show", "--action", "bogus", "--repo", example_repo)
    assert res.exit_code == 2
    assert "no audit entry has action 'bogus'; actions in this log: init." in res.stderr
    ok = run_cli("audit", "show", "--action", "init", "--repo", example_repo)
    assert ok.exit_code == 0 and "init" in ok.stdout


def test_messages_with_brackets_are_printed_as_they_are(example_repo: Path) -> None:
    """An error quoting a pattern keeps its ``[a-z]``: it is text, never a style tag."""
    config = example_repo / "promptgov.yml"
    config.write_text(config.read_text().replace("- name: prod", "- name: Prod"))
    res = run_cli("status", "--repo", example_repo)
    assert res.exit_code == 2
    assert "should match pattern '^[a-z][a-z0-9_-]{0,31}$'" in res.stderr, res.stderr


def test_a_usage_error_under_json_prints_an_error_object(example_repo: Path) -> None:
    proc = run_proc("status", "--bogus", "--json", "--repo", str(example_repo))
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {
        "error": "No such option: --bogus",
        "exit_code": 2,
        "kind": "UsageError",
    }
    assert "Usage: promptgov status" in proc.stderr
    plain = run_proc("status", "--bogus", "--repo", str(example_repo))
    assert plain.returncode == 2 and plain.stdout == "" and "No such option" in plain.stderr


def test_a_config_deleted_from_a_governed_repository_is_not_met_with_init(
    example_repo: Path,
) -> None:
    (example_repo / "promptgov.yml").unlink()
    res = run_cli("verify", "--repo", example_repo)
    assert res.exit_code == 1 and "promptgov.yml is missing from" in res.stderr, res.stderr
    assert "restore it from git" in res.stderr and "init" not in res.stderr


def test_a_recorded_run_on_real_promptfoo_evaluates_the_version_and_names_the_engine(
    registered_repo: Path,
    promptfoo: Promptfoo,  # noqa: F811
) -> None:
    """The generated suite (``prompts: [promptgov://support-reply]``) runs under promptfoo."""
    from promptgov import Registry

    from .conftest import snapshot

    proc = run_proc(
        "eval", "support-reply@1.0.0", "--engine", "promptfoo", "--json", "--repo",
        registered_repo, env=promptfoo.env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (run,) = Registry(registered_repo).get("support-reply@1.0.0").record.eval_runs
    assert (run.engine, run.successes, run.failures, run.errors) == ("promptfoo", 6, 0, 0)
    assert run.providers == ["file://model_stub.py"]
    v3 = json.loads((registered_repo / run.output).read_text())
    assert v3["metadata"]["engine"] == "promptfoo"
    assert {p["label"] for p in v3["results"]["prompts"]} == {"support-reply@1.0.0"}
    raw = v3["results"]["prompts"][0]["raw"]
    assert raw == Registry(registered_repo).get("support-reply@1.0.0").content.template
    # The rewritten config lived beside the suite for the run only.
    assert not [p for p in (registered_repo / "evals").iterdir() if p.name.startswith(".")]
    before = snapshot(registered_repo)
    bogus = run_cli("eval", "support-reply@1.0.0", "--engine", "bogus", "--repo", registered_repo)
    assert bogus.exit_code == 2
    assert "unknown engine 'bogus'; use one of: native, promptfoo." in bogus.stderr
    assert snapshot(registered_repo) == before


def test_an_unknown_engine_is_bad_input(tmp_path: Path) -> None:
    res = run_cli("eval", "-c", _plain_config(tmp_path), "--engine", "bogus")
    assert res.exit_code == 2 and "unknown engine 'bogus'" in res.stderr


def test_the_promptfoo_engine_without_promptfoo_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    config = _plain_config(tmp_path)
    proc = run_proc("eval", "-c", config, "--engine", "promptfoo", env={"PATH": str(empty)})
    assert proc.returncode == 1 and "no 'promptfoo' on PATH" in proc.stderr


def test_a_promptfoo_run_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    """Every subprocess has a time limit: a promptfoo that never finishes is stopped."""
    import os
    import time

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hang = bin_dir / "promptfoo"
    hang.write_text("#!/bin/sh\nsleep 600 &\nsleep 600\n")
    hang.chmod(0o755)
    config = _plain_config(tmp_path)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "PROMPTGOV_PROMPTFOO_TIMEOUT_S": "1"}
    started = time.monotonic()
    proc = run_proc("eval", "-c", config, "--engine", "promptfoo", env=env, timeout=120)
    assert proc.returncode == 1 and "promptfoo did not finish" in proc.stderr
    assert time.monotonic() - started < 100


def _plain_config(tmp_path: Path) -> Path:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        "prompts: ['Say {{ word }}']\nproviders: [echo]\n"
        "tests: [{vars: {word: hi}, assert: [{type: contains, value: hi}]}]\n"
    )
    return config


# --------------------------------------------------------------------------- everyday use


@pytest.fixture(scope="module")
def lived_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.0.0 and 1.1.0 released everywhere, prod rolled back from 1.1.0 (dev and staging
    still serve it), then 1.2.0 pushed into prod by the emergency path."""
    from promptgov import RollbackOptions, rollback

    from . import flows

    root = tmp_path_factory.mktemp("lived-in") / "repo"
    flows.two_releases(root)
    rollback(flows.registry(root), flows.PROMPT, RollbackOptions(reason="refunds"), by="bob")
    flows.add_version(root, "1.2.0")
    flows.release(root, "1.2.0", ["prod"], emergency=True, by="bob")
    return root


@pytest.fixture
def lived(lived_in: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(lived_in, root)
    return root


def test_status_marks_quarantined_versions_still_serving(lived_in: Path) -> None:
    """Dev and staging kept serving a quarantined version with no hint."""
    res = run_cli("status", "--repo", lived_in)
    assert res.exit_code == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("support-reply"))
    assert row.split()[3:8] == ["1.1.0", "(quarantined)", "1.1.0", "(quarantined)", "1.2.0"]
    assert (
        "quarantined: support-reply@1.1.0 still serves dev, staging; promote a good version "
        "there or roll back ('promptgov rollback support-reply --env dev')"
    ) in res.stdout
    data = json.loads(run_cli("status", "--json", "--repo", lived_in).stdout)
    assert data[0]["serving_quarantined"] == {"dev": "1.1.0", "staging": "1.1.0"}
    assert data[0]["latest"] == "1.2.0"


def test_audit_show_of_promotions_includes_the_emergency_one(lived_in: Path) -> None:
    """'audit show --action promote' omitted the emergency promotion."""
    res = run_cli("audit", "show", "--action", "promote", "--json", "--repo", lived_in)
    assert res.exit_code == 0, res.stderr
    moves = [(e["action"], e["env"], e["to_version"]) for e in json.loads(res.stdout)]
    assert ("emergency-promote", "prod", "1.2.0") in moves
    assert ("promote", "prod", "1.1.0") in moves


def test_a_refused_command_with_json_prints_an_error_object(lived: Path) -> None:
    """A refused 'promote --json' printed nothing on stdout."""
    res = run_cli(
        "promote", "support-reply@1.2.0", "--to", "prod", "--by", "alice", "--json", "--repo", lived
    )
    assert res.exit_code == 2
    data = json.loads(res.stdout)
    assert data["exit_code"] == 2 and data["kind"] == "InputError"
    assert " ".join(res.stderr.split()) == f"error: {' '.join(data['error'].split())}"
    missing = run_cli("show", "support-reply@9.9.9", "--json", "--repo", lived)
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["kind"] == "NotFound"


def test_gate_of_a_bare_name_says_which_version_it_gated(lived: Path) -> None:
    res = run_cli("gate", "support-reply", "--env", "prod", "--repo", lived)
    assert "Gate for support-reply@1.2.0 → prod:" in res.stdout
    data = json.loads(
        run_cli("gate", "support-reply@latest", "--env", "prod", "--json", "--repo", lived).stdout
    )
    assert (data["prompt"], data["version"], data["env"]) == ("support-reply", "1.2.0", "prod")


def test_gate_takes_several_environments_or_all(lived: Path) -> None:
    res = run_cli(
        "gate", "support-reply@1.2.0", "--env", "dev", "--env", "staging", "--repo", lived
    )
    heads = [line.split(":")[0] for line in res.stdout.splitlines() if line.startswith("Gate")]
    assert heads == ["Gate for support-reply@1.2.0 → dev", "Gate for support-reply@1.2.0 → staging"]
    every = run_cli("gate", "support-reply@1.2.0", "--env", "all", "--json", "--repo", lived)
    assert [r["env"] for r in json.loads(every.stdout)] == ["dev", "staging", "prod"]
    assert every.exit_code == max(
        run_cli("gate", "support-reply@1.2.0", "--env", e, "--repo", lived).exit_code
        for e in ("dev", "staging", "prod")
    )
    bad = run_cli("gate", "support-reply@1.2.0", "--env", "dev", "--env", "qa", "--repo", lived)
    assert bad.exit_code == 2 and "qa" in bad.stderr


def test_notify_test_names_the_targets_it_skipped(lived: Path) -> None:
    """'notify test' silently skipped targets not subscribed to test messages."""
    from . import flows
    from .notify_sink import NotifySink

    with NotifySink() as sink:

        def edit(doc: Any) -> None:
            doc["notifications"] = [
                {"name": "ops", "url": sink.json_url("/ops"), "events": ["test"]},
                {"name": "pager", "url": sink.json_url("/pager"), "events": ["rollback"]},
            ]

        flows.configure(lived, edit)
        res = run_cli("notify", "test", "--repo", lived)
        assert res.exit_code == 0, res.stderr
        assert (
            "skipped (not subscribed to test messages): pager; pass --all to send to them too"
            in res.stdout
        )
        assert len(sink.requests_to("/ops")) == 1 and not sink.requests_to("/pager")
        sent = json.loads(run_cli("notify", "test", "--all", "--json", "--repo", lived).stdout)
        assert sent["skipped"] == [] and len(sent["results"]) == 2
        assert len(sink.requests_to("/pager")) == 1
