"""A governed run evaluates the model the version declares, and the gate checks it did.

A version declaring ``anthropic:messages:…`` was evaluated with the suite's
``openai:chat:gpt-4o-mini`` and the gate said PASS. Two real model stubs on
127.0.0.1 — one reached as the suite's OpenAI-compatible provider, one as the Anthropic
API — show which model each policy calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import promptgov
from promptgov import (
    GateOptions,
    Registry,
    RollbackOptions,
    check_gate,
    rollback,
    run_version_eval,
)
from promptgov.errors import InputError
from promptgov.model import GateVerdict

from .. import flows
from ..conftest import run_cli, snapshot
from ..stub_servers import StubServer

DECLARED = "anthropic:messages:claude-3-5-haiku-20241022"
SUITE_MODEL = "openai:chat:gpt-4o-mini"
SUITE = "evals/eval-config.promptfoo.yml"
REF = "support-reply@1.0.0"
TESTS = [
    {
        "description": f"case {i}",
        "vars": {"customer_name": "Dana", "order_id": f"A-{i}", "message": "late"},
        "assert": [{"type": "icontains", "value": "Dana"}],
    }
    for i in range(3)
]


@pytest.fixture
def openai_api() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def anthropic_api() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def repo(
    tmp_path: Path,
    openai_api: StubServer,
    anthropic_api: StubServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """support-reply@1.0.0 declares an Anthropic model; the policy suite names an OpenAI one."""
    monkeypatch.setenv("PROMPTFOO_CACHE_PATH", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_api.url)
    root = tmp_path / "repo"
    promptgov.init(root, example=True)
    flows.edit_prompt(root, f"provider: {SUITE_MODEL}", f"provider: {DECLARED}")
    write_suite(root, [openai_provider(openai_api)])
    flows.add_version(root, "1.0.0")
    return root


def openai_provider(stub: StubServer, model: str = SUITE_MODEL, **config: Any) -> dict[str, Any]:
    return {"id": model, "config": {"apiBaseUrl": stub.openai_url, **config}}


def write_suite(root: Path, providers: list[Any], prompts: list[str] | None = None) -> None:
    suite = {
        "prompts": prompts or ["promptgov://support-reply"],
        "providers": providers,
        "tests": TESTS,
    }
    text = yaml.safe_dump(suite, sort_keys=False)
    flows.change_policy(root, lambda r: (r / SUITE).write_text(text))  # a suite is policy


def set_policy(root: Path, policy: str) -> None:
    flows.configure(root, lambda doc: doc["evals"].__setitem__("declared_model", policy))


def models_called(stub: StubServer) -> set[str]:
    return {r.body["model"] for r in stub.requests}


# --------------------------------------------------------------------------- refuse (default)


def test_refuse_is_the_default_and_names_both_models(
    repo: Path, openai_api: StubServer, anthropic_api: StubServer
) -> None:
    before = snapshot(repo)
    with pytest.raises(InputError) as info:
        run_version_eval(Registry(repo), REF, by="ci")
    assert info.value.message == (
        f"{SUITE} evaluates {REF} with {SUITE_MODEL}, but {REF} declares {DECLARED}; nothing "
        f"was run or recorded. Add {DECLARED} to the suite's providers (limit the others "
        "with 'prompts:'), or set evals: {declared_model: run} in promptgov.yml."
    )
    assert openai_api.count == 0 and anthropic_api.count == 0
    assert snapshot(repo) == before


def test_refused_on_the_command_line_with_exit_2(repo: Path, openai_api: StubServer) -> None:
    before = snapshot(repo)
    res = run_cli("eval", REF, "--repo", repo)
    assert res.exit_code == 2, res.stdout + res.stderr
    assert f"but {REF} declares {DECLARED}" in res.stderr
    assert openai_api.count == 0
    assert snapshot(repo) == before


def test_refuse_runs_a_suite_of_the_declared_model_with_its_parameters(
    repo: Path, openai_api: StubServer, anthropic_api: StubServer
) -> None:
    """The suite's entry for the declared model (spelled promptfoo's short way) is used, with
    the version's temperature and max_tokens over the suite's."""
    flows.edit_prompt(repo, f"provider: {DECLARED}", "provider: openai:chat:gpt-4o-mini")
    flows.add_version(repo, "1.1.0")
    write_suite(repo, [openai_provider(openai_api, "openai:gpt-4o-mini", temperature=0.9)])
    run = run_version_eval(Registry(repo), "support-reply@1.1.0", by="ci").run
    assert openai_api.count == len(TESTS) and anthropic_api.count == 0
    assert {(r.body["temperature"], r.body["max_tokens"]) for r in openai_api.requests} == {
        (0.2, 300)
    }
    assert run.providers == ["openai:gpt-4o-mini"] and run.model_mismatch == []


def test_a_test_with_its_own_provider_is_refused(repo: Path, openai_api: StubServer) -> None:
    set_policy(repo, "run")
    suite = yaml.safe_load((repo / SUITE).read_text())
    suite["tests"][0]["provider"] = "echo"
    flows.change_policy(repo, lambda r: (r / SUITE).write_text(yaml.safe_dump(suite)))
    with pytest.raises(InputError, match=r"tests with their own provider \(echo\)"):
        run_version_eval(Registry(repo), REF, by="ci")
    assert openai_api.count == 0


# --------------------------------------------------------------------------- run


def test_run_calls_the_declared_model_with_its_parameters(
    repo: Path, openai_api: StubServer, anthropic_api: StubServer
) -> None:
    set_policy(repo, "run")
    run = run_version_eval(Registry(repo), REF, by="ci").run
    assert openai_api.count == 0
    assert anthropic_api.paths() == ["/v1/messages"] * len(TESTS)
    assert models_called(anthropic_api) == {"claude-3-5-haiku-20241022"}
    assert {(r.body["temperature"], r.body["max_tokens"]) for r in anthropic_api.requests} == {
        (0.2, 300)
    }
    assert run.declared_model == DECLARED
    assert run.providers == [DECLARED] and run.model_mismatch == []
    report = check_gate(Registry(repo), REF, GateOptions(env="dev"))
    check = next(c for c in report.checks if c.name == "declared model")
    assert (check.status, check.detail) == ("pass", f"answered by {DECLARED}")


def test_run_keeps_the_suites_providers_for_its_other_prompts(
    repo: Path, openai_api: StubServer, anthropic_api: StubServer
) -> None:
    set_policy(repo, "run")
    write_suite(
        repo,
        [openai_provider(openai_api)],
        prompts=["promptgov://support-reply", "Baseline reply to {{ customer_name }}"],
    )
    run = run_version_eval(Registry(repo), REF, by="ci").run
    assert anthropic_api.count == openai_api.count == len(TESTS)
    assert all("Baseline reply" in r.body["messages"][-1]["content"] for r in openai_api.requests)
    assert all("Acme" in str(r.body["messages"]) for r in anthropic_api.requests)
    assert run.providers == [DECLARED]


# --------------------------------------------------------------------------- allow, and the gate


def test_allow_runs_the_suite_and_records_the_mismatch(
    repo: Path, openai_api: StubServer, anthropic_api: StubServer
) -> None:
    set_policy(repo, "allow")
    reg = Registry(repo)
    run = run_version_eval(reg, REF, by="ci").run
    assert openai_api.count == len(TESTS) and anthropic_api.count == 0
    assert run.providers == [SUITE_MODEL] and run.model_mismatch == [SUITE_MODEL]
    audit = (repo / "audit/artifact-audit-log.md").read_text()
    assert f"answered by {SUITE_MODEL} instead of the declared {DECLARED}" in audit
    report = check_gate(reg, REF, GateOptions(env="dev"))
    check = next(c for c in report.checks if c.name == "declared model")
    assert check.status == "pass" and "allowed by evals.declared_model: allow" in check.detail


def test_the_gate_fails_evidence_from_another_model(repo: Path, openai_api: StubServer) -> None:
    """Evidence recorded under 'allow' is refused once the policy no longer allows it."""
    set_policy(repo, "allow")
    run_version_eval(Registry(repo), REF, by="ci")
    set_policy(repo, "refuse")
    report = check_gate(Registry(repo), REF, GateOptions(env="dev"))
    assert report.verdict is GateVerdict.FAIL
    check = next(c for c in report.checks if c.name == "declared model")
    assert check.status == "fail"
    assert check.detail == (
        f"answered by {SUITE_MODEL}, not the declared {DECLARED}; re-run with the declared "
        "model, or set evals: {declared_model: run} in promptgov.yml"
    )
    res = run_cli("gate", REF, "--env", "dev", "--repo", repo)
    assert res.exit_code == 1
    assert "declared model" in res.stdout and f"not the declared {DECLARED}" in res.stdout


def test_the_gate_fails_imported_results_from_another_model(repo: Path) -> None:
    """Results recorded from elsewhere (CI) are judged by the providers they name."""
    output = {
        "results": {
            "results": [
                {
                    "success": True,
                    "score": 1,
                    "provider": {"id": SUITE_MODEL},
                    "prompt": {"label": "support-reply"},
                    "gradingResult": {"pass": True, "componentResults": []},
                }
            ],
            "stats": {"successes": 1, "failures": 0, "errors": 0},
        }
    }
    flows.import_results(repo, "1.0.0", output)
    report = check_gate(Registry(repo), REF, GateOptions(env="dev"))
    assert report.verdict is GateVerdict.FAIL
    assert [c.status for c in report.checks if c.name == "declared model"] == ["fail"]


def test_a_rollback_re_runs_the_restored_version_on_its_declared_model(
    repo: Path, openai_api: StubServer, anthropic_api: StubServer
) -> None:
    set_policy(repo, "run")
    flows.release(repo, "1.0.0")
    flows.add_version(repo, "1.1.0")
    flows.release(repo, "1.1.0")
    calls = anthropic_api.count
    rollback(Registry(repo), "support-reply", RollbackOptions(reason="drift"), by="alice")
    assert anthropic_api.count == calls + len(TESTS) and openai_api.count == 0
    record = Registry(repo).record("support-reply", "1.0.0+rollback")
    assert record.eval_runs[-1].providers == [DECLARED]
