"""Reads without the lock: a commit seen half-applied is waited out, a forgery is not."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import promptgov
from promptgov.errors import IntegrityError
from promptgov.store.files import JOURNAL_NAME, STATE_DIR
from promptgov.store.paths import AUDIT_FILE, REGISTRY_FILE

from .. import flows


@pytest.fixture
def released(example_repo: Path) -> Path:
    flows.add_version(example_repo, "1.0.0")
    flows.release(example_repo, "1.0.0")
    return example_repo


def _half_applied(root: Path) -> bytes:
    """The moment inside a commit when the new registry is in place and the audit log is
    not yet: the journal exists and the log holds its old bytes. Returns the new log."""
    old_log = (root / AUDIT_FILE).read_bytes()
    flows.add_version(root, "1.1.0")
    new_log = (root / AUDIT_FILE).read_bytes()
    (root / STATE_DIR / JOURNAL_NAME).write_text("{}")
    (root / AUDIT_FILE).write_bytes(old_log)
    return new_log


def test_a_read_during_a_commit_waits_for_the_writer(released: Path) -> None:
    new_log = _half_applied(released)

    def finish() -> None:
        time.sleep(0.2)
        (released / AUDIT_FILE).write_bytes(new_log)
        (released / STATE_DIR / JOURNAL_NAME).unlink()

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        entry = promptgov.Registry(released).entry(flows.PROMPT)
    finally:
        writer.join()
    assert [v.version for v in entry.versions] == ["1.0.0", "1.1.0"]


def test_a_registry_that_still_disagrees_after_the_writer_is_refused(released: Path) -> None:
    _half_applied(released)
    (released / STATE_DIR / JOURNAL_NAME).unlink()  # no writer: the files just disagree
    started = time.monotonic()
    with pytest.raises(IntegrityError, match="disagrees with audit entry"):
        promptgov.Registry(released).entry(flows.PROMPT)
    assert time.monotonic() - started < 1.0, "no writer to wait for"
    assert (released / REGISTRY_FILE).exists()
