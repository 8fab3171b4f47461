"""Library errors speak to whoever called: Python callers get no command-line advice."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import promptgov
from promptgov import Registry
from promptgov.actions.monitor import monitor
from promptgov.actions.promote import PromoteOptions, promote
from promptgov.actions.rollback import RollbackOptions, UndoOptions, rollback, undo
from promptgov.audit import AuditLog
from promptgov.audit._checkpoint import load_private_key
from promptgov.errors import (
    CheckFailed,
    Conflict,
    GateFailed,
    InputError,
    NotFound,
    PromptGovError,
)
from promptgov.repo import find_root
from tests import flows
from tests.conftest import run_cli

#: A command ('promptgov init'), or a flag (--var, --repo DIR): advice for a terminal.
CLI_ADVICE = re.compile(r"promptgov [a-z]|(?<![\w-])--[a-z]")


def _outside(tmp_path: Path) -> None:
    find_root(tmp_path)


def _missing_variable(registered_repo: Path) -> None:
    Registry(registered_repo).get("support-reply@1.0.0").render()


def _rollback_without_reason(registered_repo: Path) -> None:
    rollback(Registry(registered_repo), "support-reply", RollbackOptions(reason=""), by="bob")


def _nothing_to_restore(registered_repo: Path) -> None:
    flows.release(registered_repo, "1.0.0")
    rollback(Registry(registered_repo), "support-reply", RollbackOptions(reason="bad"), by="bob")


def _unknown_version(registered_repo: Path) -> None:
    Registry(registered_repo).get("support-reply@9.9.9")


def _no_unfinished_rollback(root: Path) -> None:
    undo(Registry(root), "support-reply", UndoOptions(reason="r", env="prod"), by="bob")


def _ungated_promotion(root: Path) -> None:
    promote(Registry(root), "support-reply@1.0.0", PromoteOptions(to="dev", reason="r"), by="bob")


def _pointer_moved(root: Path) -> None:
    flows.release(root, "1.0.0", ["dev"])
    options = PromoteOptions(to="dev", reason="r", expect=None)
    promote(Registry(root), "support-reply@1.0.0", options, by="bob")


def _policy_drift(root: Path) -> None:
    gate = root / "ci/eval-gate.yml"
    gate.write_text(gate.read_text() + "\n# weakened\n")
    _ungated_promotion(root)


def _same_key_rotation(root: Path) -> None:
    key = Ed25519PrivateKey.generate()
    AuditLog(root).rotate_key(key, key, actor="bob", reason="r")


def _missing_key_file(root: Path) -> None:
    load_private_key(root / "no-such.pem")


def _bad_interval(root: Path) -> None:
    monitor(Registry(root), interval="soon", cycles=1)


@pytest.mark.parametrize(
    ("call", "error", "hint"),
    [
        (_missing_variable, InputError, "Pass --var customer_name=… --var order_id=…"),
        (_rollback_without_reason, InputError, "Pass --reason."),
        (_nothing_to_restore, NotFound, "Run 'promptgov rollback support-reply --env prod"),
        (_unknown_version, NotFound, "See 'promptgov history support-reply'."),
        (_no_unfinished_rollback, NotFound, "See 'promptgov history support-reply'."),
        (_ungated_promotion, GateFailed, "Run 'promptgov eval' then 'promptgov gate --env dev'."),
        (_pointer_moved, Conflict, "See 'promptgov status support-reply'."),
        (_policy_drift, CheckFailed, "Run 'promptgov policy propose'"),
        (_same_key_rotation, InputError, "Create one with 'promptgov audit keygen'."),
        (_missing_key_file, NotFound, "Create one with 'promptgov audit keygen'."),
        (_bad_interval, InputError, "Check --interval."),
    ],
)
def test_a_python_callers_message_has_no_command_line_advice(
    registered_repo: Path,
    call: Callable[[Path], None],
    error: type[PromptGovError],
    hint: str,
) -> None:
    with pytest.raises(error) as info:
        call(registered_repo)

    assert not CLI_ADVICE.search(info.value.message), info.value.message
    assert not CLI_ADVICE.search(str(info.value))
    assert "'promptgov " not in info.value.message
    assert info.value.cli_hint is not None and info.value.cli_hint.startswith(hint)
    assert info.value.cli_message == f"{info.value.message} {info.value.cli_hint}"
    assert "cli_hint" not in info.value.to_dict()


def test_no_repository_names_the_directory_for_python_and_init_for_the_cli(
    tmp_path: Path,
) -> None:
    with pytest.raises(NotFound) as info:
        _outside(tmp_path)
    assert info.value.message == f"{tmp_path} is not a governed repository (no promptgov.yml)."

    res = run_cli("status", cwd=tmp_path)
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: no governed repository here ({tmp_path.resolve()}) or above. "
        "Run 'promptgov init' or pass --repo DIR."
    )


def test_the_cli_prints_the_hint_after_the_message(registered_repo: Path) -> None:
    res = run_cli(
        "render", "support-reply@1.0.0", "--var", "customer_name=Dana", "--repo", registered_repo
    )
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: support-reply@1.0.0 requires variable(s) order_id, message, not given; give "
        "each a value. Pass --var order_id=… --var message=…"
    )


def test_an_error_without_a_hint_prints_its_message_alone() -> None:
    exc = InputError("bad thing; do the other thing.", prompt="p")
    assert exc.cli_hint is None and exc.cli_message == exc.message
    assert exc.to_dict() == {
        "error": "InputError",
        "message": "bad thing; do the other thing.",
        "prompt": "p",
    }
    assert promptgov.errors.InputError is InputError
