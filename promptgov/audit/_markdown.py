"""The Markdown layout of the audit log: the file header and each entry's readable section."""

from __future__ import annotations

import re
from typing import Any

#: Every entry starts with this heading (GitHub anchors it as ``#entry-<seq>``).
HEADING = b"\n## Entry "
#: Opens the fenced block that holds the machine record.
RECORD_FENCE = b"\n```json audit-record\n"
#: Closes the record block; an entry ends right after it.
CLOSE_FENCE = b"\n```\n"

HEADER = (
    b"# Audit log\n"
    b"\n"
    b"Every governance action on this repository is recorded here by promptgov, one entry per\n"
    b"action, oldest first. Each entry's JSON record is hash-chained to the entry before it and\n"
    b"signed checkpoints pin the chain's head: run `promptgov audit verify` to check both.\n"
    b"The text above each record is a rendering of it; the record is authoritative.\n"
    b"Append only through promptgov; never edit this file by hand.\n"
)

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def _inline(value: Any) -> str:
    """One line of safe Markdown: no line breaks (they could fake an entry), no raw HTML."""
    text = _UNSAFE.sub(" ", str(value)).strip()
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _version(version: str | None, sha: str | None) -> str:
    if version is None:
        return "—"
    return f"{_inline(version)} (`{sha[:12]}`)" if sha else _inline(version)


def render_entry(record: dict[str, Any], line: bytes) -> bytes:
    """The Markdown section for one stored record, ending with its fenced JSON line."""
    title = [f"**{_inline(record['action'])}**"]
    if record.get("prompt"):
        title.append(f"`{_inline(record['prompt'])}`")
    if record.get("env"):
        title.append(_inline(record["env"]))
    title += [_inline(record["time"]), _inline(record["outcome"])]
    actor = _inline(record["actor"])
    if record.get("on_behalf_of"):
        actor += f" (on behalf of {_inline(record['on_behalf_of'])})"
    rows = [f"- Actor: {actor}"]
    if record.get("from_version") or record.get("to_version"):
        before = _version(record.get("from_version"), record.get("from_sha256"))
        after = _version(record.get("to_version"), record.get("to_sha256"))
        rows.append(f"- Versions: {before} → {after}")
    rows.append(f"- Reason: {_inline(record['reason'])}")
    if record.get("evidence"):
        rows.append("- Evidence: " + ", ".join(_inline(e) for e in record["evidence"]))
    if record.get("approvers"):
        rows.append("- Approvers: " + ", ".join(_inline(a) for a in record["approvers"]))
    if record.get("eval_run_id") or record.get("gate_verdict"):
        run = _inline(record.get("eval_run_id") or "—")
        rows.append(f"- Eval run: {run} · gate: {_inline(record.get('gate_verdict') or '—')}")
    if record.get("ticket"):
        rows.append(f"- Ticket: {_inline(record['ticket'])}")
    if record.get("error"):
        rows.append(f"- Error: {_inline(record['error'])}")
    rows.append(f"- Hash: `{record['hash'][:16]}` · previous `{record['prev_hash'][:16]}`")
    text = (
        f"\n## Entry {int(record['seq'])}\n\n"
        + " · ".join(title)
        + "\n\n"
        + "\n".join(rows)
        + "\n\n"
    )
    return text.encode("utf-8") + RECORD_FENCE[1:] + line + CLOSE_FENCE
