"""Whatever bytes the log holds, verify answers with a report, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import LOG, record_spans
from hypothesis import given, settings
from hypothesis import strategies as st

from promptgov.audit import AuditLog, verify_bytes
from promptgov.audit._markdown import CLOSE_FENCE, HEADING, RECORD_FENCE

_PIECES = st.sampled_from(
    [HEADING, b"1\n", RECORD_FENCE, CLOSE_FENCE, b'{"seq":1}', b"\xff\xfe", b"\xc3(", b"\n",
     b'"hash":"' + b"0" * 64 + b'"}', b"[" * 50, b"\x00", b"```", b"## Entry ", b"NaN"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_give_a_report(data: bytes) -> None:
    report = verify_bytes(data)
    assert isinstance(report.ok, bool)
    report.to_dict()


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | st.binary(max_size=40), max_size=40))
def test_near_miss_structures_give_a_report(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    report = verify_bytes(data)
    # Nothing hypothesis builds here carries a valid hash chain.
    assert report.entries == 0 or not report.ok
    assert report.summary()


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(0, 10**6))
def test_corrupting_a_real_log_gives_a_failure(log50: bytes, junk: bytes, where: int) -> None:
    a, b = record_spans(log50)[where % 50]
    pos = a + where % (b - a)
    mutated = log50[:pos] + junk + log50[pos + 1 :]
    if mutated != log50:
        assert not verify_bytes(mutated).ok


def test_invalid_utf8_inside_a_record_is_reported(log50: bytes) -> None:
    a, _ = record_spans(log50)[3]
    pos = log50.index(b'"reason":"', a) + len(b'"reason":"')
    report = verify_bytes(log50[:pos] + b"\xff\xfe" + log50[pos + 2 :])
    assert report.problems[0].seq == 4
    assert report.problems[0].reason == "record is not valid UTF-8 JSON"


def test_huge_line_and_deep_nesting_are_reported(log50: bytes) -> None:
    a, b = record_spans(log50)[0]
    huge = log50[:a] + b"x" * 20_000_000 + log50[b:]
    assert verify_bytes(huge).problems[0].seq == 1
    nested = log50[:a] + b"[" * 200_000 + b',"hash":"' + b"0" * 64 + b'"}' + log50[b:]
    assert verify_bytes(nested).problems[0].reason == "record is not valid UTF-8 JSON"


def test_verify_reads_garbage_file_from_disk(root: Path) -> None:
    (root / "audit").mkdir()
    (root / LOG).write_bytes(b"\x00\xff" * 1000 + HEADING + b"1\n" + RECORD_FENCE + b"{")
    report = AuditLog(root).verify()
    assert not report.ok and report.problems[0].kind == "torn"


_CP_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.lists(st.integers(), max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.binary(max_size=200)
        | st.fixed_dictionaries(
            {
                k: _CP_VALUES
                for k in ("v", "seq", "head", "key_id", "public_key", "time", "prev", "sig")
            }
        ).map(lambda d: json.dumps(d).encode()),
        max_size=6,
    )
)
def test_garbage_checkpoint_files_give_a_report(log50: bytes, lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    report = verify_bytes(log50, checkpoints=data, external=[("outside.jsonl", data)])
    if any(line.strip() for line in lines):
        assert not report.ok
    report.to_dict()
