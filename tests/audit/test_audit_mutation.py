"""Tamper evidence: every single-byte change, deletion, swap, insertion and truncation of a
50-entry log is detected (truncation and re-chained forgeries with a signed checkpoint)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import LOG, build_log, compact_fields, entry_spans, line_of, record_spans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptgov.audit import AuditLog, load_private_key, load_public_key, verify_bytes
from promptgov.store.files import Transaction, repo_lock


def _first(data: bytes, **kw):
    report = verify_bytes(data, **kw)
    assert not report.ok
    return report.problems[0]


def test_intact_log_verifies(log50: bytes) -> None:
    report = verify_bytes(log50)
    assert report.ok and report.entries == 50 and report.head_seq == 50
    assert report.head_hash == json.loads(log50[slice(*record_spans(log50)[-1])])["hash"]


@pytest.mark.slow
def test_flipping_any_byte_of_any_record_is_detected_at_that_entry(log50: bytes) -> None:
    spans = entry_spans(log50)
    assert len(spans) == 50
    for seq, (start, end) in enumerate(spans, start=1):
        heading_end = log50.index(b"\n", start + 1)
        fence = log50.index(b"\n```json audit-record\n", start)
        # The structural lines and the record; the readable text between is a rendering.
        positions = [*range(start + 1, heading_end), *range(fence, end)]
        for pos in positions:
            mutated = bytearray(log50)
            mutated[pos] ^= 0x01
            problem = _first(bytes(mutated))
            assert problem.seq == seq, (seq, pos, str(problem))


def test_flipping_readable_text_is_not_a_chain_problem(log50: bytes) -> None:
    """Documented limit: the Markdown around a record is a rendering, not hashed."""
    start, _ = entry_spans(log50)[9]
    pos = log50.index(b"- Actor: ann", start) + len("- Actor: ")
    mutated = bytearray(log50)
    mutated[pos : pos + 3] = b"eve"
    assert verify_bytes(bytes(mutated)).ok


def test_deleting_any_entry_is_detected(log50: bytes) -> None:
    spans = entry_spans(log50)
    for seq, (start, end) in enumerate(spans[:-1], start=1):
        problem = _first(log50[:start] + log50[end:])
        assert problem.seq == seq
        assert f"entry {seq} is missing" in problem.reason


def test_deleting_the_last_entry_needs_a_checkpoint(root: Path, keys) -> None:
    log = build_log(root, 50, fields=compact_fields)
    log.checkpoint(load_private_key(keys.private_path))
    data = (root / LOG).read_bytes()
    start, _ = entry_spans(data)[-1]
    truncated = data[:start]
    assert verify_bytes(truncated).ok  # the chain alone cannot tell
    cps = (root / "audit/checkpoints.jsonl").read_bytes()
    problem = _first(truncated, checkpoints=cps)
    assert problem.kind == "truncated" and "entries 50–50 were removed" in problem.reason


def test_swapping_any_two_entries_is_detected(log50: bytes) -> None:
    spans = entry_spans(log50)
    for i in range(50):
        for j in range(i + 1, 50):
            (a0, a1), (b0, b1) = spans[i], spans[j]
            swapped = log50[:a0] + log50[b0:b1] + log50[a1:b0] + log50[a0:a1] + log50[b1:]
            problem = _first(swapped)
            assert problem.seq == i + 1


def _forged_entry(log50: bytes, seq: int, prev_hash: str) -> bytes:
    """A well-formed entry computed by someone who knows the format (but has no key)."""
    from promptgov.audit._markdown import render_entry
    from promptgov.audit._record import build_record, seal

    record = build_record({"action": "promote", "actor": "mallory", "reason": "sneaky",
                           "prompt": "p", "env": "prod", "to_version": "6.6.6",
                           "to_sha256": "f" * 64, "outcome": "success"})  # fmt: skip
    entry, line = seal(record, seq=seq, prev_hash=prev_hash)
    return render_entry(entry.model_dump(mode="json"), line)


def test_inserting_a_forged_entry_is_detected(log50: bytes) -> None:
    spans = entry_spans(log50)
    hashes = [json.loads(log50[a:b])["hash"] for a, b in record_spans(log50)]
    for k in (0, 1, 24, 49):
        prev = hashes[k - 1] if k else "0" * 64
        forged = _forged_entry(log50, k + 1, prev)
        at = spans[k][0]
        problem = _first(log50[:at] + forged + log50[at:])
        assert problem.seq == k + 2  # the entry after the forgery no longer fits


def _rechain(data: bytes, at: int, forged_seq: int) -> bytes:
    """Insert a forgery before entry ``forged_seq`` and recompute every later entry."""
    from promptgov.audit._markdown import HEADER, render_entry
    from promptgov.audit._record import build_record, seal

    recs = [json.loads(data[a:b]) for a, b in record_spans(data)]
    out = HEADER
    prev = "0" * 64
    seq = 0
    for i, rec in enumerate(recs):
        if i + 1 == forged_seq:
            seq += 1
            out += _forged_entry(data, seq, prev)
            prev = json.loads(re.findall(rb"audit-record\n(.*)\n", out)[-1])["hash"]
        seq += 1
        fields = {k: rec[k] for k in ("action", "actor", "reason", "prompt", "to_version",
                                      "to_sha256", "outcome")}  # fmt: skip
        entry, line = seal(build_record(fields), seq=seq, prev_hash=prev, time=rec["time"])
        out += render_entry(entry.model_dump(mode="json"), line)
        prev = entry.hash
    return out


def test_rechained_forgery_passes_the_chain_but_not_the_checkpoint(root: Path, keys) -> None:
    log = build_log(root, 50, fields=compact_fields)
    log.checkpoint(load_private_key(keys.private_path))
    data = (root / LOG).read_bytes()
    forged = _rechain(data, 0, forged_seq=20)
    assert verify_bytes(forged).ok  # self-consistent: the chain alone cannot tell
    cps = (root / "audit/checkpoints.jsonl").read_bytes()
    pub = load_public_key(keys.public_path)
    problem = _first(forged, checkpoints=cps, public_key=pub)
    assert "entry 50 differs from the signed checkpoint" in problem.reason


@pytest.mark.parametrize("keep", [0, 1, 10, 30, 49])
def test_truncating_the_tail_is_detected_with_a_checkpoint(root: Path, keys, keep: int) -> None:
    log = build_log(root, 50, fields=compact_fields)
    log.checkpoint(load_private_key(keys.private_path))
    data = (root / LOG).read_bytes()
    cut = entry_spans(data)[keep][0] if keep < 50 else len(data)
    truncated = data[:cut]
    assert verify_bytes(truncated).ok
    cps = (root / "audit/checkpoints.jsonl").read_bytes()
    report = verify_bytes(truncated, checkpoints=cps)
    assert not report.ok
    assert report.problems[0].reason.startswith(f"the log has {keep} entries")


def test_problem_line_points_at_the_record(log50: bytes) -> None:
    a, _ = record_spans(log50)[12]
    mutated = bytearray(log50)
    mutated[a + 20] ^= 0x02
    problem = _first(bytes(mutated))
    assert (problem.seq, problem.line) == (13, line_of(log50, a))
    assert str(problem).startswith(f"entry 13 (line {line_of(log50, a)}): ")


# --------------------------------------------------------------------------- properties

_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
_fields = st.fixed_dictionaries(
    {"action": st.sampled_from(["add", "approve", "flag", "eval", "complaint"]),
     "actor": _text.filter(str.strip), "reason": _text.filter(str.strip)},
    optional={"prompt": _text, "env": _text, "ticket": _text,
              "evidence": st.lists(_text, max_size=3), "approvers": st.lists(_text, max_size=3),
              "details": st.dictionaries(_text, st.integers() | _text | st.booleans(),
                                         max_size=4)},
)  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(_fields, min_size=1, max_size=12), data=st.data())
def test_random_logs_verify_and_any_random_record_mutation_is_caught(
    tmp_path_factory: pytest.TempPathFactory, batch: list[dict], data: st.DataObject
) -> None:
    root = tmp_path_factory.mktemp("prop")
    log = AuditLog(root)
    with repo_lock(root):
        txn = Transaction(root)
        for fields in batch:
            log.stage(txn, **fields)
        txn.commit()
    raw = (root / LOG).read_bytes()
    report = verify_bytes(raw)
    assert report.ok and report.entries == len(batch)
    assert [e.actor for e in log.entries()] == [f["actor"] for f in batch]
    spans = record_spans(raw)
    a, b = spans[data.draw(st.integers(0, len(spans) - 1))]
    kind = data.draw(st.sampled_from(["replace", "delete", "insert"]))
    pos = data.draw(st.integers(a, b - 1))
    if kind == "replace":
        new = data.draw(st.integers(0, 255).filter(lambda v: v != raw[pos]))
        mutated = raw[:pos] + bytes([new]) + raw[pos + 1 :]
    elif kind == "delete":
        mutated = raw[:pos] + raw[pos + 1 :]
    else:
        mutated = raw[:pos] + data.draw(st.binary(min_size=1, max_size=8)) + raw[pos:]
    assert not verify_bytes(mutated).ok
