"""The write API under ``/v1``: each route checks the caller's role, then makes one call
into the same action the CLI runs, with the caller as ``by``.

Bodies forbid unknown fields, so no body can name another actor; the action's own rules
(gate, approvals, separation of duties, compare-and-swap via ``expect``) still decide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ..actions.add import AddOptions, add
from ..actions.approve import ApproveOptions, approve
from ..actions.evaluate import run_version_eval
from ..actions.feedback import (
    ClearOptions,
    ComplaintOptions,
    FlagOptions,
    clear_quarantine,
    flag_version,
    report_complaint,
)
from ..actions.gate import GateOptions, check_gate
from ..actions.promote import CURRENT, PromoteOptions, promote
from ..actions.rollback import RollbackOptions, rollback
from ..audit import credential
from ..identity import Principal, Role
from ..model import PromptSource
from ..registry import Registry
from ._auth import State, Writer
from ._problems import PROBLEM_RESPONSES
from ._state import ServerState
from ._views import check_prompt_name

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["writes"])
T = TypeVar("T")
_BODY = ConfigDict(extra="forbid")
Text = Field(min_length=1, max_length=4000)


def _act(
    state: ServerState,
    who: Principal,
    need: Role,
    env: str | None,
    action: str,
    fn: Callable[[Registry], T],
    *,
    name: str,
) -> T:
    """Check the prompt's name and the caller's role, then run ``fn`` as ``who`` (the audit
    entries name the credential)."""
    check_prompt_name(name)
    who.require(need, env, action=action)
    with credential(who.name, who.credential):
        result = fn(state.fresh())
    state.changed()
    return result


class AddBody(BaseModel):
    """A new version: its source (template or messages, model, variables, card)."""

    model_config = _BODY
    message: str = Text
    source: PromptSource
    bump: Literal["patch", "minor", "major"] = "patch"
    version: str | None = None


@router.post("/v1/prompts/{name}/versions", status_code=201, summary="Register a version")
def add_version(name: str, body: AddBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov add``: the source becomes an immutable candidate version."""
    options = AddOptions(
        message=body.message, bump=body.bump, version=body.version, source=body.source
    )
    rec = _act(
        state,
        who,
        Role.AUTHOR,
        None,
        "add versions",
        lambda r: add(r, name, options, by=who.name),
        name=name,
    )
    return rec.model_dump(mode="json")


