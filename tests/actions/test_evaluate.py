"""The suite that judges a version comes from the policy, never from the version's card."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptgov import AddOptions, GateOptions, Registry, add, check_gate, run_version_eval
from promptgov.errors import NotFound

from ..flows import PROMPT, edit_prompt

POLICY_SUITE = "evals/eval-config.promptfoo.yml"
EASY = """\
prompts: [promptgov://support-reply]
providers: [echo]
tests:
  - vars: {customer_name: a, order_id: b, message: c}
    assert: [{type: contains, value: a}]
"""


@pytest.fixture
def self_judging(example_repo: Path) -> Path:
    """A version whose card names a one-test suite it always passes."""
    (example_repo / "evals/easy.yml").write_text(EASY)
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
