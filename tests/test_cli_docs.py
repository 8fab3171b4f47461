"""Guard rails: every command has help, the CLI reference is current, errors map to exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

import promptgov
from promptgov import errors
from promptgov.cli import app
from promptgov.cli._reference import _commands, reference

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    current = (ROOT / "docs/cli-reference.md").read_text(encoding="utf-8")
    assert current == reference(app), "regenerate with: python -m promptgov.cli._reference"


@pytest.mark.parametrize(("name", "cmd"), _commands(typer.main.get_command(app), "promptgov"))
def test_every_command_has_help_and_json(name: str, cmd) -> None:
    assert (cmd.help or "").strip(), f"{name} has no help"
    opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
    if name not in ("promptgov init",):
        assert "--repo" in opts or "--config" in opts, f"{name} takes no --repo"
    assert "--json" in opts, f"{name} has no --json"


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


@pytest.mark.parametrize("cls", _subclasses(errors.PromptGovError))
def test_every_error_has_exit_code_and_http_status(cls: type) -> None:
    assert cls.exit_code in (1, 2, 3)
    # 503 is the one server status: a replica's remote is down, so retry elsewhere.
    assert 400 <= cls.http_status < 500 or cls is errors.Unavailable and cls.http_status == 503
    assert (cls.exit_code == 2) == issubclass(
        cls, errors.InputError
    ) or cls is errors.PromptGovError


def test_public_names_resolve_and_are_sorted() -> None:
    assert promptgov.__all__ == sorted(promptgov.__all__)
    for name in promptgov.__all__:
        assert getattr(promptgov, name) is not None
