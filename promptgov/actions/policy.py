"""``promptgov policy``: the governed policy changes only through the policy in force.

The gate file, the eval suites, ``promptgov.yml`` (approvals, environments, triggers…)
and the allowed-signers file are controls, so changing them is itself versioned, audited
and approved (SOC 2 CC8.1): :func:`propose_policy` records the edited files' bytes and
digests, :func:`approve_policy` records an approval of exactly those bytes, and
:func:`apply_policy` puts them in force once the approvals that the policy in force
*before* the change requires are met (its last environment's approval policy; see
:func:`~promptgov.actions._policy_ledger.approval_rule`). Until then every decision
refuses the edited files (:func:`~promptgov.actions._policy_files.require_policy_in_force`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from .. import docs_gen
from ..errors import CheckFailed, Conflict, InputError, IntegrityError, NotFound, PermissionDenied
from ..model import ProjectConfig, identity
from ..repo import Repo
from ..store import Edit
from ..store.files import load_yaml, read_bytes
from ._policy import same_person
from ._policy_files import (
    FileChange,
    PolicyDrift,
    describe,
    digests,
    drift,
    recorded_bytes,
    stage_files,
)
from ._policy_ledger import (
    APPROVE,
    CHANGE,
    PROPOSAL_REF,
    PROPOSE,
    Ledger,
    Manifest,
    Proposal,
    load_manifest,
    read_ledger,
    rule_in_force,
)
from ._text import FreeText


@dataclass(frozen=True)
class ProposeOptions(FreeText):
    """Why the policy changes."""

    _free_text = ("reason",)

    reason: str
    """Recorded on the proposal and on the policy change that applies it."""


@dataclass(frozen=True)
class PolicyApproveOptions(FreeText):
    """Which proposal is approved, and why."""

    _free_text = ("comment",)

    proposal: int | None = None
    """The proposal's audit entry (default: the open one)."""
    comment: str = ""
    """Why the approver agrees."""


@dataclass(frozen=True)
class ApplyOptions:
    """Which proposal to put in force."""

    proposal: int | None = None
    """The proposal's audit entry (default: the open one)."""


