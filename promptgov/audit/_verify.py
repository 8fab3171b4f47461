"""Verification of audit log bytes: structure, fields, sequence, hash chain and checkpoints.

Everything here works on plain bytes and never raises on their content: whatever
the file holds, the answer is an :class:`AuditVerifyReport`.
"""

from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import dataclass, field
from typing import Any

from ._markdown import CLOSE_FENCE, HEADING, RECORD_FENCE
from ._record import (
    ACTION_RE,
    BODY_KEYS,
    FORMAT_VERSION,
    GENESIS_HASH,
    HASH_DOMAIN,
    LINE_SUFFIX_LEN,
    TIME_RE,
)

#: Problems kept in a report; verification still counts every entry after that.
MAX_PROBLEMS = 50
_OUTCOMES = frozenset({"success", "failure", "pending"})
_OPTIONAL_TEXT = (
    "prompt",
    "env",
    "from_version",
    "from_sha256",
    "to_version",
    "to_sha256",
    "eval_run_id",
    "gate_verdict",
    "error",
    "on_behalf_of",
    "ticket",
)
_HASH_KEY = b',"hash":"'
_STRAY_FENCE = b"\n```"
_STR = frozenset({str})
_TEXT_OR_NONE = frozenset({str, type(None)})
_OPTIONAL_GET = operator.itemgetter(*_OPTIONAL_TEXT)
_TIME_MATCH = TIME_RE.match
_ACTION_MATCH = ACTION_RE.match
_LOG_NAME = "audit/artifact-audit-log.md"


@dataclass(frozen=True)
class AuditProblem:
    """One thing wrong with the log or its checkpoints, located as precisely as possible."""

    reason: str
    seq: int | None = None
    line: int | None = None
    kind: str = "chain"
    file: str = _LOG_NAME

    def __str__(self) -> str:
        where = []
        if self.file == _LOG_NAME:
            if self.seq is not None:
                where.append(f"entry {self.seq}")
            if self.line is not None:
                where.append(f"line {self.line}" if not where else f"(line {self.line})")
        else:
            where.append(self.file + (f" line {self.line}" if self.line is not None else ""))
        prefix = " ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "seq": self.seq,
            "line": self.line,
            "kind": self.kind,
            "file": self.file,
            "reason": self.reason,
            "message": str(self),
        }


@dataclass(frozen=True)
class TornTail:
    """An entry cut short at the end of the file by a crash during an append."""

    offset: int
    """Byte offset where the torn entry starts (everything from here is removed by repair)."""
    seq: int
    """The sequence number the torn entry would have had."""
    line: int
    """Line where the torn entry starts."""
    size: int
    """Bytes of the torn entry."""


@dataclass
class AuditVerifyReport:
    """What ``audit verify`` found: entries checked, the head, checkpoints and problems."""

    entries: int = 0
    """Records found and checked."""
    head_seq: int = 0
    """Sequence number of the last good entry (0 when empty)."""
    head_hash: str = GENESIS_HASH
    """Hash of the last good entry."""
    problems: list[AuditProblem] = field(default_factory=list)
    """Problems in file order; the first one names the first bad entry."""
    problem_count: int = 0
    """All problems found, including those beyond the ones kept."""
    checkpoints: int = 0
    """Signed checkpoints whose signature and position were verified."""
    key_ids: list[str] = field(default_factory=list)
    """Signing keys seen in checkpoints and rotations, oldest first."""
    anchored: bool = False
    """True when checkpoint keys were checked against a key given by the caller."""
    torn: TornTail | None = None
    """A torn final entry that ``audit repair`` can remove."""
    journal_pending: bool = False
    """A committed change is not fully applied yet (the next promptgov write finishes it)."""
    warnings: list[str] = field(default_factory=list)
    """Things that are not failures but limit what the check proves."""

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def first_problem(self) -> AuditProblem | None:
        """The problem to show first (the earliest bad entry)."""
        return self.problems[0] if self.problems else None

    def add(self, problem: AuditProblem) -> None:
        """Record ``problem`` (keeping at most :data:`MAX_PROBLEMS`)."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        """One line for people."""
        if self.ok:
            cps = f", {self.checkpoints} checkpoint(s) verified" if self.checkpoints else ""
            return (
                f"audit log OK: {self.entries} entries, head {self.head_seq} "
                f"{self.head_hash[:16]}{cps}"
            )
        more = f" ({self.problem_count - 1} more problem(s))" if self.problem_count > 1 else ""
        return f"audit log broken at {self.problems[0]}{more}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``--json`` and the server."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "checkpoints": self.checkpoints,
            "key_ids": list(self.key_ids),
            "anchored": self.anchored,
            "problem_count": self.problem_count,
            "problems": [p.to_dict() for p in self.problems],
            "torn": None
            if self.torn is None
            else {
                "offset": self.torn.offset,
                "seq": self.torn.seq,
                "line": self.torn.line,
                "bytes": self.torn.size,
            },
            "journal_pending": self.journal_pending,
            "warnings": list(self.warnings),
            "summary": self.summary(),
        }


@dataclass
class LogScan:
    """The chain as read from the log: per-position hashes and key rotations."""

    report: AuditVerifyReport
    hashes: list[str] = field(default_factory=list)
    """Stored hash of each record in file order (entry ``i + 1`` when the chain holds)."""
    rotations: list[tuple[int, int, dict[str, Any], str]] = field(default_factory=list)
    """(seq, line, details, prev_hash) of every valid, successful ``rotate-key`` entry."""
    end: int = 0
    """Byte offset just after the last complete entry."""


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, max(0, offset)) + 1


def _field_problem(obj: dict[str, Any]) -> str | None:
    """Why the record's fields are invalid, or None (fast path first: this runs per entry)."""
    time, action, outcome = obj["time"], obj["action"], obj["outcome"]
    actor, reason, tool, evidence, approvers = (
        obj["actor"],
        obj["reason"],
        obj["tool_version"],
        obj["evidence"],
        obj["approvers"],
    )
    if (
        obj["v"] == FORMAT_VERSION
        and type(time) is str
        and _TIME_MATCH(time) is not None
        and type(action) is str
        and _ACTION_MATCH(action) is not None
        and type(actor) is str
        and type(reason) is str
        and type(tool) is str
        and actor.strip()
        and reason.strip()
        and tool.strip()
        and type(outcome) is str
        and outcome in _OUTCOMES
        and type(evidence) is list
        and type(approvers) is list
        and set(map(type, evidence)) <= _STR
        and set(map(type, approvers)) <= _STR
        and type(obj["details"]) is dict
        and set(map(type, _OPTIONAL_GET(obj))) <= _TEXT_OR_NONE
    ):
        return None
    return _field_reason(obj)


