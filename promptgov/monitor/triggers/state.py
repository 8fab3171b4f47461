"""The trigger state file, ``logs/triggers/<name>/<env>/state.json``: runs of failing checks.

The file counts, per trigger, the checks in a row that fired for the version it names, and
remembers whether that run of failures was announced and rolled back, so each happens once.
The JSON layout is the one written since the first release (times as ISO 8601 with an
offset), so existing repositories keep their counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from ...errors import InvalidFile
from .vocabulary import TriggerName, TriggerResult, TriggerStatus

__all__ = ["FailureRun", "TriggerState", "load_state", "next_run"]

#: Written as ``datetime.isoformat()`` (``+00:00``), as the file always has been.
_Time = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str)]


class FailureRun(BaseModel):
    """One trigger's current run of failing checks."""

    model_config = ConfigDict(frozen=True)
    streak: int = Field(default=1, ge=0, description="Failing checks in a row.")
    since: _Time = Field(description="When the run of failures started.")
    observation: str | None = Field(
        default=None, description="The evidence last counted; seen again, it counts once."
    )
    notified: bool = Field(default=False, description="The owners were told of this run.")
    rollback_attempted: bool = Field(
        default=False, description="An automatic rollback was tried for this run."
    )


class TriggerState(BaseModel):
    """Failure runs for the version (and content) an environment serves."""

    model_config = ConfigDict(frozen=True)
    version: str
    sha256: str
    triggers: dict[TriggerName, FailureRun] = Field(default_factory=dict)
    updated_at: _Time | None = None

    def to_json(self) -> dict[str, object]:
        """The file's JSON object."""
        return self.model_dump(mode="json")


def load_state(raw: bytes | None, rel: str, version: str, sha256: str) -> TriggerState:
    """The state for ``version``: the file's, or a fresh one when a new version serves.

    Raises:
        InvalidFile: ``raw`` is not a trigger state file (named by ``rel``).
    """
    fresh = TriggerState(version=version, sha256=sha256)
    if raw is None:
        return fresh
    try:
        state = TriggerState.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidFile(
            f"{rel} is not a trigger state file ({where + ': ' if where else ''}{err['msg']}); "
            "delete it to start counting failing checks afresh."
        ) from None
    if state.version != version or state.sha256 != sha256:
        return fresh  # a new version serves: its failures are counted from zero
    return state


def next_run(prev: FailureRun | None, r: TriggerResult, at: datetime) -> FailureRun | None:
    """The next state of one trigger's run of failures after ``r`` (None: no run)."""
    if r.status is TriggerStatus.FIRED:
        if prev is None:
            return FailureRun(streak=1, since=at, observation=r.observation)
        if r.observation is None or r.observation != prev.observation:
            return prev.model_copy(update={"streak": prev.streak + 1, "observation": r.observation})
        return prev  # the same evidence again: it counts once
    if r.status is TriggerStatus.INSUFFICIENT_DATA:
        return prev  # cannot tell: neither counts nor resets
    return None
