"""The monitor's verdict: the exit code is decided in the library, the CLI only exits with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptgov import FlagOptions, Registry
from promptgov.actions.feedback import flag_version
from promptgov.actions.monitor import MonitorCycle, MonitorItem, MonitorRun, monitor, monitor_once
from tests import flows
from tests.conftest import run_cli

PROMPT = flows.PROMPT


@pytest.fixture
def deployed(example_repo: Path) -> Path:
    flows.add_version(example_repo, "1.0.0")
    flows.release(example_repo, "1.0.0")
    return example_repo


def test_nothing_fired_is_exit_0(deployed: Path) -> None:
    cycle = monitor_once(Registry(deployed))
    assert cycle.exit_code == 0
    run = monitor(Registry(deployed), interval="1m", cycles=1)
    assert (run.cycles, run.exit_code) == (1, 0)
    assert run.to_dict()["exit_code"] == 0
    assert run_cli("monitor", "--once", "--repo", deployed).exit_code == 0


def test_a_fired_trigger_is_exit_1(deployed: Path) -> None:
    flag_version(Registry(deployed), f"{PROMPT}@1.0.0", FlagOptions(reason="PII"), by="auditor")
    run = monitor(Registry(deployed), interval="1m", cycles=1)
    assert run.exit_code == 1
    assert run.last is not None and run.last.items[0].report is not None
    assert run.last.items[0].report.fired == ["audit_flags"]
    assert run_cli("monitor", "--once", "--repo", deployed, "--json").exit_code == 1
    assert run_cli("triggers", PROMPT, "--repo", deployed, "--json").exit_code == 1


def test_a_prompt_that_cannot_be_checked_is_exit_2(deployed: Path) -> None:
    state = deployed / "logs/triggers" / PROMPT / "prod/state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{broken")
    run = monitor(Registry(deployed), interval="1m", cycles=1)
    assert run.exit_code == 2
    assert run.last is not None and run.last.items[0].error is not None
    assert run_cli("monitor", "--once", "--repo", deployed).exit_code == 2


def test_the_run_keeps_the_worst_cycle() -> None:
    run = MonitorRun()
    run.add(MonitorCycle("prod", [MonitorItem("a", error="broken")]))
    run.add(MonitorCycle("prod", []))
    assert (run.cycles, run.exit_code) == (2, 2)
    assert MonitorCycle("prod").exit_code == 0
