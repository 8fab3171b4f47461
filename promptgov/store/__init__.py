"""The store: files of a governed repository and the one unit of work that writes them.

Knows nothing above the file models (:mod:`promptgov.model`): atomic writes, the lock
and the journal (:mod:`.files`), the content-addressed object store (:mod:`.objects`),
the registry file and its index (:mod:`.registry_file`), the change log
(:mod:`.changelog`), and :class:`Store` with its :class:`Edit` (:mod:`.unit`).
"""

from __future__ import annotations

from .registry_file import Prompts
from .unit import AuditSink, Edit, Store

__all__ = ["AuditSink", "Edit", "Prompts", "Store"]
