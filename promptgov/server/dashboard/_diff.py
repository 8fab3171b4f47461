"""A unified diff laid out in two columns, as reviewers read a change."""

from __future__ import annotations

from typing import Literal

Kind = Literal["hunk", "same", "change"]
#: (kind, left, right); a side is None where that version has no line.
SideRow = tuple[Kind, str | None, str | None]


def side_by_side(unified: list[str]) -> list[SideRow]:
    """Rows from a unified diff (``difflib.unified_diff`` lines): removals beside the
    additions that replace them, context on both sides, each hunk headed by its ``@@`` line."""
    rows: list[SideRow] = []
    minus: list[str] = []
    plus: list[str] = []

    def flush() -> None:
        for i in range(max(len(minus), len(plus))):
            rows.append(
                ("change", minus[i] if i < len(minus) else None, plus[i] if i < len(plus) else None)
            )
        minus.clear()
        plus.clear()

    in_hunk = False
    for raw in unified:
        line = raw.rstrip("\n")
        if line.startswith("@@"):
            flush()
            in_hunk = True
            rows.append(("hunk", line, line))
        elif not in_hunk:
            continue  # the ---/+++ file header
        elif line.startswith("-"):
            minus.append(line[1:])
        elif line.startswith("+"):
            plus.append(line[1:])
        else:
            flush()
            rows.append(("same", line[1:], line[1:]))
    flush()
    return rows
