"""Free text enters here: every action's options redact theirs as they are built.

Reasons, messages, comments, complaints, descriptions and evidence links are copied into
the registry, the change log, the audit log, git commit messages, notifications and the
outbox; redacting them once, where they enter, covers every one of those sinks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..redact import redact_text


class FreeText:
    """Mixin for a frozen options dataclass: the fields named in ``_free_text`` are redacted."""

    _free_text: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self._free_text:
            object.__setattr__(self, name, _clean(getattr(self, name)))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, tuple):
        return tuple(_clean(v) for v in value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
