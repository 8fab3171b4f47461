"""State commitments name exactly what changed, and stay small for bulk units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from promptgov.model import Approval, PromptEntry, VersionRecord
from promptgov.store.commitments import (
    MAX_DETAIL_BYTES,
    WHOLE,
    bounded,
    differing_fields,
    prompt_commitment,
    record_digests,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(i: int, message: str = "m") -> VersionRecord:
    return VersionRecord(
        version=f"1.{i}.0",
        sha256=f"{i:064x}",
        card_sha256="c" * 64,
        author="carol",
        created_at=T0 + timedelta(minutes=i),
        message=message,
    )


@settings(max_examples=60, deadline=None)
@given(
    field=st.sampled_from(["message", "author", "approvals", "retired", "parent", "sha256"]),
    text=st.text(min_size=1, max_size=20),
)
def test_a_single_field_change_is_named_and_only_that_field(field: str, text: str) -> None:
    rec = _record(1)
    changed = {
        "message": text,
        "author": text + "x",
        "approvals": [Approval(env="prod", by=text, at=T0)],
        "retired": True,
        "parent": "0.9.0",
        "sha256": "f" * 64,
    }[field]
    forged = rec.model_copy(update={field: changed})
    assert differing_fields(rec, record_digests(rec)) is None
    assert differing_fields(forged, record_digests(rec)) == [field]


def test_only_the_records_a_unit_changed_are_committed() -> None:
    before = PromptEntry(versions=[_record(1), _record(2)])
    after = PromptEntry(versions=[_record(1), _record(2, "edited"), _record(3)])
    c = prompt_commitment(before, after)
    assert sorted(c["versions"]) == ["1.2.0", "1.3.0"]
    assert c["entry"] != prompt_commitment(None, before)["entry"]


def test_a_bulk_unit_keeps_whole_digests_and_a_huge_one_only_entry_digests() -> None:
    many = PromptEntry(versions=[_record(i) for i in range(100)])
    c = bounded({"p": prompt_commitment(None, many)})
    assert set(c["p"]["versions"]["1.5.0"]) == {WHOLE}
    assert differing_fields(_record(5, "x"), c["p"]["versions"]["1.5.0"]) == []
    huge = {f"p{i}": prompt_commitment(None, many) for i in range(40)}
    thin = bounded(huge)
    assert all(set(v) == {"entry"} for v in thin.values())
    assert len(str(thin)) < MAX_DETAIL_BYTES
