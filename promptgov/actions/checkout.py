"""The checkout action: load any registered version into the working copy an author edits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Conflict
from ..model import utcnow
from ..registry import Registry
from ._working_copy import unsaved, working_copy_path, write_working_copy


@dataclass(frozen=True)
class CheckoutOptions:
    """How to treat the working copy being replaced."""

    force: bool = False
    """Replace unsaved edits too (they are kept beside the file)."""


@dataclass(frozen=True)
class CheckoutResult:
    """What the working copy now holds, and where replaced edits were kept."""

    prompt: str
    version: str
    sha256: str
    path: str
    kept_edits: str | None = None
    """``prompt.yml.before-checkout-<time>``, when unsaved edits were replaced."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def checkout(
    registry: Registry, ref: str, options: CheckoutOptions = CheckoutOptions()
) -> CheckoutResult:
    """Write ``ref`` (``name@version``, ``name@env`` or ``name@latest``) into
    ``prompts/<name>/prompt.yml``, keeping the file's comments.

    The content and card are read from the object store (hashes re-checked). The registry
    and audit log are not touched: the working copy is the author's, not governed state.

    Raises:
        NotFound: no such prompt, version or deployment.
        Conflict: the working copy holds edits no registered version has, and not ``force``
            (nothing written).
    """
    v = registry.get(ref)
    rel = working_copy_path(v.name)
    with registry.repo.edit(v.name) as e:
        if not options.force and unsaved(e.entry, e.txn.read(rel)):
            raise Conflict(
                f"{rel} has edits that no version of {v.name} has; nothing was changed. "
                f"Register them as a version first, or force the checkout of {v.ref} "
                "(the edits are then kept beside the file).",
                prompt=v.name,
            )
        kept = write_working_copy(
            e.txn, e.entry, v.name, v.content, v.card, what="checkout", now=utcnow()
        )
    return CheckoutResult(v.name, v.version, v.sha256, rel, kept)
