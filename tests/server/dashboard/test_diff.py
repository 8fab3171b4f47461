"""The two-column layout of a unified diff: each column is exactly one version's text."""

from __future__ import annotations

import difflib

from hypothesis import given
from hypothesis import strategies as st

from promptgov.server.dashboard._diff import side_by_side

# Lines as a template has them; "-", "+", "@@" and "---" starts are the interesting ones.
LINE = st.text(alphabet="-+@ ab\t", max_size=6)
TEXT = st.lists(LINE, max_size=12)


def _columns(rows: list[tuple[str, str | None, str | None]]) -> tuple[list[str], list[str]]:
    body = [r for r in rows if r[0] != "hunk"]
    return [r[1] for r in body if r[1] is not None], [r[2] for r in body if r[2] is not None]


@given(TEXT, TEXT)
def test_with_full_context_the_columns_are_the_two_texts(a: list[str], b: list[str]) -> None:
    diff = list(difflib.unified_diff([x + "\n" for x in a], [x + "\n" for x in b], "a", "b", n=30))
    left, right = _columns(side_by_side(diff))
    if a != b:
        assert (left, right) == (a, b)
    else:
        assert diff == [] and (left, right) == ([], [])


@given(TEXT, TEXT)
def test_with_some_context_each_column_keeps_its_text_in_order(a: list[str], b: list[str]) -> None:
    diff = list(difflib.unified_diff([x + "\n" for x in a], [x + "\n" for x in b], "a", "b", n=1))
    rows = side_by_side(diff)
    left, right = _columns(rows)
    assert _subsequence(left, a) and _subsequence(right, b)
    changed = [r for r in rows if r[0] == "change"]
    assert all(r[1] is not None or r[2] is not None for r in changed)


def _subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def test_a_removed_line_that_starts_with_dashes_is_not_taken_for_a_header() -> None:
    diff = list(difflib.unified_diff(["-- note\n", "keep\n"], ["keep\n"], "a", "b"))
    assert side_by_side(diff)[1] == ("change", "-- note", None)
