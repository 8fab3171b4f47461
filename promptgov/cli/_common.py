"""Shared CLI plumbing: option aliases, output helpers, the error boundary."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from datetime import timedelta

    from rich.console import Console


class _LazyConsole:
    """A rich Console created on first use: most commands print a line or two."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


def escape(text: str) -> str:
    """``text`` shown as itself inside rich markup (``[a-z]`` would be read as a tag);
    rich is imported on first use, as the consoles are."""
    from rich.markup import escape as _escape

    return _escape(text)


console: Any = _LazyConsole(highlight=False, soft_wrap=True)
err_console: Any = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)

RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="Governed repository (default: $PROMPTGOV_REPO, else walk up from the current directory).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def repo_path(repo: Path | None) -> Path | None:
    """The ``--repo`` value, else ``$PROMPTGOV_REPO``, else None (walk up)."""
    if repo is not None:
        return repo
    env = os.environ.get("PROMPTGOV_REPO")
    return Path(env) if env else None


#: Whether this invocation has printed its JSON document (a refusal then adds none).
JSON_PRINTED: list[bool] = [False]


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout."""
    JSON_PRINTED[0] = True
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Aligned plain-text columns: fast at thousands of rows, where rich tables are not."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row))
        for row in [headers, *rows]
    ]
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")


def span(delta: timedelta) -> str:
    """A duration for people, in at most two units: ``3 days``, ``1 day 23 hours``, ``5 minutes``."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    units = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in units if n]
    return " ".join(parts) or "less than a minute"


SignOpt = Annotated[
    str | None,
    typer.Option(
        "--sign-with",
        envvar="PROMPTGOV_SIGNING_KEY",
        help="SSH key that signs the decision: a private key file, or a .pub whose key "
        "ssh-agent holds (default: $PROMPTGOV_SIGNING_KEY).",
        show_default=False,
    ),
]
