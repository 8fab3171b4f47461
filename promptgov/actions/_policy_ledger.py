"""The policy ledger: proposals, approvals and changes of the governed policy, from the audit log.

The audit log is the ledger. A ``policy-propose`` entry binds a manifest kept in the
object store (the policy it starts from and the digests it would put in force); a
``policy-approve`` entry names a proposal and its manifest; a ``policy-change`` entry puts
the manifest's digests in force (``details.state.policy``) once the approvals that the
policy in force *before* it requires are met. That rule is read from the ``promptgov.yml``
the policy in force recorded, never from the edited file, so a change cannot lower the
bar it must pass itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..audit import AuditAction, AuditLog
from ..audit._markdown import RECORD_FENCE
from ..audit._state import chained_records, committed_policy
from ..errors import InvalidFile, PromptGovError
from ..hashing import canonical_json
from ..model import ProjectConfig, identity_key
from ..store.objects import FILE_KIND, object_path
from ..store.paths import AUDIT_FILE
from ._policy import allowed_approver, same_person
from ._policy_files import Digests, describe, drift, recorded_bytes, recorded_config

if TYPE_CHECKING:
    from ..repo import Repo

PROPOSE = AuditAction.POLICY_PROPOSE.value
APPROVE = AuditAction.POLICY_APPROVE.value
CHANGE = AuditAction.POLICY_CHANGE.value
_MANIFEST_KIND = "promptgov-policy-proposal-v1"
#: The key by which approvals and changes name their proposal's entry (the git merge
#: driver renumbers it with the entries, see ``store/merge3.AUDIT_REF_KEYS``).
PROPOSAL_REF = "proposal_seq"


@dataclass(frozen=True)
class Manifest:
    """What a proposal binds: the policy it starts from and the one it puts in force.

    Both by digests, never by entry numbers, so a proposal means the same after the git
    merge driver renumbers the entries of one clone.
    """

    base: Digests
    policy: Digests

    def encode(self) -> bytes:
        """Canonical bytes (the proposal's object in the store)."""
        return canonical_json({"kind": _MANIFEST_KIND, "base": self.base, "policy": self.policy})

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """Parse a stored manifest.

        Raises:
            InvalidFile: the bytes are not a policy proposal.
        """
        try:
            obj = json.loads(data)
            if obj["kind"] != _MANIFEST_KIND:
                raise ValueError("not a policy proposal")
            base, policy = committed_policy({"policy": obj["base"]}), committed_policy(obj)
            if base is None or policy is None:
                raise ValueError("no digests")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise InvalidFile(f"a stored policy proposal is malformed ({exc}).") from None
        return cls(base, policy)


@dataclass(frozen=True)
class ApprovalRule:
    """Who must approve a policy change: the last (strictest) environment's approval policy."""

    env: str
    required: int
    approvers: tuple[str, ...]
    allow_self_approval: bool

    def allows(self, config: ProjectConfig, who: str) -> bool:
        """Whether ``who`` may approve a policy change under ``config``."""
        return allowed_approver(config, self.env, who)

    def counted(self, config: ProjectConfig, proposer: str, people: Iterable[str]) -> list[str]:
        """The distinct approvers among ``people`` this rule counts for ``proposer``'s change."""
        out: dict[str, str] = {}
        for who in people:
            if self.allows(config, who) and (
                self.allow_self_approval or not same_person(who, proposer)
            ):
                out.setdefault(identity_key(who), who)
        return sorted(out.values())

    def describe(self) -> str:
        """``1 approval by @release-managers (the proposer's own does not count), as for prod``."""
        who = f" by {', '.join(self.approvers)}" if self.approvers else ""
        own = "" if self.allow_self_approval else " (the proposer's own does not count)"
        n = f"{self.required} approval{'s' if self.required != 1 else ''}"
        return f"{n}{who}{own}, as for {self.env}"


def approval_rule(config: ProjectConfig) -> ApprovalRule:
    """The rule a policy change must meet under ``config``: its last environment's approvals.

    The last environment in promotion order is the strictest one (prod), as for clearing a
    quarantine: changing the rules is at least as serious as moving prod.
    """
    env = config.environments[-1]
    a = env.approvals
    return ApprovalRule(env.name, a.required, tuple(a.approvers), a.allow_self_approval)


@dataclass
class Proposal:
    """One ``policy-propose`` entry and what followed it."""

    seq: int
    by: str
    reason: str
    manifest_sha: str
    approvals: list[tuple[int, str, str]] = field(default_factory=list)
    """(entry, approver, manifest sha) of each ``policy-approve`` naming it."""
    applied: int | None = None
    """The ``policy-change`` entry that applied it."""

    def approvers(self, before: int | None = None) -> list[str]:
        """Who approved this proposal's manifest (in entries before ``before``, if given)."""
        return [
            by
            for seq, by, sha in self.approvals
            if (before is None or seq < before) and sha == self.manifest_sha
        ]


@dataclass(frozen=True)
class Recorded:
    """An entry that recorded the governed policy, with the policy in force before it."""

    seq: int
    action: str
    details: dict[str, Any]
    policy: Digests
    before: tuple[int, Digests] | None


@dataclass
class Ledger:
    """Every policy proposal, approval and record of the log, in order."""

    committing: bool = False
    in_force: tuple[int, Digests] | None = None
    proposals: dict[int, Proposal] = field(default_factory=dict)
    records: list[Recorded] = field(default_factory=list)

    def open_proposal(self) -> Proposal | None:
        """The newest proposal not applied yet (older ones are superseded by it)."""
        pending = [p for p in self.proposals.values() if p.applied is None]
        return pending[-1] if pending else None


def read_ledger(repo: Repo) -> Ledger:
    """The policy ledger of the repository's audit log (read-only)."""
    ledger = Ledger()
    for obj in _policy_records(AuditLog(repo.root).read(), ledger):
        seq, action, actor = obj.get("seq"), obj.get("action"), obj.get("actor")
        details = obj.get("details")
        if type(seq) is not int or not isinstance(details, dict) or not isinstance(action, str):
            continue
        proposal = details.get(PROPOSAL_REF)
        target = ledger.proposals.get(proposal) if type(proposal) is int else None
        if action == PROPOSE and isinstance(details.get("manifest"), str):
            reason = obj.get("reason")
            ledger.proposals[seq] = Proposal(
                seq, str(actor), reason if isinstance(reason, str) else "", details["manifest"]
            )
        elif action == APPROVE and target is not None:
            target.approvals.append((seq, str(actor), str(details.get("manifest"))))
        policy = committed_policy(details.get("state"))
        if policy is None:
            continue
        if action == CHANGE and target is not None:
            target.applied = seq
        ledger.records.append(Recorded(seq, action, details, policy, ledger.in_force))
        ledger.in_force = (seq, policy)
    return ledger


def _policy_records(data: bytes, ledger: Ledger) -> Iterator[dict[str, Any]]:
    """The first record, then every record that mentions a policy (found without parsing the rest)."""
    first = next(chained_records(data), None)
    if first is None:
        return
    details = first[1].get("details")
    ledger.committing = isinstance(details, dict) and isinstance(details.get("state"), dict)
    yield first[1]
    pos = first[0]
    while (hit := data.find(b'"policy', pos)) != -1:
        start = data.rfind(RECORD_FENCE, 0, hit)
        found = next(chained_records(data, max(start, pos - len(RECORD_FENCE))), None)
        if found is None:
            return
        pos = found[0]
        yield found[1]


def load_manifest(repo: Repo, proposal: Proposal) -> Manifest:
    """The manifest ``proposal`` bound.

    Raises:
        IntegrityError: it is missing or altered in the object store.
        InvalidFile: it is not a policy proposal.
    """
    data = recorded_bytes(repo, f"proposal #{proposal.seq}", proposal.manifest_sha)
    assert data is not None
    return Manifest.decode(data)


def rule_in_force(
    repo: Repo, before: tuple[int, Digests] | None, new: Digests
) -> tuple[ProjectConfig, ApprovalRule]:
    """The config and rule a change must meet: the policy in force before it (a log that
    records none yet adopts its first policy under that policy's own rule)."""
    config = recorded_config(repo, before[1] if before is not None else new)
    return config, approval_rule(config)


# --------------------------------------------------------------------------- verify


Finding = tuple[str, str]


def policy_problems(repo: Repo) -> tuple[list[Finding], list[Finding]]:
    """(problems, warnings) of the policy record: each change judged under the policy in
    force before it, and every governed file against the policy in force now."""
    ledger = read_ledger(repo)
    if not ledger.committing:
        return [], []  # the state check reports a log without commitments
    if not ledger.records:
        return [], [
            (
                AUDIT_FILE,
                "records no policy files (written before policy commitments); adopt them with "
                "'promptgov policy propose', approve and apply",
            )
        ]
    problems: list[Finding] = []
    for rec in ledger.records:
        try:
            problems += _judge(repo, ledger, rec)
        except PromptGovError as exc:
            problems.append((AUDIT_FILE, f"entry #{rec.seq} ({rec.action}): {exc.message}"))
        problems += _kept(repo, rec)
    state = drift(repo)
    for c in state.changes:
        what = {"added": "is not part of", "deleted": "is missing from", "changed": "differs from"}
        problems.append(
            (
                c.path,
                f"{what[c.kind]} the policy audit entry #{state.seq} put in force, and no policy "
                "change records it; record it with 'promptgov policy propose' or restore it",
            )
        )
    return problems, []


def _judge(repo: Repo, ledger: Ledger, rec: Recorded) -> list[Finding]:
    """Whether the entry that recorded a policy was allowed to."""
    head = f"entry #{rec.seq} ({rec.action})"
    if rec.before is None and rec.seq == 1 and rec.action == "init":
        return []
    if rec.action != CHANGE:
        return [(AUDIT_FILE, f"{head} puts a new policy in force without a policy change")]
    named = rec.details.get(PROPOSAL_REF)
    proposal = ledger.proposals.get(named) if type(named) is int else None
    if proposal is None or proposal.seq >= rec.seq:
        return [(AUDIT_FILE, f"{head} names no proposal recorded before it")]
    manifest = load_manifest(repo, proposal)
    before_seq, base = rec.before if rec.before is not None else (None, {})
    if manifest.base != base:
        return [
            (
                AUDIT_FILE,
                f"{head} applies proposal #{proposal.seq}, made against another policy than "
                f"the one in force (entry #{before_seq})",
            )
        ]
    if manifest.policy != rec.policy:
        return [
            (AUDIT_FILE, f"{head} puts in force files proposal #{proposal.seq} did not propose")
        ]
    config, rule = rule_in_force(repo, rec.before, rec.policy)
    counted = rule.counted(config, proposal.by, proposal.approvers(rec.seq))
    if len(counted) < rule.required:
        where = f"entry #{before_seq}" if before_seq is not None else "the change itself"
        return [
            (
                AUDIT_FILE,
                f"{head} has {len(counted)} of the approvals the policy in force before it "
                f"({where}) requires: {rule.describe()}",
            )
        ]
    return []


def _kept(repo: Repo, rec: Recorded) -> list[Finding]:
    """Each file of a recorded policy is still readable from the object store, named by
    the object's own path so a missing or edited copy points at the file to restore."""
    out: list[Finding] = []
    for rel, sha in sorted(rec.policy.items()):
        try:
            recorded_bytes(repo, rel, sha)
        except PromptGovError as exc:
            where = object_path(sha, FILE_KIND) if sha is not None else AUDIT_FILE
            out.append((where, f"entry #{rec.seq} ({rec.action}): {exc.message}"))
    return out


__all__ = [
    "APPROVE",
    "CHANGE",
    "PROPOSAL_REF",
    "PROPOSE",
    "ApprovalRule",
    "Ledger",
    "Manifest",
    "Proposal",
    "approval_rule",
    "describe",
    "load_manifest",
    "policy_problems",
    "read_ledger",
    "rule_in_force",
]
