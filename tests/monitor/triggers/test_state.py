"""The trigger state file: today's ``state.json`` loads, round-trips and keeps counting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promptgov import FlagOptions, Registry
from promptgov.actions.feedback import flag_version
from promptgov.actions.monitor import check_triggers
from promptgov.errors import InvalidFile
from promptgov.monitor.triggers import TriggerName, TriggerState, load_state
from tests import flows

PROMPT = flows.PROMPT
SHA = "ab" * 32
#: A state file as the untyped writer wrote it before the model existed.
EXISTING = {
    "version": "1.1.0",
    "sha256": SHA,
    "triggers": {
        "drift": {
            "streak": 2,
            "since": "2026-03-09T12:00:00+00:00",
            "observation": "2026-03-10T12:00:00+00:00",
            "notified": True,
            "rollback_attempted": False,
        },
        "complaints": {
            "streak": 1,
            "since": "2026-03-10T12:00:00+00:00",
            "observation": None,
            "notified": False,
            "rollback_attempted": False,
        },
    },
    "updated_at": "2026-03-10T12:00:00+00:00",
}


def test_an_existing_state_file_round_trips_unchanged() -> None:
    raw = json.dumps(EXISTING).encode()
    state = load_state(raw, "state.json", "1.1.0", SHA)

    assert state.triggers[TriggerName.DRIFT].streak == 2
    assert state.triggers[TriggerName.DRIFT].since == datetime(2026, 3, 9, 12, tzinfo=UTC)
    assert state.to_json() == EXISTING


def test_a_new_serving_version_starts_from_zero() -> None:
    state = load_state(json.dumps(EXISTING).encode(), "state.json", "1.2.0", "cd" * 32)
    assert state == TriggerState(version="1.2.0", sha256="cd" * 32)


@pytest.mark.parametrize("raw", [b"{broken", b"[]", b'{"version": "1.1.0"}'])
def test_a_broken_state_file_is_named_with_what_to_do(raw: bytes) -> None:
    with pytest.raises(InvalidFile, match=r"^logs/x/state.json is not a trigger state file"):
        load_state(raw, "logs/x/state.json", "1.1.0", SHA)


def test_a_check_continues_the_count_of_an_existing_file(example_repo: Path) -> None:
    flows.add_version(example_repo, "1.0.0")
    flows.release(example_repo, "1.0.0")
    reg = Registry(example_repo)
    rec = reg.record(PROMPT, "1.0.0")
    path = example_repo / "logs/triggers" / PROMPT / "prod/state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = {
        "version": "1.0.0",
        "sha256": rec.sha256,
        "triggers": {
            "audit_flags": {
                "streak": 4,
                "since": "2026-03-09T12:00:00+00:00",
                "observation": "an earlier flag",
                "notified": True,
                "rollback_attempted": False,
            }
        },
        "updated_at": "2026-03-09T12:00:00+00:00",
    }
    path.write_text(json.dumps(old, indent=2))
    flag_version(reg, f"{PROMPT}@1.0.0", FlagOptions(reason="PII"), by="auditor")

    report = check_triggers(Registry(example_repo), PROMPT)

    assert report.result("audit_flags").streak == 5
    written = json.loads(path.read_text())
    assert list(written) == ["version", "sha256", "triggers", "updated_at"]
    assert written["triggers"]["audit_flags"]["since"] == "2026-03-09T12:00:00+00:00"
    assert written["updated_at"] == report.checked_at.isoformat()
