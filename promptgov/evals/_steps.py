"""promptfoo's eval steps: tests merged with ``defaultTest``, scenarios, vars expanded, ordered.

Every (test × vars combination × repeat × provider × prompt) becomes one :class:`Step`, in
promptfoo 0.123's order, so ``testIdx`` and ``promptIdx`` number results as it does.
"""

from __future__ import annotations

import glob as _glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidFile
from .assertions.interface import AssertionSpec
from .config import EvalConfig, Prompt, ProviderEntry, TestCase
from .providers.interface import Provider

__all__ = ["Column", "Step", "StepTest", "build_steps", "prompt_allowed"]


@dataclass
class StepTest:
    """A test after defaultTest merging, before variable expansion."""

    vars: dict[str, Any]
    asserts: list[AssertionSpec]
    threshold: float | None
    options: dict[str, Any]
    metadata: dict[str, Any]
    description: str | None
    provider: Any
    provider_output: Any
    prompts: list[str] | None
    providers: list[str] | None
    raw: dict[str, Any]


@dataclass
class Column:
    prompt_idx: int
    prompt: Prompt
    entry: ProviderEntry
    provider: Provider


@dataclass
class Step:
    index: int
    column: Column
    test: StepTest
    vars: dict[str, Any]
    test_idx: int
    repeat_index: int
    prefix: str
    suffix: str


def _merge_default(test: TestCase | StepTest, default: TestCase | None) -> StepTest:
    """promptfoo's ``prepareTestCaseForEval`` + ``prepareTestVariables``."""
    d = default
    options = {**(d.options if d else {}), **test.options}
    asserts = list(test.asserts)
    if d is not None and options.get("disableDefaultAsserts") is not True:
        asserts = [*d.asserts, *asserts]
    return StepTest(
        vars={**(d.vars if d else {}), **test.vars},
        asserts=asserts,
        threshold=test.threshold if test.threshold is not None else (d.threshold if d else None),
        options=options,
        metadata={**(d.metadata if d else {}), **test.metadata},
        description=test.description,
        provider=test.provider if test.provider is not None else (d.provider if d else None),
        provider_output=test.provider_output,
        prompts=test.prompts if test.prompts is not None else (d.prompts if d else None),
        providers=test.providers if test.providers is not None else (d.providers if d else None),
        raw=test.raw,
    )


def _scenario_tests(cfg: EvalConfig) -> list[StepTest]:
    """promptfoo's ``mergeScenarioTest``: each data row crossed with each scenario test."""
    from .assertions import assertion_from_config

    out: list[StepTest] = []
    d = cfg.default_test
    for s_idx, scenario in enumerate(cfg.scenarios):
        for data in scenario.config:
            data_asserts = [
                assertion_from_config(a, where=f"scenarios[{s_idx}].config.assert")
                for a in data.get("assert") or []
            ]
            for test in scenario.tests or [TestCase()]:
                merged_raw = {**(d.raw if d else {}), **data, **test.raw}
                threshold = test.threshold
                if threshold is None and isinstance(data.get("threshold"), int | float):
                    threshold = float(data["threshold"])
                out.append(
                    StepTest(
                        vars={**(d.vars if d else {}), **(data.get("vars") or {}), **test.vars},
                        asserts=[*data_asserts, *test.asserts],
                        threshold=threshold,
                        options={
                            **(d.options if d else {}),
                            **(data.get("options") or {}),
                            **test.options,
                        },
                        metadata={
                            **(d.metadata if d else {}),
                            **(data.get("metadata") or {}),
                            **test.metadata,
                        },
                        description=test.description or data.get("description"),
                        provider=test.provider
                        if test.provider is not None
                        else data.get("provider"),
                        provider_output=test.provider_output
                        if test.provider_output is not None
                        else data.get("providerOutput"),
                        prompts=test.prompts,
                        providers=test.providers,
                        raw=merged_raw,
                    )
                )
    return out


def _var_combinations(vars_: Mapping[str, Any], base_dir: Path) -> list[dict[str, Any]]:
    """promptfoo's ``generateVarCombinations``: arrays of strings and file globs fan out."""
    combos: list[dict[str, Any]] = [{}]
    for key, value in vars_.items():
        if isinstance(value, str) and value.startswith("file://"):
            pattern = value[len("file://") :]
            found = sorted(_glob.glob(pattern, root_dir=str(base_dir), recursive=True))
            if not found:
                raise InvalidFile(f"vars.{key}: no files found at {pattern} in {base_dir}")
            values: list[Any] = [f"file://{p}" for p in found]
        elif isinstance(value, list):
            values = value if value and isinstance(value[0], str) else [value]
        else:
            values = [value]
        combos = [{**c, key: v} for c in combos for v in values]
    return combos


def _prompt_ref_matches(ref: str, prompt: Prompt) -> bool:
    label, pid = prompt.label, prompt.id
    if label == ref or (pid and pid == ref):
        return True
    if ref.endswith("*"):
        prefix = ref[:-1]
        if (label and label.startswith(prefix)) or (pid and pid.startswith(prefix)):
            return True
    return bool((label and label.startswith(f"{ref}:")) or (pid and pid.startswith(f"{ref}:")))


def prompt_allowed(prompt: Prompt, allowed: list[str] | None) -> bool:
    if allowed is None:
        return True
    return any(_prompt_ref_matches(ref, prompt) for ref in allowed)


def _provider_allowed(column: Column, allowed: list[str] | None) -> bool:
    if allowed is None:
        return True
    label, pid = column.entry.label, column.entry.id
    for ref in allowed:
        if (label and label == ref) or pid == ref:
            return True
        if ref.endswith("*") and (
            (label and label.startswith(ref[:-1])) or pid.startswith(ref[:-1])
        ):
            return True
        if (label and label.startswith(f"{ref}:")) or pid.startswith(f"{ref}:"):
            return True
    return False


def build_steps(cfg: EvalConfig, columns: list[list[Column]], repeat: int) -> list[Step]:
    """Every (test × vars combination × repeat × provider × prompt) step, in promptfoo's order."""
    tests: list[StepTest] = [_merge_default(t, cfg.default_test) for t in cfg.tests]
    if not cfg.tests and not cfg.scenarios:
        tests = [_merge_default(TestCase(), cfg.default_test)]
    tests.extend(_merge_default(t, cfg.default_test) for t in _scenario_tests(cfg))
    d_options = cfg.default_test.options if cfg.default_test else {}
    steps: list[Step] = []
    test_idx = 0
    for test in tests:
        prefix = test.options.get("prefix") or d_options.get("prefix") or ""
        suffix = test.options.get("suffix") or d_options.get("suffix") or ""
        if test.options.get("disableVarExpansion"):
            combos = [test.vars]
        else:
            combos = _var_combinations(test.vars, cfg.base_dir)
        test_repeat = test.options.get("repeat")
        n_repeat = test_repeat if isinstance(test_repeat, int) and test_repeat > 0 else repeat
        for repeat_index in range(n_repeat):
            for combo in combos:
                for provider_columns in columns:
                    if provider_columns and not _provider_allowed(
                        provider_columns[0], test.providers
                    ):
                        continue
                    for column in provider_columns:
                        if not prompt_allowed(column.prompt, test.prompts):
                            continue
                        steps.append(
                            Step(
                                len(steps),
                                column,
                                test,
                                combo,
                                test_idx,
                                repeat_index,
                                prefix,
                                suffix,
                            )
                        )
                test_idx += 1
    return steps