@router.post(
    "/v1/prompts/{name}/versions/{version}/evals", status_code=201, summary="Run the evals"
)
def run_eval(name: str, version: str, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov eval NAME@VERSION``: run and record the version's eval suite."""
    out = _act(
        state,
        who,
        Role.AUTHOR,
        None,
        "run evals",
        lambda r: run_version_eval(r, f"{name}@{version}", by=who.name),
        name=name,
    )
    return out.to_dict()


class GateBody(BaseModel):
    """Which environment's gate, against which baseline."""

    model_config = _BODY
    env: str
    baseline: str | None = None


@router.post("/v1/prompts/{name}/versions/{version}/gate", summary="Apply and record the gate")
def gate(name: str, version: str, body: GateBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov gate NAME@VERSION --env ENV``; a failing verdict is a 200 saying so."""
    options = GateOptions(env=body.env, baseline=body.baseline)
    report = _act(
        state,
        who,
        Role.AUTHOR,
        body.env,
        "run the gate",
        lambda r: check_gate(r, f"{name}@{version}", options),
        name=name,
    )
    return report.to_dict()


class ApproveBody(BaseModel):
    """An approval for one environment."""

    model_config = _BODY
    env: str
    comment: str = Field(default="", max_length=4000)
    accept_inconclusive: bool = False


@router.post("/v1/prompts/{name}/versions/{version}/approvals", status_code=201, summary="Approve")
def approve_version(
    name: str, version: str, body: ApproveBody, state: State, who: Writer
) -> dict[str, Any]:
    """``promptgov approve``: the caller approves; the policy's approver list and separation
    of duties apply on top of the role."""
    options = ApproveOptions(
        env=body.env, comment=body.comment, accept_inconclusive=body.accept_inconclusive
    )
    out = _act(
        state,
        who,
        Role.APPROVER,
        body.env,
        "approve",
        lambda r: approve(r, f"{name}@{version}", options, by=who.name),
        name=name,
    )
    return out.model_dump(mode="json")


class PromoteBody(BaseModel):
    """Move ``to`` to ``version``; ``expect`` (omitted: whatever it serves now; null: empty)
    is the compare-and-swap base."""

    model_config = _BODY
    version: str
    to: str
    reason: str = Text
    expect: str | None = None
    accept_inconclusive: bool = False
    emergency: bool = False
    evidence: list[str] = Field(default_factory=list, max_length=50)


@router.post("/v1/prompts/{name}/promotions", status_code=201, summary="Promote a version")
def promote_version(name: str, body: PromoteBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov promote NAME@VERSION --to ENV``; 409 with ``current`` when ``expect`` is stale."""
    options = PromoteOptions(
        to=body.to,
        reason=body.reason,
        expect=body.expect if "expect" in body.model_fields_set else CURRENT,
        accept_inconclusive=body.accept_inconclusive,
        emergency=body.emergency,
        evidence=tuple(body.evidence),
    )
    out = _act(
        state,
        who,
        Role.RELEASER,
        body.to,
        "promote",
        lambda r: promote(r, f"{name}@{body.version}", options, by=who.name),
        name=name,
    )
    return out.to_dict()


class RollbackBody(BaseModel):
    """Roll ``env`` back to its last known good version (or ``to``)."""

    model_config = _BODY
    reason: str = Text
    env: str = "prod"
    evidence: list[str] = Field(default_factory=list, max_length=50)
    to: str | None = None
    force: bool = False
    dry_run: bool = False
    emergency: bool = False
    skip_evals: bool = False
    description: str | None = Field(default=None, max_length=200)


@router.post("/v1/prompts/{name}/rollbacks", summary="Roll back an environment")
def rollback_env(name: str, body: RollbackBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov rollback``; with ``dry_run`` the plan and every skipped candidate."""
    options = RollbackOptions(
        reason=body.reason,
        env=body.env,
        evidence=tuple(body.evidence),
        to=body.to,
        force=body.force,
        dry_run=body.dry_run,
        emergency=body.emergency,
        skip_evals=body.skip_evals,
        description=body.description,
    )
    out = _act(
        state,
        who,
        Role.RELEASER,
        body.env,
        "roll back",
        lambda r: rollback(r, name, options, by=who.name),
        name=name,
    )
    return out.to_dict()


class ComplaintBody(BaseModel):
    """A complaint about what ``env`` serves."""

    model_config = _BODY
    complaint: str = Text
    env: str = "prod"
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    evidence: list[str] = Field(default_factory=list, max_length=50)


@router.post("/v1/prompts/{name}/complaints", status_code=201, summary="Report a complaint")
def complaint(name: str, body: ComplaintBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov report``: recorded against the version ``env`` serves."""
    options = ComplaintOptions(
        complaint=body.complaint,
        env=body.env,
        severity=body.severity,
        evidence=tuple(body.evidence),
    )
    out = _act(
        state,
        who,
        Role.AUTHOR,
        body.env,
        "report complaints",
        lambda r: report_complaint(r, name, options, by=who.name),
        name=name,
    )
    return out.model_dump(mode="json")


class FlagBody(BaseModel):
    """Why a version is flagged (it is quarantined)."""

    model_config = _BODY
    reason: str = Text


@router.post("/v1/prompts/{name}/versions/{version}/flag", summary="Flag and quarantine a version")
def flag(name: str, version: str, body: FlagBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov audit flag``."""
    options = FlagOptions(reason=body.reason)
    out = _act(
        state,
        who,
        Role.APPROVER,
        None,
        "flag versions",
        lambda r: flag_version(r, f"{name}@{version}", options, by=who.name),
        name=name,
    )
    return out.model_dump(mode="json")


class ClearBody(BaseModel):
    """Why a quarantine is lifted, under which environment's approvers."""

    model_config = _BODY
    reason: str = Text
    env: str | None = None


@router.post("/v1/prompts/{name}/versions/{version}/clear", summary="Clear a quarantine")
def clear(name: str, version: str, body: ClearBody, state: State, who: Writer) -> dict[str, Any]:
    """``promptgov clear``: only an approver of ``env`` (default: the last environment)."""
    env = body.env or state.read(lambda r: r.repo.config.env_names[-1])
    options = ClearOptions(reason=body.reason, env=env)
    out = _act(
        state,
        who,
        Role.APPROVER,
        env,
        "clear quarantines",
        lambda r: clear_quarantine(r, f"{name}@{version}", options, by=who.name),
        name=name,
    )
    return out.model_dump(mode="json")
