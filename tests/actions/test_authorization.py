"""Authorization bypasses found by a hostile user, each refused with nothing written.

One person is one person however the name is spelled; a quarantine set in prod is lifted
only by a prod approver; the rollback's --force and --emergency obey the environment's
policy and approver list, and a quarantined target stays quarantined.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from promptgov import (
    ApproveOptions,
    ClearOptions,
    FlagOptions,
    PermissionDenied,
    Registry,
    RollbackOptions,
    approve,
    clear_quarantine,
    flag_version,
    rollback,
)
from promptgov.errors import Conflict, InputError
from promptgov.notify import NotifyPolicy

from ..conftest import snapshot
from ..flows import PROMPT, add_version, configure, env_config, registry, release

FAST = NotifyPolicy(retries=0, timeout_s=1)


@pytest.fixture
def candidate(registered_repo: Path) -> Path:
    """support-reply@1.0.0 by carol, evaluated and gated for staging (which needs 1 approval
    from anyone but the author)."""
    from promptgov import GateOptions, check_gate, run_version_eval

    reg = Registry(registered_repo)
    run_version_eval(reg, f"{PROMPT}@1.0.0", by="ci")
    check_gate(reg, f"{PROMPT}@1.0.0", GateOptions(env="staging"))
    return registered_repo


@pytest.mark.parametrize("spelling", ["carol ", " carol", "Carol", "ＣＡＲＯＬ", "carol\u00a0"])
def test_the_author_cannot_approve_under_another_spelling(candidate: Path, spelling: str) -> None:
    before = snapshot(candidate)
    with pytest.raises(PermissionDenied, match="separation of duties"):
        approve(registry(candidate), f"{PROMPT}@1.0.0", ApproveOptions(env="staging"), by=spelling)
    assert snapshot(candidate) == before


def test_one_person_approves_once_whatever_the_spelling(candidate: Path) -> None:
    reg = registry(candidate)
    approve(reg, f"{PROMPT}@1.0.0", ApproveOptions(env="staging"), by="dave")
    before = snapshot(candidate)
    for spelling in ("Dave", " dave", "DAVE "):
        with pytest.raises(Conflict, match="already approved"):
            approve(reg, f"{PROMPT}@1.0.0", ApproveOptions(env="staging"), by=spelling)
    assert snapshot(candidate) == before


@pytest.mark.parametrize("name", ["da\x1bve", "da\nve", "da\u200bve"])
def test_control_characters_in_a_name_are_refused(candidate: Path, name: str) -> None:
    before = snapshot(candidate)
    with pytest.raises(InputError, match="control character"):
        approve(registry(candidate), f"{PROMPT}@1.0.0", ApproveOptions(env="staging"), by=name)
    assert snapshot(candidate) == before


def test_a_named_approver_counts_under_any_spelling(registered_repo: Path) -> None:
    """alice of @release-managers may approve prod as 'Alice'."""
    release(registered_repo, "1.0.0", ["dev", "staging"], approver="bob")
    a = approve(
        registry(registered_repo), f"{PROMPT}@1.0.0", ApproveOptions(env="prod"), by=" Alice"
    )
    assert a.by == "Alice"


@pytest.fixture
def in_prod(registered_repo: Path) -> Path:
    release(registered_repo, "1.0.0")
    return registered_repo


def test_a_prod_quarantine_is_not_lifted_by_a_dev_approver(in_prod: Path) -> None:
    reg = registry(in_prod)
    flag_version(reg, f"{PROMPT}@1.0.0", FlagOptions(reason="anomaly"), by="auditor")
    before = snapshot(in_prod)
    with pytest.raises(PermissionDenied, match="only approvers for prod may"):
        clear_quarantine(
            reg, f"{PROMPT}@1.0.0", ClearOptions(reason="fine", env="dev"), by="mallory"
        )
    assert snapshot(in_prod) == before
    rec = clear_quarantine(
        reg, f"{PROMPT}@1.0.0", ClearOptions(reason="reviewed", env="dev"), by="alice"
    )
    assert rec.quarantine is None


@pytest.fixture
def two_in_prod(in_prod: Path) -> Path:
    add_version(in_prod, "1.1.0")
    release(in_prod, "1.1.0")
    return in_prod


def _rollback(root: Path, by: str, **kw: object) -> object:
    options = RollbackOptions(reason="incident", notify_policy=FAST, **kw)  # type: ignore[arg-type]
    return rollback(Registry(root), PROMPT, options, by=by)


def test_emergency_rollback_is_refused_where_the_policy_forbids_it(two_in_prod: Path) -> None:
    configure(two_in_prod, lambda doc: env_config(doc, "prod").update(allow_emergency=False))
    before = snapshot(two_in_prod)
    with pytest.raises(PermissionDenied, match="emergency path is disabled for prod"):
        _rollback(two_in_prod, "alice", emergency=True, skip_evals=True)
    assert snapshot(two_in_prod) == before


@pytest.mark.parametrize(
    "kw",
    [
        {"emergency": True, "skip_evals": True},
        {"to": "1.0.0", "force": True},
    ],
    ids=["emergency", "force"],
)
def test_force_and_emergency_need_an_approver_of_the_environment(
    two_in_prod: Path, kw: dict[str, object]
) -> None:
    before = snapshot(two_in_prod)
    with pytest.raises(PermissionDenied, match="mallory may not use (the emergency path|a forced restore) in prod"):
        _rollback(two_in_prod, "mallory", **kw)
    assert snapshot(two_in_prod) == before


def test_a_forced_restore_of_a_quarantined_version_stays_quarantined(two_in_prod: Path) -> None:
    reg = registry(two_in_prod)
    flag_version(reg, f"{PROMPT}@1.0.0", FlagOptions(reason="leaks data"), by="auditor")
    _rollback(two_in_prod, "alice", to="1.0.0", force=True, emergency=True, skip_evals=True)
    entry = registry(two_in_prod).entry(PROMPT)
    restored = next(r for r in entry.versions if r.version == "1.0.0+rollback")
    assert restored.quarantine is not None and restored.quarantine.reason == "leaks data"
    assert restored.status.value == "quarantined"


def test_emergency_promotion_needs_an_approver_who_is_not_the_author(registered_repo: Path) -> None:
    from promptgov import PromoteOptions, promote

    reg = registry(registered_repo)
    options = PromoteOptions(to="prod", reason="incident", emergency=True)
    before = snapshot(registered_repo)
    with pytest.raises(PermissionDenied, match="mallory may not use the emergency path into prod"):
        promote(reg, f"{PROMPT}@1.0.0", options, by="mallory")
    assert snapshot(registered_repo) == before
    configure(
        registered_repo,
        lambda doc: doc["groups"]["release-managers"].append("carol"),
    )
    before = snapshot(registered_repo)
    with pytest.raises(PermissionDenied, match="carol wrote support-reply@1.0.0"):
        promote(registry(registered_repo), f"{PROMPT}@1.0.0", options, by="carol")
    assert snapshot(registered_repo) == before
