"""Governance re-runs call the model; cached evidence is counted and judged by the gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import promptgov
from promptgov import RollbackOptions, rollback

from .. import flows
from ..conftest import run_cli
from ..stub_servers import StubServer

SUITE = "evals/stub-suite.yml"


class Model:
    """What the stub model answers: 'all ok' while healthy, 'failed' once it degrades."""

    def __init__(self) -> None:
        self.healthy = True

    def __call__(self, body: dict[str, Any]) -> str:
        return "all ok here" if self.healthy else "failed"


@pytest.fixture
def model() -> Model:
    return Model()


@pytest.fixture
def stub(model: Model) -> Iterator[StubServer]:
    with StubServer(reply=model) as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path, stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example, judged by a one-test suite on an OpenAI-compatible model on 127.0.0.1."""
    monkeypatch.setenv("PROMPTFOO_CACHE_PATH", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    root = tmp_path / "repo"
    promptgov.init(root, example=True)
    suite = {
        "prompts": ["promptgov://support-reply"],
        "providers": [{"id": "openai:chat:gpt-4o-mini", "config": {"apiBaseUrl": stub.openai_url}}],
        "tests": [
            {
                "description": f"case {i}",
                "vars": {"customer_name": "Dana", "order_id": f"A-{i}", "message": "late"},
                "assert": [{"type": "icontains", "value": "ok"}],
            }
            for i in range(4)
        ],
    }
    (root / SUITE).write_text(json.dumps(suite))
    flows.configure(root, lambda doc: doc.__setitem__("eval_suite", SUITE))
    flows.add_version(root, "1.0.0", note="")
    return root


def _eval(root: Path, *args: str) -> Any:
    res = run_cli("eval", *args, "--repo", root, "--json")
    return json.loads(res.stdout)["run"]


def test_a_scheduled_re_run_calls_the_model_after_it_degraded(
    repo: Path, stub: StubServer, model: Model
) -> None:
    first = _eval(repo, "support-reply@1.0.0")
    assert (first["successes"], first["cached"]) == (4, 0) and stub.count == 4
    model.healthy = False
    again = _eval(repo, "support-reply@1.0.0", "--scheduled")
    assert (again["successes"], again["failures"], again["cached"]) == (0, 4, 0)
    assert stub.count == 8


def test_a_recorded_run_calls_the_model_unless_told_to_reuse_the_cache(
    repo: Path, stub: StubServer
) -> None:
    _eval(repo, "support-reply@1.0.0", "--cache")
    assert stub.count == 4
    _eval(repo, "support-reply@1.0.0")
    assert stub.count == 8
    cached = _eval(repo, "support-reply@1.0.0", "--cache")
    assert cached["cached"] == 4 and stub.count == 8
    res = run_cli("eval", "support-reply@1.0.0", "--cache", "--repo", repo)
    assert "4 answers from the response cache" in res.stdout


def test_the_gate_refuses_evidence_mostly_from_the_cache(repo: Path) -> None:
    _eval(repo, "support-reply@1.0.0", "--cache")
    _eval(repo, "support-reply@1.0.0", "--cache")
    res = run_cli("gate", "support-reply@1.0.0", "--env", "dev", "--repo", repo)
    assert res.exit_code == 1, res.stdout
    assert "cached answers" in res.stdout and "4/4 from the response cache" in res.stdout
    _eval(repo, "support-reply@1.0.0")
    res = run_cli("gate", "support-reply@1.0.0", "--env", "dev", "--repo", repo)
    assert res.exit_code == 0, res.stdout


def test_a_rollback_re_runs_its_evals_against_the_model(
    repo: Path, stub: StubServer, model: Model
) -> None:
    flows.release(repo, "1.0.0")
    flows.add_version(repo, "1.1.0")
    flows.release(repo, "1.1.0")
    calls = stub.count
    model.healthy = False
    try:
        rollback(flows.registry(repo), "support-reply", RollbackOptions(reason="drift"), by="alice")
    except promptgov.errors.PromptGovError as exc:
        assert "gate" in exc.message
    # The restored 1.0.0 answered 4/4 before; asked again, the model now fails it: undone.
    assert stub.count == calls + 4
    entry = flows.registry(repo).entry("support-reply")
    assert entry.environments["prod"].current == "1.1.0"
