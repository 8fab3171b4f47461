"""CLI commands of the promotion pipeline: gate, approve, promote."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    JsonOpt,
    RepoOpt,
    SignOpt,
    console,
    emit_json,
    escape,
    print_table,
    repo_path,
    span,
)

EnvOpt = Annotated[str, typer.Option("--env", help="Target environment.")]


def _registry(repo: Path | None) -> Any:
    from ..registry import Registry

    return Registry(repo_path(repo))


def print_gate(report: Any) -> None:
    """Render a gate report: each check, threshold, measured value and baseline."""
    colour = {"pass": "green", "fail": "red", "inconclusive": "yellow"}[report.verdict.value]
    console.print(
        f"Gate for {escape(report.subject)} → {escape(report.env)}: [{colour}]{report.verdict.value.upper()}[/{colour}] "
        f"({report.samples} results"
        + (f"; baseline {escape(report.baseline_label)}" if report.baseline_label else "")
        + ")",
        markup=True,
    )
    print_table(
        ["check", "status", "threshold", "measured", "baseline", "detail"],
        [
            [c.name, c.status, _fmt(c.threshold), _fmt(c.measured), _fmt(c.baseline), c.detail]
            for c in report.checks
        ],
    )
    if report.newly_failing:
        console.print(
            "[red]newly failing:[/red] " + escape(", ".join(report.newly_failing)), markup=True
        )
    if report.newly_passing:
        console.print(
            "[green]newly passing:[/green] " + escape(", ".join(report.newly_passing)), markup=True
        )


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def gate(
    ref: Annotated[
        str | None, typer.Argument(help="name[@version|@env|@latest] (omit with --results).")
    ] = None,
    env: Annotated[
        list[str],
        typer.Option(
            "--env", help="Target environment (repeatable; 'all' for every one; default prod)."
        ),
    ] = [],  # noqa: B006
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Version or env to compare with.")
    ] = None,
    results: Annotated[
        Path | None, typer.Option("--results", help="Gate a promptfoo v3 output JSON instead.")
    ] = None,
    baseline_results: Annotated[
        Path | None,
        typer.Option("--baseline-results", help="Baseline v3 output JSON (with --results)."),
    ] = None,
    gate_file: Annotated[
        Path | None,
        typer.Option("--gate-file", help="Gate file (with --results; default ci/eval-gate.yml)."),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="Prompt name for per-prompt rules (with --results)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who (or which CI job) runs the gate.")
    ] = None,
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Apply the eval gate: exit 0 pass, 1 fail, 3 inconclusive."""
    from ..actions.gate import GateOptions, check_gates, gates_exit_code
    from ..errors import InputError

    envs = env or ["prod"]
    if results is not None:
        from ..gate import gate_results_file

        if len(envs) > 1 or "all" in envs:
            raise InputError("--results is gated for one --env at a time.")
        reports = [
            gate_results_file(
                results, env=envs[0], gate_file=gate_file, prompt=prompt, baseline=baseline_results
            )
        ]
    elif ref is not None:
        options = GateOptions(env=envs[0], baseline=baseline, by=by, sign_with=sign_with)
        reports = check_gates(_registry(repo), ref, envs, options)
    else:
        raise InputError("give name@version, or --results out.json.")
    if json_:
        emit_json(reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports])
    else:
        for report in reports:
            print_gate(report)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write("".join(r.to_markdown() for r in reports))
    if code := gates_exit_code(reports):
        raise typer.Exit(code)


def approve(
    ref: Annotated[str, typer.Argument(help="name@version.")],
    env: EnvOpt = "prod",
    by: Annotated[str, typer.Option("--by", help="Who approves.")] = "",
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    accept_inconclusive: Annotated[
        bool, typer.Option("--accept-inconclusive", help="Accept an inconclusive gate.")
    ] = False,
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record an approval of a version for an environment."""
    from ..actions.approve import ApproveOptions
    from ..actions.approve import approve as do_approve

    options = ApproveOptions(
        env=env, comment=comment, accept_inconclusive=accept_inconclusive, sign_with=sign_with
    )
    a = do_approve(_registry(repo), ref, options, by=by)
    if json_:
        emit_json(a.model_dump(mode="json"))
    else:
        console.print(f"Approved {ref} for {env} by {a.by}")


def promote(
    ref: Annotated[str, typer.Argument(help="name@version.")],
    to: Annotated[str, typer.Option("--to", help="Target environment.")],
    by: Annotated[str, typer.Option("--by", help="Who promotes.")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    expect: Annotated[
        str | None,
        typer.Option("--expect", help="Version the env must point at now ('none' for empty)."),
    ] = None,
    accept_inconclusive: Annotated[
        bool, typer.Option("--accept-inconclusive", help="Approver accepts an inconclusive gate.")
    ] = False,
    emergency: Annotated[
        bool,
        typer.Option(
            "--emergency",
            help="Incident path: skips gate and approvals, recorded, post-review scheduled.",
        ),
    ] = False,
    evidence: Annotated[
        list[str], typer.Option("--evidence", help="Link or path (repeatable).")
    ] = [],  # noqa: B006
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Move an environment to a version, through its gate and approvals."""
    from ..actions.promote import CURRENT, PromoteOptions
    from ..actions.promote import promote as do_promote

    options = PromoteOptions(
        to=to,
        reason=reason,
        expect=CURRENT if expect is None else (None if expect == "none" else expect),
        accept_inconclusive=accept_inconclusive,
        emergency=emergency,
        evidence=tuple(evidence),
        sign_with=sign_with,
    )
    res = do_promote(_registry(repo), ref, options, by=by)
    if json_:
        emit_json(res.to_dict())
        return
    m = res.move
    console.print(
        f"Promoted {res.prompt} {m.previous or '∅'} → {m.version} in {res.env} ({m.kind.value}, audit #{res.audit_seq})"
    )
    for w in res.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(w)}", markup=True)


def review(
    ref: Annotated[str, typer.Argument(help="name, or name@version when several await review.")],
    env: Annotated[str, typer.Option("--env", help="Environment of the emergency move.")],
    by: Annotated[str, typer.Option("--by", help="Who reviews (an approver of --env).")] = "",
    reason: Annotated[str, typer.Option("--reason", help="What the review found.")] = "",
    evidence: Annotated[
        list[str], typer.Option("--evidence", help="Link or path (repeatable).")
    ] = [],  # noqa: B006
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Record the post-review of an emergency promotion or rollback, by another approver."""
    from ..actions.review import ReviewOptions
    from ..actions.review import review as do_review

    options = ReviewOptions(env=env, reason=reason, evidence=tuple(evidence), sign_with=sign_with)
    res = do_review(_registry(repo), ref, options, by=by)
    if json_:
        emit_json(res.to_dict())
        return
    late = res.reviewed.overdue_by
    console.print(
        f"Recorded the post-review of {res.reviewed.what}, by {res.review.by} "
        f"({f'{span(late)} late' if late else 'on time'})"
    )


def register(app: typer.Typer) -> None:
    """Attach the promotion-pipeline commands."""
    app.command()(gate)
    app.command()(approve)
    app.command()(promote)
    app.command()(review)
