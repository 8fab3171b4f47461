"""The :class:`Trigger` protocol every rollback trigger implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..policy import TriggerPolicy
from .vocabulary import CheckContext, Subject, TriggerName, TriggerResult

__all__ = ["Trigger"]


@runtime_checkable
class Trigger(Protocol):
    """Reads the evidence about a serving version and says whether its condition holds.

    A trigger only reads (registry, eval run outputs, production logs, complaints); the
    check that runs it records the result, so a trigger can be run on a dry run or in a
    test without a unit of work. Evidence files it wants kept go in
    :attr:`TriggerResult.files`.
    """

    @property
    def name(self) -> TriggerName:
        """The trigger's name, also its key in the ``triggers:`` policy."""
        ...

    def policy(self, context: CheckContext) -> TriggerPolicy:
        """This trigger's section of the policy, with the check's overrides applied.

        Raises:
            InputError: an override (e.g. ``window``) is invalid.
        """
        ...

    def check(self, subject: Subject, context: CheckContext) -> TriggerResult:
        """The verdict on ``subject``; called only when :meth:`policy` is enabled."""
        ...
