"""CLI commands of policy changes: status, propose, approve, apply."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import JsonOpt, RepoOpt, console, emit_json, escape, repo_path

policy_app = typer.Typer(
    help="Change the governed policy (promptgov.yml, the gate file, the eval suites) through "
    "the approvals of the policy in force.",
    no_args_is_help=True,
)

ByOpt = Annotated[str, typer.Option("--by", help="Who does it (recorded).")]
ProposalOpt = Annotated[
    int | None,
    typer.Option("--proposal", help="The proposal's audit entry (default: the open one)."),
]


def _repo(repo: Path | None) -> Any:
    from ..repo import Repo

    return Repo(repo_path(repo))


def _print_proposal(p: Any) -> None:
    state = "[green]ready to apply[/green]" if p.ready else "[yellow]not ready[/yellow]"
    console.print(
        escape(
            f"Proposal #{p.seq} by {p.by}: {p.reason} ({', '.join(p.files) or 'no files'})\n"
            f"  approvals: {len(p.approvers)} of {p.required} "
            f"({', '.join(p.approvers) or 'none'}); rule: {p.rule} — "
        )
        + state,
        markup=True,
    )
    if p.blocker:
        console.print(f"  [yellow]blocked:[/yellow] {escape(p.blocker)}", markup=True)


@policy_app.command("status")
def status(
    diff: Annotated[bool, typer.Option("--diff", help="Show each file's unified diff.")] = False,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Which policy files differ from the policy in force, and the open proposal."""
    from ..actions.policy import policy_status

    st = policy_status(_repo(repo))
    if json_:
        emit_json(st.to_dict())
        return
    where = f"audit entry #{st.seq}" if st.seq is not None else "no entry (none recorded)"
    console.print(f"Policy in force: {where}")
    if not st.files:
        console.print("Every policy file is as recorded.")
    for f in st.files:
        console.print(f"  {f.kind:8} {f.path}  +{f.added} −{f.removed}")
        if diff and f.diff:
            sys.stdout.write(f.diff if f.diff.endswith("\n") else f.diff + "\n")
    if st.proposal is not None:
        _print_proposal(st.proposal)


@policy_app.command("propose")
def propose(
    reason: Annotated[str, typer.Option("--reason", help="Why the policy changes.")] = "",
    by: ByOpt = "",
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record the edited policy files as a proposal awaiting approval."""
    from ..actions.policy import ProposeOptions, propose_policy

    p = propose_policy(_repo(repo), ProposeOptions(reason=reason), by=by)
    if json_:
        emit_json(p.to_dict())
    else:
        _print_proposal(p)


@policy_app.command("approve")
def approve(
    proposal: ProposalOpt = None,
    by: ByOpt = "",
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Approve a policy proposal (judged by the policy in force, not the proposed one)."""
    from ..actions.policy import PolicyApproveOptions, approve_policy

    options = PolicyApproveOptions(proposal=proposal, comment=comment)
    p = approve_policy(_repo(repo), options, by=by)
    if json_:
        emit_json(p.to_dict())
    else:
        _print_proposal(p)


@policy_app.command("apply")
def apply(
    proposal: ProposalOpt = None,
    by: ByOpt = "",
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Put an approved proposal in force (exit 1 while its approvals fall short)."""
    from ..actions.policy import ApplyOptions, apply_policy

    change = apply_policy(_repo(repo), ApplyOptions(proposal=proposal), by=by)
    if json_:
        emit_json(change.to_dict())
    else:
        console.print(
            f"Applied policy change #{change.proposal} ({', '.join(change.files)}), approved by "
            f"{', '.join(change.approvers) or 'nobody required'} (audit #{change.seq})"
        )


def register(app: typer.Typer) -> None:
    """Add the ``policy`` command group to the main app."""
    app.add_typer(policy_app, name="policy")
