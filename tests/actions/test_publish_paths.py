"""A governance commit contains every file its decision read."""

from __future__ import annotations

from pathlib import Path

import promptgov

from ..flows import add_version, change_policy, git, git_init, release


def test_promotion_commit_holds_the_config_gate_and_suite_it_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    promptgov.init(root, example=True)
    add_version(root, "1.0.0")
    git_init(root)

    def review(root: Path) -> None:
        for rel in ("promptgov.yml", "ci/eval-gate.yml", "evals/eval-config.promptfoo.yml"):
            with (root / rel).open("a") as fh:
                fh.write("# reviewed before the 1.0.0 release\n")

    change_policy(root, review)  # an approved policy change, not yet committed to git

    release(root, "1.0.0", ("dev",))

    committed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert {"promptgov.yml", "ci/eval-gate.yml", "evals/eval-config.promptfoo.yml"} <= set(
        committed
    )
    assert "audit/artifact-audit-log.md" in committed
    assert git(root, "status", "--porcelain", "--", "promptgov.yml", "ci", "evals") == ""
