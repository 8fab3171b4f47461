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

import typer  # noqa: E402

from ..errors import PromptGovError  # noqa: E402
from ._common import err_console  # noqa: E402

app = typer.Typer(
    name="promptgov",
    help="Governance for LLM prompts: versions, eval gates, approvals, audit log, rollback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from . import _registry

    _registry.register(app)
    for mod in ("_audit", "_eval", "_gate", "_rollback", "_monitor", "_notify", "_serve"):
        try:
            module = __import__(f"{__name__}.{mod}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{mod}":
                raise
            continue
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, map library errors to exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv)
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    try:
        rc = app(args=args, standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except PromptGovError as exc:
        if debug or os.environ.get("PROMPTGOV_DEBUG"):
            raise
        err_console.print(f"[red]error:[/red] {exc.message}", markup=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[red]aborted[/red]")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
