"""Drive a governed test repository to a state through the library: add, eval, gate, promote."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from promptgov import AddOptions, ApproveOptions, GateOptions, PromoteOptions, Registry, add
from promptgov.actions.approve import approve
from promptgov.actions.evaluate import record_run, run_version_eval
from promptgov.actions.gate import check_gate
from promptgov.actions.policy import (
    ApplyOptions,
    PolicyApproveOptions,
    PolicyChange,
    ProposeOptions,
    apply_policy,
    approve_policy,
    propose_policy,
)
from promptgov.actions.promote import PromotionResult, promote
from promptgov.model import VersionRecord
from promptgov.repo import Repo

PROMPT = "support-reply"
PROMPT_FILE = f"prompts/{PROMPT}/prompt.yml"
ENVS = ("dev", "staging", "prod")
AUTHOR = "carol"
#: A release manager of the example's ``@release-managers`` group (may approve prod).
APPROVER = "alice"
#: The example's instruction whose removal makes the model stub promise refunds.
SAFETY_LINE = "never promise refunds, "
#: The example's instruction whose removal makes the model stub skip its apology.
EMPATHY_LINE = "apologize for the inconvenience, "


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def registry(root: Path) -> Registry:
    """A fresh registry on ``root`` (no state shared between steps)."""
    return Registry(root)


def edit_prompt(root: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the working copy's text (comments are kept)."""
    path = root / PROMPT_FILE
    text = path.read_text()
    assert old in text, f"{old!r} not in {PROMPT_FILE}"
    path.write_text(text.replace(old, new, 1))


def add_version(
    root: Path,
    version: str,
    *,
    note: str | None = None,
    remove: Iterable[str] = (),
    author: str = AUTHOR,
) -> VersionRecord:
    """Edit the working copy and register it as ``version``.

    ``note`` appends a harmless sentence (the stub model ignores it) so the content is new;
    ``remove`` drops instructions, which makes the stub model misbehave.
    """
    for text in remove:
        edit_prompt(root, text, "")
    if note is None and not remove:
        note = f"Reply in the customer's language (release {version})."
    if note is not None:
        edit_prompt(root, "and sign off politely.\n", f"and sign off politely.\n  {note}\n")
    return add(
        registry(root), PROMPT, AddOptions(message=f"release {version}", version=version), by=author
    )


def evaluate(root: Path, version: str, *, by: str = "ci") -> str:
    """Run the example's eval suite on ``version``; returns the run id."""
    return run_version_eval(registry(root), f"{PROMPT}@{version}", by=by).run.run_id


def import_results(root: Path, version: str, v3: dict[str, Any], *, by: str = "ci") -> str:
    """Record ``v3`` (promptfoo output) as an eval run of ``version`` on the card's suite."""
    reg = registry(root)
    v = reg.get(f"{PROMPT}@{version}")
    return record_run(reg, v, copy.deepcopy(v3), suite=v.card.eval_suite, by=by).run.run_id


def stored_output(root: Path, run_id: str) -> dict[str, Any]:
    """The promptfoo v3 output of a recorded run."""
    path = next((root / "logs/evals" / PROMPT).glob(f"{run_id}.json"))
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def release(
    root: Path,
    version: str,
    envs: Sequence[str] = ENVS,
    *,
    by: str = APPROVER,
    approver: str = APPROVER,
    evaluate_first: bool = True,
    emergency: bool = False,
) -> list[PromotionResult]:
    """Evaluate ``version``, then gate, approve (where required) and promote it through ``envs``.

    With ``emergency`` the gate and approvals are skipped by the emergency path (the gate is
    still recorded, so a failing version can be put in place on purpose).
    """
    reg = registry(root)
    ref = f"{PROMPT}@{version}"
    if evaluate_first:
        evaluate(root, version)
    out = []
    for env in envs:
        check_gate(reg, ref, GateOptions(env=env))
        policy = reg.repo.config.environment(env)
        assert policy is not None
        if policy.approvals.required and not emergency:
            approve(reg, ref, ApproveOptions(env=env), by=approver)
        out.append(
            promote(
                reg,
                ref,
                PromoteOptions(to=env, reason=f"release {version}", emergency=emergency),
                by=by,
            )
        )
    return out


def two_releases(root: Path) -> None:
    """A new example repository where 1.0.0, then 1.1.0, went through every environment."""
    import promptgov

    promptgov.init(root, example=True)
    for version in ("1.0.0", "1.1.0"):
        add_version(root, version)
        release(root, version)


def change_policy(
    root: Path,
    edit: Callable[[Path], object],
    *,
    by: str = AUTHOR,
    approvers: Sequence[str] = (APPROVER,),
    reason: str = "policy change",
) -> PolicyChange:
    """Apply ``edit(root)`` to the policy files, then propose, approve and apply the change
    through the library, as the policy in force requires."""
    edit(root)
    repo = Repo(root)
    proposal = propose_policy(repo, ProposeOptions(reason=reason), by=by)
    for who in approvers:
        approve_policy(Repo(root), PolicyApproveOptions(proposal=proposal.seq), by=who)
    return apply_policy(Repo(root), ApplyOptions(proposal=proposal.seq), by=by)


def edit_config(root: Path, edit: Any) -> None:
    """Apply ``edit(doc)`` to ``promptgov.yml`` by hand (comments kept; no policy change)."""
    yaml = YAML()
    path = root / "promptgov.yml"
    doc = yaml.load(path.read_text())
    edit(doc)
    with path.open("w") as fh:
        yaml.dump(doc, fh)


def configure(root: Path, edit: Any, **policy: Any) -> None:
    """Apply ``edit(doc)`` to ``promptgov.yml`` (comments kept), as an approved policy change."""
    change_policy(root, lambda r: edit_config(r, edit), **policy)


def env_config(doc: Any, env: str) -> Any:
    """The mapping of ``env`` in a loaded ``promptgov.yml``."""
    return next(e for e in doc["environments"] if e["name"] == env)


def set_notifications(root: Path, url: str, *, events: Sequence[str] = ("rollback",)) -> None:
    """Point the repository's notifications at one apprise ``json://`` target."""

    def edit(doc: Any) -> None:
        doc["notifications"] = [{"name": "ops", "url": url, "events": list(events)}]

    configure(root, edit)


def git(root: Path, *args: str) -> str:
    """Run git in ``root``; returns stdout (raises on failure)."""
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def git_init(root: Path) -> None:
    """Make ``root`` a git repository with everything committed on ``main``."""
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test Runner")
    git(root, "config", "user.email", "runner@example.com")
    git(root, "config", "commit.gpgsign", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