def _field_reason(obj: dict[str, Any]) -> str:
    """The first invalid field of a record that failed :func:`_field_problem`."""
    if obj["v"] != FORMAT_VERSION:
        return f"unsupported record format v={obj['v']!r}"
    time = obj["time"]
    if type(time) is not str or not TIME_RE.match(time):
        return "field 'time' is not a UTC RFC 3339 time"
    action = obj["action"]
    if type(action) is not str or not ACTION_RE.match(action):
        return "field 'action' is missing or invalid"
    for key in ("actor", "reason", "tool_version"):
        value = obj[key]
        if type(value) is not str or not value.strip():
            return f"field {key!r} is empty"
    if type(obj["outcome"]) is not str or obj["outcome"] not in _OUTCOMES:
        return "field 'outcome' is not success, failure or pending"
    for key in ("evidence", "approvers"):
        value = obj[key]
        if type(value) is not list or any(type(v) is not str for v in value):
            return f"field {key!r} is not a list of strings"
    if type(obj["details"]) is not dict:
        return "field 'details' is not an object"
    for key in _OPTIONAL_TEXT:
        value = obj[key]
        if value is not None and type(value) is not str:
            return f"field {key!r} is not text"
    return "a field is invalid"


def scan_log(data: bytes) -> LogScan:
    """Check every entry of ``data`` and return the chain with a report.

    Checks, in file order: the section structure (heading, one fenced record, nothing
    else), a JSON record with every field, sequence numbers without gaps, each
    previous-hash link, and each stored hash against the one recomputed over the
    record's exact bytes (written in canonical form, so any changed byte shows). A file
    that ends in the middle of an entry is reported as a torn final entry.
    """
    report = AuditVerifyReport()
    scan = LogScan(report)
    n = len(data)
    loads = json.loads
    sha256 = hashlib.sha256
    hashes = scan.hashes
    prev = GENESIS_HASH
    prefix = HASH_DOMAIN + prev.encode() + b"\x00"
    expect = 1
    count = 0
    head_seq, head_hash = 0, GENESIS_HASH
    pos = data.find(HEADING)
    if pos == -1:
        fence = data.find(RECORD_FENCE)
        if fence != -1:
            report.add(
                AuditProblem(
                    "a record block without its '## Entry' heading",
                    seq=1,
                    line=_line_of(data, fence + 1),
                    kind="structure",
                )
            )
        return scan
    fence0 = data.find(RECORD_FENCE, 0, pos)
    if fence0 != -1:
        report.add(
            AuditProblem(
                "a record block above the first '## Entry' heading (the heading was altered)",
                seq=1,
                line=_line_of(data, fence0 + 1),
                kind="structure",
            )
        )
    while pos < n:
        if not data.startswith(HEADING, pos):
            rest = data[pos:]
            if HEADING.startswith(rest):
                _torn(scan, data, pos, expect)
                break
            nxt = data.find(HEADING, pos)
            report.add(
                AuditProblem(
                    "unexpected text between entries (an entry heading or fence was altered)",
                    seq=expect,
                    line=_line_of(data, pos + 1),
                    kind="structure",
                )
            )
            if nxt == -1:
                break
            pos = nxt
            continue
        fence = data.find(RECORD_FENCE, pos)
        nxt = data.find(HEADING, pos + 1, fence if fence != -1 else n)
        if fence == -1 or nxt != -1:
            if fence == -1 and nxt == -1 and data.find(CLOSE_FENCE, pos) == -1:
                _torn(scan, data, pos, expect)
                break
            report.add(
                AuditProblem(
                    "entry section has no intact record block",
                    seq=expect,
                    line=_line_of(data, pos + 1),
                    kind="structure",
                )
            )
            if nxt == -1:
                break
            pos = nxt
            continue
        if data.find(_STRAY_FENCE, pos, fence) != -1:
            report.add(
                AuditProblem(
                    "a code fence inside the entry text (a record block was altered)",
                    seq=expect,
                    line=_line_of(data, data.find(_STRAY_FENCE, pos, fence) + 1),
                    kind="structure",
                )
            )
        start = fence + len(RECORD_FENCE)
        eol = data.find(b"\n", start)
        if eol == -1 or (eol + 5 > n and CLOSE_FENCE.startswith(data[eol:])):
            _torn(scan, data, pos, expect)
            break
        after = eol + 5
        if not data.startswith(CLOSE_FENCE, eol):
            report.add(
                AuditProblem(
                    "record block is not closed by a ``` line",
                    seq=expect,
                    line=_line_of(data, eol + 1) + 1,
                    kind="structure",
                )
            )
            nxt = data.find(HEADING, eol)
            if nxt == -1:
                break
            pos = nxt
            continue
        count += 1
        problem: str | None = None
        stored = ""
        seq: Any = None
        if (
            eol - start > LINE_SUFFIX_LEN
            and data.startswith(_HASH_KEY, eol - LINE_SUFFIX_LEN)
            and data.startswith(b'"}', eol - 2)
        ):
            stored = data[eol - 66 : eol - 2].decode("ascii", "replace")
            body = data[start : eol - LINE_SUFFIX_LEN] + b"}"
            try:
                obj = loads(body.decode("utf-8"))
                if type(obj) is not dict:
                    problem = "record is not a JSON object"
                elif obj.keys() != BODY_KEYS:
                    missing = sorted(BODY_KEYS - obj.keys())
                    problem = (
                        f"record lacks field {missing[0]!r}"
                        if missing
                        else f"record has unknown field {sorted(obj.keys() - BODY_KEYS)[0]!r}"
                    )
                else:
                    seq = obj["seq"]
                    if type(seq) is not int:
                        problem = "field 'seq' is not an integer"
                        seq = None
                    elif seq != expect:
                        problem = f"expected entry {expect} here but found entry {seq}: " + (
                            f"entry {expect} is missing (deleted or moved)"
                            if seq > expect
                            else "entries are out of order (moved, duplicated or inserted)"
                        )
                    elif obj["prev_hash"] != prev:
                        problem = (
                            "previous-hash link is broken: this entry does not follow "
                            f"entry {expect - 1} (an entry was replaced, inserted or re-chained)"
                        )
                    elif sha256(prefix + body).hexdigest() != stored:
                        problem = "stored hash does not match the record: the entry was altered"
                    elif not data.startswith(b"\n## Entry %d\n" % seq, pos):
                        problem = f"heading does not say 'Entry {seq}': the heading was altered"
                    else:
                        problem = _field_problem(obj)
                        if (
                            problem is None
                            and obj["action"] == "rotate-key"
                            and obj["outcome"] == "success"
                        ):
                            scan.rotations.append(
                                (seq, _line_of(data, start), obj["details"], prev)
                            )
            except (ValueError, TypeError, RecursionError, KeyError, AttributeError):
                problem = "record is not valid UTF-8 JSON"
        else:
            problem = "record does not end with its hash"
        if problem is not None:
            report.add(
                AuditProblem(
                    problem,
                    seq=expect,
                    line=_line_of(data, start)
                    if not problem.startswith("heading")
                    else _line_of(data, pos + 1),
                    kind="entry",
                )
            )
        hashes.append(stored)
        if problem is None:
            head_seq, head_hash = seq, stored
        # Resynchronise on what the entry claims so one bad entry is one problem.
        if len(stored) == 64:
            prev = stored
            prefix = HASH_DOMAIN + prev.encode("ascii", "replace") + b"\x00"
        expect = (seq + 1) if isinstance(seq, int) and seq >= expect - 1 else expect + 1
        pos = after
    scan.end = pos if report.torn is None else report.torn.offset
    report.head_seq, report.head_hash = head_seq, head_hash
    report.entries = count
    return scan


def _torn(scan: LogScan, data: bytes, pos: int, expect: int) -> None:
    """Record the bytes from ``pos`` to the end as a torn final entry."""
    line = _line_of(data, pos + 1)
    scan.report.torn = TornTail(offset=pos, seq=expect, line=line, size=len(data) - pos)
    scan.report.add(
        AuditProblem(
            f"torn final entry: the file ends in the middle of entry {expect} "
            f"({len(data) - pos} bytes, a crash during an append); "
            "run 'promptgov audit repair' to remove it",
            seq=expect,
            line=line,
            kind="torn",
        )
    )
