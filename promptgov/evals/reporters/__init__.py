"""Result reporters, one class per output format, chosen by the output file's extension."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ...errors import InvalidFile
from ..results import EvalSummary
from ._base import Reporter
from .csv import CsvReporter
from .json import JsonlReporter, JsonReporter
from .junit import JUnitReporter
from .markdown import MarkdownReporter

__all__ = [
    "REPORTERS",
    "CsvReporter",
    "JUnitReporter",
    "JsonReporter",
    "JsonlReporter",
    "MarkdownReporter",
    "Reporter",
    "reporter_for",
    "write_outputs",
    "write_step_summary",
]

#: Reporter per output extension.
REPORTERS: dict[str, Reporter] = {
    ".json": JsonReporter(),
    ".jsonl": JsonlReporter(),
    ".csv": CsvReporter(),
    ".xml": JUnitReporter(),
    ".md": MarkdownReporter(),
}


def reporter_for(path: str | Path) -> Reporter:
    """The reporter that writes ``path``, by extension.

    Raises:
        InvalidFile: the extension is not one of .json, .jsonl, .csv, .xml, .md.
    """
    suffix = Path(path).suffix.lower()
    reporter = REPORTERS.get(suffix)
    if reporter is None:
        known = ", ".join(sorted(REPORTERS))
        raise InvalidFile(f"output {path}: unknown format {suffix or '(none)'}; use one of {known}")
    return reporter


def write_outputs(summary: EvalSummary, paths: Iterable[str | Path]) -> list[Path]:
    """Write ``summary`` to each path in the format its extension names.

    Every path is checked before anything is written; each file is replaced atomically, so a
    reader never sees half a report.

    Raises:
        InvalidFile: an extension is unknown (nothing is written then).
        OSError: a file cannot be written.
    """
    targets = [(Path(p), reporter_for(p)) for p in paths]
    written = []
    for path, reporter in targets:
        _atomic_write(path, reporter.render(summary))
        written.append(path)
    return written


def write_step_summary(summary: EvalSummary, environ: Mapping[str, str] | None = None) -> bool:
    """Append the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when it is set; True if written."""
    target = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(MarkdownReporter().render(summary))
    return True


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
