"""``promptgov eval``: run a promptfoo config natively (or on promptfoo) and write its results."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import PromptGovError
from ._common import JsonOpt, RepoOpt, SignOpt, emit_json, err_console, escape, repo_path

#: promptfoo exits 1 when the config cannot be used (not 2 as promptgov's InputError).
CONFIG_ERROR_EXIT = 1

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="promptfoo config file (YAML or JSON). With a prompt reference: the suite to run "
        "instead of the card's.",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file; the extension picks the format: .json (promptfoo v3), .jsonl, .csv, "
        ".xml (JUnit), .md. Repeatable. Default: the config's outputPath.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command."""
    app.command("eval")(eval_command)


def eval_command(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="name[@version|@env] in a governed repository: run its eval suite against "
            "exactly that version and record the run.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    output: OutputOpt = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Bypass the response cache.")
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Let a recorded run (name@version) reuse cached answers; by default it calls "
            "the model, and the gate refuses evidence mostly from the cache.",
        ),
    ] = False,
    max_concurrency: Annotated[
        int | None, typer.Option("--max-concurrency", "-j", min=1, help="Parallel calls.")
    ] = None,
    repeat: Annotated[
        int | None, typer.Option("--repeat", min=1, help="Run every test N times.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="native, or promptfoo (a promptfoo on PATH; with name@version it runs the "
            "suite on the materialised version).",
        ),
    ] = "native",
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="Mark the recorded run as a scheduled re-run.")
    ] = False,
    by: Annotated[str, typer.Option("--by", help="Who runs it (recorded).")] = "promptgov",
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show each failing result's output too."),
    ] = False,
    sign_with: SignOpt = None,
    repo: RepoOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a promptfoo config, or a prompt version's eval suite; exit 100 when the pass rate is
    under the threshold, 1 on bad config.

    Exit codes follow promptfoo: 0 when the pass rate reaches $PROMPTFOO_PASS_RATE_THRESHOLD
    (default 100, also read from the config's env:), $PROMPTFOO_FAILED_TEST_EXIT_CODE (default
    100) below it, 1 when the config cannot be used.
    """
    from ..evals.promptfoo_engine import Engine

    Engine.named(engine)  # an unknown engine is bad input (exit 2), whatever else is given
    if ref is not None:
        _governed(
            ref,
            config,
            output,
            no_cache or not cache,
            max_concurrency,
            repeat,
            scheduled,
            by,
            repo,
            json_out,
            verbose,
            engine,
            sign_with,
        )
        return
    if config is None:
        err_console.print(
            "[red]error:[/red] give a config (-c promptfooconfig.yaml) or a prompt (name@version).",
            markup=True,
        )
        sys.exit(CONFIG_ERROR_EXIT)
    try:
        summary, outputs = _run(config, output, no_cache, max_concurrency, repeat, engine)
    except PromptGovError as exc:
        err_console.print(f"[red]error:[/red] {escape(exc.message)}", markup=True)
        sys.exit(CONFIG_ERROR_EXIT)
    code = summary.exit_code()
    if json_out:
        emit_json(
            {
                **summary.stats.to_dict(),
                "passRate": summary.pass_rate,
                "outputs": [str(p) for p in outputs],
                "exitCode": code,
            }
        )
    else:
        _print_summary(summary, outputs, verbose)
    if code:
        # SystemExit, not typer.Exit: click swallows Exit codes when not in standalone mode.
        sys.exit(code)


def _governed(
    ref: str,
    suite: Path | None,
    output: list[Path] | None,
    no_cache: bool,
    max_concurrency: int | None,
    repeat: int | None,
    scheduled: bool,
    by: str,
    repo: Path | None,
    json_out: bool,
    verbose: bool = False,
    engine: str = "native",
    sign_with: str | None = None,
) -> None:
    """``promptgov eval name@version``: run, store under logs/, record against the hash."""
    from ..actions.evaluate import run_version_eval
    from ..evals import RunOptions, write_outputs
    from ..evals.reporters import reporter_for
    from ..registry import Registry

    for path in output or []:
        reporter_for(path)  # a bad --output is refused before the run is recorded
    registry = Registry(repo_path(repo))
    with _Progress() as progress:
        options = RunOptions(
            max_concurrency=max_concurrency,
            no_cache=no_cache,
            repeat=repeat,
            progress=progress.update,
            event_source="cli",
        )
        suite_rel = registry.repo.rel(suite) if suite is not None else None
        outcome = run_version_eval(
            registry,
            ref,
            by=by,
            suite=suite_rel,
            options=options,
            scheduled=scheduled,
            fresh=no_cache,
            engine=engine,
            sign_with=sign_with,
        )
    outputs = list(output or [])
    write_outputs(outcome.summary, outputs)
    code = outcome.summary.exit_code()
    if json_out:
        emit_json({**outcome.to_dict(), "outputs": [str(p) for p in outputs], "exitCode": code})
    else:
        _print_summary(
            outcome.summary, [registry.repo.root / outcome.run.output, *outputs], verbose
        )
        from ._common import console

        console.print(
            f"recorded run {outcome.run.run_id} for {outcome.version.ref} (sha256:{outcome.version.sha256[:12]})"
        )
    if code:
        sys.exit(code)


def _run(
    config: Path,
    output: list[Path] | None,
    no_cache: bool,
    max_concurrency: int | None,
    repeat: int | None,
    engine: str,
) -> tuple[Any, list[Path]]:
    from ..evals import RunOptions, load_config, run_eval, write_outputs
    from ..evals.reporters import reporter_for, write_step_summary

    for path in output or []:
        reporter_for(path)
    cfg = load_config(config)
    outputs = list(output) if output else [config.parent / p for p in cfg.output_path]
    for path in outputs:
        reporter_for(path)
    if engine == "promptfoo":
        from ..evals.promptfoo_engine import run_promptfoo

        summary = run_promptfoo(
            config, no_cache=no_cache, max_concurrency=max_concurrency, repeat=repeat
        )
    else:
        with _Progress() as progress:
            options = RunOptions(
                max_concurrency=max_concurrency,
                no_cache=no_cache,
                repeat=repeat,
                progress=progress.update,
                event_source="cli",
            )
            summary = run_eval(cfg, options)
    if output:
        summary.record_output_paths([str(p) for p in output])
    write_outputs(summary, outputs)
    if any(p.suffix.lower() == ".md" for p in outputs):
        write_step_summary(summary)
    return summary, outputs


def _print_summary(summary: Any, outputs: list[Path], verbose: bool = False) -> None:
    from ..evals.reporters.console import failure_lines
    from ._common import console

    s = summary.stats
    rate = summary.pass_rate
    console.print(
        f"[green]{s.successes} passed[/green], [red]{s.failures} failed[/red], "
        f"[yellow]{s.errors} errors[/yellow]"
        + ("" if rate != rate else f" (pass rate {rate:.2f}%)")
        + f"; {_cached(summary)} answers from the response cache",
        markup=True,
    )
    for line in failure_lines(summary, verbose=verbose):
        failed = line.startswith(("[FAIL]", "[ERROR]"))
        console.print(line, markup=False, style="red" if failed else None)
    for path in outputs:
        console.print(f"wrote {path}")


def _cached(summary: Any) -> int:
    """Answers of the run that came from the response cache (no v3 document is built)."""
    return sum(1 for r in summary.results if r.response is not None and r.response.cached)


class _Progress:
    """A rich progress bar on a terminal (done/total, pass/fail, ETA); plain lines otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty() and not os.environ.get("CI")
        self.passed = self.failed = 0
        self.started = time.monotonic()
        self.last_line = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("eval"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "[green]{task.fields[passed]} pass[/green] "
                    "[red]{task.fields[failed]} fail[/red]"
                ),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("eval", total=None, passed=0, failed=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def update(self, done: int, total: int, result: Any) -> None:
        if result.success:
            self.passed += 1
        else:
            self.failed += 1
        if self._bar is not None:
            self._bar.update(
                self._task, completed=done, total=total, passed=self.passed, failed=self.failed
            )
            return
        now = time.monotonic()
        if done == total or now - self.last_line >= 2.0:
            self.last_line = now
            elapsed = now - self.started
            eta = elapsed / done * (total - done) if done else 0.0
            sys.stderr.write(
                f"eval: {done}/{total} done, {self.passed} pass, {self.failed} fail, "
                f"ETA {eta:.0f}s\n"
            )
