"""Look-alike names, versions and environments are refused at every entry point, and a
YAML alias bomb in a governed file is refused before anything walks it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import run_cli, snapshot
from .flows import edit_prompt

BOMB = """
parameters: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


@pytest.mark.parametrize(
    "args, message",
    [
        (("add", "support-reply\n", "-m", "m", "--author", "carol"), "invalid prompt name"),
        (("add", "con", "-m", "m", "--author", "carol"), "invalid prompt name 'con'"),
        (
            ("add", "support-reply", "-m", "m", "--author", "carol", "--version", "1.2.1\n"),
            "invalid semantic version",
        ),
        (
            (
                "add",
                "support-reply",
                "-m",
                "m",
                "--author",
                "carol",
                "--version",
                "1" * 5000 + ".0.0",
            ),
            "invalid semantic version",
        ),
        (
            ("approve", "support-reply@1.0.0", "--env", "prod\n", "--by", "alice"),
            "unknown environment",
        ),
    ],
    ids=["name-newline", "device-name", "version-newline", "huge-version", "env-newline"],
)
def test_look_alike_input_is_refused(
    registered_repo: Path, args: tuple[str, ...], message: str
) -> None:
    edit_prompt(registered_repo, "and sign off politely.", "and sign off politely. Thanks.")
    before = snapshot(registered_repo)
    res = run_cli(*args, "--repo", registered_repo)
    assert res.exit_code == 2, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2
    assert snapshot(registered_repo) == before


def test_a_badly_named_prompt_directory_is_skipped_and_reported(registered_repo: Path) -> None:
    bad = registered_repo / "prompts/--help"
    bad.mkdir()
    (bad / "prompt.yml").write_text(
        (registered_repo / "prompts/support-reply/prompt.yml").read_text()
    )
    res = run_cli("status", "--repo", registered_repo)
    assert res.exit_code == 0 and "support-reply" in res.stdout
    res = run_cli("verify", "--repo", registered_repo)
    assert res.exit_code == 1
    assert "prompts/--help" in res.stdout + res.stderr


@pytest.mark.parametrize("target", ["promptgov.yml", "prompts/support-reply/prompt.yml"])
def test_yaml_aliases_in_a_governed_file_are_refused(registered_repo: Path, target: str) -> None:
    path = registered_repo / target
    path.write_text(
        path.read_text() + "\nbomb:\n" + "".join("  " + ln + "\n" for ln in BOMB.splitlines() if ln)
    )
    res = run_cli("verify", "--repo", registered_repo)
    assert res.exit_code in (1, 2)
    assert "uses YAML aliases" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_a_bad_output_format_is_refused_before_the_run_is_recorded(registered_repo: Path) -> None:
    before = snapshot(registered_repo)
    res = run_cli("eval", "support-reply@1.0.0", "-o", "out.exe", "--repo", registered_repo)
    assert res.exit_code == 2 and "unknown format .exe" in res.stderr
    assert snapshot(registered_repo) == before


def _truncate(text: str) -> str:
    return text[: len(text) // 2]


def _string_score(text: str) -> str:
    data = json.loads(text)
    data["results"]["results"][0]["score"] = "high"
    return json.dumps(data)


@pytest.mark.parametrize("damage", [_truncate, _string_score], ids=["truncated", "string-score"])
def test_a_damaged_eval_output_gives_a_one_line_error(
    registered_repo: Path, damage: Callable[[str], str]
) -> None:
    from promptgov import Registry, run_version_eval

    run = run_version_eval(Registry(registered_repo), "support-reply@1.0.0", by="ci").run
    path = registered_repo / run.output
    path.write_text(damage(path.read_text()))
    # A recorded output is checked against the hash its run recorded before it is parsed.
    res = run_cli("gate", "support-reply@1.0.0", "--env", "dev", "--repo", registered_repo)
    assert res.exit_code == 1, res.stdout
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    assert f"eval output {run.output} was changed after run" in res.stderr
    # The same file gated on its own (as CI does) is parsed and refused in one line.
    res = run_cli("gate", "--results", str(path), "--env", "dev", "--repo", registered_repo)
    assert res.exit_code == 2, res.stdout
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    expected = (
        "is not valid JSON" if damage is _truncate else "result 1 is not a promptfoo v3 result"
    )
    assert expected in res.stderr


def test_a_crafted_huge_version_in_the_registry_is_a_clear_error(registered_repo: Path) -> None:
    reg = registered_repo / "schemas/prompt-version-schema.yml"
    reg.write_text(
        reg.read_text().replace('version: "1.0.0"', "version: " + "9" * 5000 + ".0.0", 1)
    )
    edit_prompt(registered_repo, "and sign off politely.", "and sign off politely. Thanks.")
    res = run_cli("add", "support-reply", "-m", "m", "--author", "carol", "--repo", registered_repo)
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert "schemas/prompt-version-schema.yml" in res.stderr or "registry block" in res.stderr
