"""The audit log wired into the store's unit of work (:class:`~promptgov.store.AuditSink`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..model import identity_key
from ..store.files import Transaction
from ._chain import AuditLog
from ._record import AuditRecord, build_record
from ._state import load_index

#: (actor, how they authenticated) for the entries of the current call, set by the server.
_CREDENTIAL: ContextVar[tuple[str, str] | None] = ContextVar("promptgov_credential", default=None)


@contextmanager
def credential(actor: str, how: str) -> Iterator[None]:
    """Record on every entry ``actor`` makes inside the block how they signed in
    (``details.via``, e.g. ``token 1a2b3c4d5e6f``; never a secret)."""
    token = _CREDENTIAL.set((actor, how))
    try:
        yield
    finally:
        _CREDENTIAL.reset(token)


def _with_credential(fields: dict[str, Any]) -> dict[str, Any]:
    cred = _CREDENTIAL.get()
    actor = fields.get("actor")
    if cred is None or not isinstance(actor, str) or identity_key(actor) != identity_key(cred[0]):
        return fields
    details = fields.get("details") or {}
    return {**fields, "details": {**details, "via": cred[1]}}


class ChainSink:
    """Validates entries when an action adds them and stages them when its unit commits."""

    def __init__(self, root: Path) -> None:
        self.log = AuditLog(root)

    def prepare(self, fields: dict[str, Any]) -> AuditRecord:
        """The validated, redacted record (raises InputError; nothing is staged)."""
        return build_record(_with_credential(fields))

    def next_seq(self, txn: Transaction) -> int:
        """The sequence number the next entry staged into ``txn`` gets."""
        return self.log.next_seq(txn)

    def stage(self, txn: Transaction, records: list[Any], state: dict[str, Any]) -> None:
        """Stage ``records``; ``state`` joins the last one's details after redaction.

        Digests and paths are not free text, so they are attached after the record's
        fields were redacted: a prompt named like a credential keeps its commitment.
        """
        for i, record in enumerate(records):
            if state and i == len(records) - 1:
                record = record.model_copy(update={"details": {**record.details, "state": state}})
            self.log.stage_record(txn, record)

    def committed(self, name: str) -> tuple[bool, tuple[int, str] | None]:
        """Whether the log commits to state, and what it last committed for ``name``."""
        index = load_index(self.log.root)
        return index.committing, index.prompts.get(name)
