"""``verify`` and ``audit verify`` never call a missing or replaced audit log OK."""

from __future__ import annotations

from pathlib import Path

import pytest

import promptgov

from ..conftest import run_cli


@pytest.mark.parametrize("damage", ["delete", "empty", "text", "symlink"])
def test_a_missing_or_replaced_log_in_a_governed_repository_fails(
    tmp_path: Path, damage: str
) -> None:
    """Never "OK: 0 entries" where init wrote the first entry (issue: trust)."""
    root = tmp_path / "repo"
    promptgov.init(root, example=True)
    log = root / "audit/artifact-audit-log.md"
    if damage == "delete":
        log.unlink()
    elif damage == "empty":
        log.write_text("")
    elif damage == "text":
        log.write_text("# nothing to see here\n")
    else:
        log.unlink()
        log.symlink_to("/etc/passwd")
    for args in (("audit", "verify"), ("verify",)):
        res = run_cli(*args, "--repo", root)
        assert res.exit_code == 1, (args, res.stdout, res.stderr)
        out = res.stdout + res.stderr
        assert "restore it from git" in out and "OK" not in out.split("\n")[0]