@dataclass(frozen=True)
class FileDiff:
    """One governed file that differs from the policy in force, summarised."""

    path: str
    kind: str
    """``added``, ``deleted`` or ``changed``."""
    added: int
    """Lines added."""
    removed: int
    """Lines removed."""
    diff: str
    """Unified diff from the recorded bytes ('' when either side is not text)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": self.path, "kind": self.kind, "added": self.added, "removed": self.removed}


@dataclass(frozen=True)
class ProposalStatus:
    """A proposal, its approvals under the policy in force, and whether it can be applied."""

    seq: int
    by: str
    reason: str
    files: list[str]
    approvers: list[str]
    """The approvals the rule counts."""
    required: int
    rule: str
    """The rule in words (``1 approval by @release-managers …, as for prod``)."""
    blocker: str | None = None
    """Why it cannot be approved or applied as it stands (None: it can)."""

    @property
    def ready(self) -> bool:
        """Whether :func:`apply_policy` would put it in force now."""
        return self.blocker is None and len(self.approvers) >= self.required

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seq": self.seq,
            "by": self.by,
            "reason": self.reason,
            "files": self.files,
            "approvers": self.approvers,
            "required": self.required,
            "rule": self.rule,
            "blocker": self.blocker,
            "ready": self.ready,
        }


@dataclass(frozen=True)
class PolicyStatus:
    """The governed files against the policy in force, and the open proposal."""

    seq: int | None
    """The audit entry that put the policy in force (None: the log records none)."""
    files: list[FileDiff] = field(default_factory=list)
    proposal: ProposalStatus | None = None

    @property
    def in_force(self) -> bool:
        """True when every governed file is what the policy in force recorded."""
        return self.seq is not None and not self.files

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "in_force_seq": self.seq,
            "in_force": self.in_force,
            "files": [f.to_dict() for f in self.files],
            "proposal": self.proposal.to_dict() if self.proposal else None,
        }


@dataclass(frozen=True)
class PolicyChange:
    """A policy change put in force."""

    seq: int
    proposal: int
    files: list[str]
    approvers: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seq": self.seq,
            "proposal": self.proposal,
            "files": self.files,
            "approvers": self.approvers,
        }


# --------------------------------------------------------------------------- status


def policy_status(repo: Repo) -> PolicyStatus:
    """Which governed files differ from the policy in force (with a diff of each), and
    how far the open proposal is. Read-only."""
    _fresh(repo)
    state = drift(repo)
    ledger = read_ledger(repo)
    open_ = ledger.open_proposal()
    return PolicyStatus(
        state.seq,
        [_diff(repo, c) for c in state.changes],
        _proposal_status(repo, ledger, open_) if open_ is not None else None,
    )


def _diff(repo: Repo, change: FileChange) -> FileDiff:
    """How one file differs from its recorded bytes."""
    try:
        old = recorded_bytes(repo, change.path, change.recorded) or b""
    except IntegrityError:
        old = b""
    new = read_bytes(repo.path(change.path)) or b""
    try:
        a, b = old.decode().splitlines(True), new.decode().splitlines(True)
    except UnicodeDecodeError:
        return FileDiff(change.path, change.kind, 0, 0, "")
    lines = list(difflib.unified_diff(a, b, f"a/{change.path}", f"b/{change.path}", lineterm="\n"))
    body = [ln for ln in lines[2:] if not ln.startswith("@@")]
    added = sum(ln.startswith("+") for ln in body)
    removed = sum(ln.startswith("-") for ln in body)
    return FileDiff(change.path, change.kind, added, removed, "".join(lines))


# --------------------------------------------------------------------------- propose


def propose_policy(repo: Repo, options: ProposeOptions, *, by: str) -> ProposalStatus:
    """Record the edited policy files as a proposal: their bytes go to the object store
    and a ``policy-propose`` entry binds their digests and the policy they change.

    Nothing is put in force: decisions keep refusing the edited files until the proposal
    is approved and applied. A new proposal supersedes an open one.

    Raises:
        InputError: no reason or proposer, nothing changed, or an edited file is invalid.
    """
    by = _person(by, "a policy proposal")
    if not options.reason.strip():
        raise InputError(
            "a policy proposal needs a reason: say why the policy changes.",
            cli_hint="Pass --reason.",
        )
    _fresh(repo)
    _check_new_policy(repo)
    with repo.edit() as e:
        state = drift(repo)
        changes = _changes_to_propose(state)
        kept = stage_files(e, repo, state.current)
        manifest = Manifest(state.recorded, kept)
        seq = e.audit(
            action=PROPOSE,
            actor=by,
            reason=options.reason,
            details={
                "manifest": e.put_file(manifest.encode()),
                "files": describe(changes),
            },
        )
    return _status_of(repo, seq)


def _changes_to_propose(state: PolicyDrift) -> list[FileChange]:
    """The files the proposal changes (refuses an empty one)."""
    changes = state.changes
    if not changes and state.seq is not None:
        raise InputError(
            f"nothing to propose: every governed policy file is what audit entry #{state.seq} "
            "put in force. Edit promptgov.yml, the gate file or a suite first."
        )
    return changes


def _check_new_policy(repo: Repo) -> None:
    """The edited files are a usable policy: a proposal never records a broken one."""
    from ..gate import load_gate_config
    from .verify import check_config_sections

    check_config_sections(repo)
    load_gate_config(repo)


# --------------------------------------------------------------------------- approve


def approve_policy(repo: Repo, options: PolicyApproveOptions, *, by: str) -> ProposalStatus:
    """Record ``by``'s approval of a policy proposal, judged by the policy in force.

    Raises:
        NotFound: no such (open) proposal.
        Conflict: the proposal is stale (the policy or the files changed since), or ``by``
            already approved it.
        PermissionDenied: ``by`` may not approve under the policy in force, or proposed it
            where that policy forbids self-approval.
    """
    by = _person(by, "a policy approval")
    _fresh(repo)
    with repo.edit() as e:
        ledger = read_ledger(repo)
        proposal, manifest = _open(repo, ledger, options.proposal)
        _refuse_approval(repo, ledger, proposal, manifest, by)
        e.audit(
            action=APPROVE,
            actor=by,
            approvers=[by],
            reason=options.comment or "approved",
            details={PROPOSAL_REF: proposal.seq, "manifest": proposal.manifest_sha},
        )
    return _status_of(repo, proposal.seq)


def _refuse_approval(
    repo: Repo, ledger: Ledger, proposal: Proposal, manifest: Manifest, by: str
) -> None:
    """Who may approve, read from the policy in force; separation of duties; duplicates."""
    config, rule = rule_in_force(repo, ledger.in_force, manifest.policy)
    if not rule.allows(config, by):
        raise PermissionDenied(
            f"{by} may not approve policy changes: the policy in force asks for {rule.describe()}."
        )
    if same_person(by, proposal.by) and not rule.allow_self_approval:
        raise PermissionDenied(
            f"{by} proposed policy change #{proposal.seq} and may not approve it (separation "
            "of duties); ask another approver."
        )
    if any(same_person(by, who) for who in proposal.approvers()):
        raise Conflict(f"{by} already approved policy change #{proposal.seq}.")


# --------------------------------------------------------------------------- apply


def apply_policy(repo: Repo, options: ApplyOptions, *, by: str) -> PolicyChange:
    """Put an approved proposal in force: one ``policy-change`` entry whose state records
    the new digests, with the generated docs brought up to date in the same unit of work.

    Raises:
        NotFound: no such (open) proposal.
        Conflict: the proposal is stale (the policy or the files changed since).
        CheckFailed: its approvals fall short of what the policy in force requires.
    """
    by = _person(by, "applying a policy change")
    _fresh(repo)
    with repo.edit() as e:
        ledger = read_ledger(repo)
        proposal, manifest = _open(repo, ledger, options.proposal)
        approvers = _approvals_met(repo, ledger, proposal, manifest)
        _regenerate_docs(e, repo)
        e.commit_policy(manifest.policy)
        seq = e.audit(
            action=CHANGE,
            actor=by,
            reason=proposal.reason,
            approvers=approvers,
            details={
                PROPOSAL_REF: proposal.seq,
                "manifest": proposal.manifest_sha,
                "files": describe(_manifest_changes(manifest)),
            },
        )
    files = [c.path for c in _manifest_changes(manifest)]
    return PolicyChange(seq, proposal.seq, files, approvers)


def _approvals_met(repo: Repo, ledger: Ledger, proposal: Proposal, manifest: Manifest) -> list[str]:
    """The counted approvers, once they are as many as the policy in force requires."""
    config, rule = rule_in_force(repo, ledger.in_force, manifest.policy)
    counted = rule.counted(config, proposal.by, proposal.approvers())
    if len(counted) < rule.required:
        have = ", ".join(counted) or "none"
        raise CheckFailed(
            f"policy change #{proposal.seq} has {len(counted)} of the approvals the policy in "
            f"force requires ({rule.describe()}; counted: {have}); nothing was changed.",
            cli_hint="Ask an approver to run 'promptgov policy approve'.",
        )
    return counted


def _regenerate_docs(e: Edit, repo: Repo) -> None:
    """Stage the generated docs that the new config and gate file change."""
    config = repo.config
    gate = load_yaml(repo.root / config.gate_file, config.gate_file)
    for rel, data in docs_gen.generate(config, gate).items():
        if read_bytes(repo.root / rel) != data:
            e.write(rel, data)


# --------------------------------------------------------------------------- shared


def _open(repo: Repo, ledger: Ledger, seq: int | None) -> tuple[Proposal, Manifest]:
    """The proposal to act on, once it is open and still what is on disk.

    Raises:
        NotFound / Conflict: no such proposal, it was applied, or it is stale.
    """
    proposal = ledger.open_proposal() if seq is None else ledger.proposals.get(seq)
    if proposal is None:
        raise NotFound(
            "no open policy proposal" + (f" #{seq}" if seq is not None else "") + ".",
            cli_hint="Record one with 'promptgov policy propose'.",
        )
    if proposal.applied is not None:
        raise Conflict(
            f"policy change #{proposal.seq} was already applied by audit entry #{proposal.applied}."
        )
    manifest = load_manifest(repo, proposal)
    seq_, in_force = ledger.in_force if ledger.in_force is not None else (None, {})
    if manifest.base != in_force:
        raise Conflict(
            f"policy change #{proposal.seq} was proposed against another policy than the one "
            f"audit entry #{seq_} put in force since; propose it again."
        )
    now = digests(repo, manifest.policy)
    moved = [rel for rel, sha in manifest.policy.items() if now.get(rel) != sha]
    if moved:
        raise Conflict(
            f"{', '.join(moved)} changed since policy change #{proposal.seq} was proposed, and "
            "approvals bind the proposed bytes; propose the change again."
        )
    return proposal, manifest


def _proposal_status(repo: Repo, ledger: Ledger, proposal: Proposal) -> ProposalStatus:
    """Where ``proposal`` stands: its counted approvals and what blocks it."""
    blocker: str | None = None
    try:
        _, manifest = _open(repo, ledger, proposal.seq)
    except (Conflict, NotFound) as exc:
        blocker, manifest = exc.message, load_manifest(repo, proposal)
    config, rule = rule_in_force(repo, ledger.in_force, manifest.policy)
    counted = rule.counted(config, proposal.by, proposal.approvers())
    return ProposalStatus(
        proposal.seq,
        proposal.by,
        proposal.reason,
        [c.path for c in _manifest_changes(manifest)],
        counted,
        rule.required,
        rule.describe(),
        blocker,
    )


def _manifest_changes(manifest: Manifest) -> list[FileChange]:
    return PolicyDrift(None, manifest.base, manifest.policy).changes


def _person(by: str, what: str) -> str:
    who = identity(by)
    if not who:
        raise InputError(f"{what} needs the person who does it.", cli_hint="Pass --by.")
    return who


def _fresh(repo: Repo) -> ProjectConfig:
    """The config as it is on disk now (a policy action reads the edited files)."""
    repo.__dict__.pop("config", None)
    return repo.config


def _status_of(repo: Repo, seq: int) -> ProposalStatus:
    """Where proposal ``seq`` stands, read back from the log just written."""
    ledger = read_ledger(repo)
    return _proposal_status(repo, ledger, ledger.proposals[seq])
