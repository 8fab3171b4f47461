"""checkout: load any registered version into the working copy, never losing unsaved edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from promptgov import CheckoutOptions, checkout
from promptgov.errors import Conflict
from promptgov.model import PromptSource

from .. import flows
from ..conftest import run_cli, snapshot
from ..flows import PROMPT, PROMPT_FILE, registry


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    """A private copy of the shared template (1.0.0 then 1.1.0 released everywhere)."""
    root = tmp_path / "repo"
    shutil.copytree(template, root)
    return root


def working_sha(root: Path) -> str:
    src = PromptSource.model_validate(yaml.safe_load((root / PROMPT_FILE).read_text()))
    return src.content().sha256


def test_checkout_loads_a_version_and_keeps_the_files_comments(repo: Path) -> None:
    res = run_cli("checkout", f"{PROMPT}@1.0.0", "--repo", repo)
    assert res.exit_code == 0, res.stderr
    sha = registry(repo).record(PROMPT, "1.0.0").sha256
    assert res.stdout.strip() == f"{PROMPT_FILE} now holds {PROMPT}@1.0.0 sha256:{sha[:12]}"
    assert working_sha(repo) == sha
    assert (repo / PROMPT_FILE).read_text().startswith("# The support-reply prompt")
    assert registry(repo).status(PROMPT)[0].working_copy == "clean"


def test_checkout_takes_an_environment_or_latest(repo: Path) -> None:
    checkout(registry(repo), f"{PROMPT}@1.0.0")
    res = checkout(registry(repo), f"{PROMPT}@prod")
    assert res.version == "1.1.0" and working_sha(repo) == res.sha256
    checkout(registry(repo), f"{PROMPT}@1.0.0")
    assert checkout(registry(repo), f"{PROMPT}@latest").version == "1.1.0"


def test_checkout_refuses_to_overwrite_unsaved_edits(repo: Path) -> None:
    flows.edit_prompt(repo, "and sign off politely.", "and sign off politely. WIP")
    before = snapshot(repo)
    with pytest.raises(Conflict) as err:
        checkout(registry(repo), f"{PROMPT}@1.0.0")
    assert err.value.message == (
        f"{PROMPT_FILE} has edits that no version of {PROMPT} has; nothing was changed. "
        f"Register them as a version first, or force the checkout of {PROMPT}@1.0.0 "
        "(the edits are then kept beside the file)."
    )
    assert snapshot(repo) == before
    res = run_cli("checkout", f"{PROMPT}@1.0.0", "--repo", repo)
    assert res.exit_code == 2 and "has edits that no version" in res.stderr
    assert snapshot(repo) == before


def test_forced_checkout_keeps_the_edits_beside_the_file(repo: Path) -> None:
    flows.edit_prompt(repo, "and sign off politely.", "and sign off politely. WIP")
    draft = (repo / PROMPT_FILE).read_bytes()
    res = run_cli("checkout", f"{PROMPT}@1.0.0", "--force", "--json", "--repo", repo)
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["version"] == "1.0.0" and data["kept_edits"].startswith(
        f"{PROMPT_FILE}.before-checkout-"
    )
    assert (repo / data["kept_edits"]).read_bytes() == draft
    assert working_sha(repo) == registry(repo).record(PROMPT, "1.0.0").sha256
    assert checkout(registry(repo), f"{PROMPT}@1.1.0", CheckoutOptions()).kept_edits is None
