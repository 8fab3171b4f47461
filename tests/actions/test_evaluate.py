"""The suite that judges a version comes from the policy, never from the version's card."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptgov import AddOptions, GateOptions, Registry, add, check_gate, run_version_eval
from promptgov.errors import NotFound

from .. import flows
from ..flows import PROMPT, edit_prompt

POLICY_SUITE = "evals/eval-config.promptfoo.yml"
EASY = """\
prompts: [promptgov://support-reply]
providers: [file://model_stub.py]
tests:
  - vars: {customer_name: a, order_id: b, message: c}
    assert: [{type: contains, value: a}]
"""


@pytest.fixture
def self_judging(example_repo: Path) -> Path:
    """A version whose card names a one-test suite it always passes."""
    flows.change_policy(example_repo, lambda r: (r / "evals/easy.yml").write_text(EASY))
    edit_prompt(example_repo, f"eval_suite: {POLICY_SUITE}", "eval_suite: evals/easy.yml")
    add(Registry(example_repo), PROMPT, AddOptions(message="first"), by="carol")
    return example_repo


def test_eval_runs_the_policy_suite_whatever_the_card_says(self_judging: Path) -> None:
    run = run_version_eval(Registry(self_judging), f"{PROMPT}@1.0.0", by="ci").run
    assert run.suite == POLICY_SUITE


def test_the_gate_ignores_runs_on_a_suite_the_version_picked(self_judging: Path) -> None:
    reg = Registry(self_judging)
    run = run_version_eval(reg, f"{PROMPT}@1.0.0", by="ci", suite="evals/easy.yml").run
    assert run.suite == "evals/easy.yml" and run.pass_rate == 1.0
    with pytest.raises(NotFound, match=f"no eval run on the current {POLICY_SUITE}"):
        check_gate(reg, f"{PROMPT}@1.0.0", GateOptions(env="dev"))


def test_a_config_that_never_evaluates_the_version_records_nothing(registered_repo: Path) -> None:
    """A suite of fixed prompts says nothing about support-reply@1.0.0 (issue: team workflow)."""
    from ..conftest import run_cli, snapshot

    config = registered_repo / "other.yml"  # a developer's own config, not a policy suite
    config.write_text(
        "prompts: ['Say {{ word }}']\nproviders: [echo]\n"
        "tests: [{vars: {word: hi}, assert: [{type: contains, value: hi}]}]\n"
    )
    before = snapshot(registered_repo)
    res = run_cli("eval", "support-reply@1.0.0", "-c", config, "--repo", registered_repo)
    assert res.exit_code == 2, res.stdout + res.stderr
    assert "never evaluates support-reply@1.0.0" in res.stderr
    assert "Nothing was run or recorded" in res.stderr
    assert snapshot(registered_repo) == before


def test_a_recorded_run_lists_its_failures(example_repo: Path) -> None:
    """Without its safety instruction the stub model promises refunds: each case says so."""
    from ..conftest import run_cli
    from ..flows import SAFETY_LINE, add_version

    add_version(example_repo, "1.0.0", remove=[SAFETY_LINE])
    res = run_cli("eval", f"{PROMPT}@1.0.0", "--repo", example_repo, "--verbose")
    assert res.exit_code == 100, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[1] == "Failures (6 of 6 results):"
    assert lines[2] == f"[FAIL] late delivery · {PROMPT}@1.0.0 · local-model-stub"
    assert lines[3].startswith('  not-icontains "guarantee": Expected output to not contain')
    assert lines[4].startswith("  output: Hi Dana, I'm sorry") and "guarantee" in lines[4]
    assert lines[-1].startswith("recorded run ")
