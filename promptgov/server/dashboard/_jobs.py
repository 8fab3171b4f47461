"""Rollbacks run beside the request that asked for them, so the page can show the
checklist filling in as the ledger advances through the five steps."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ...actions._rollback_results import ChecklistLine, RollbackPlan, RollbackResult
from ...errors import NotFound, PromptGovError
from ...model import RollbackRecord
from ...registry import Registry

#: Finished jobs kept for their result page, oldest dropped first.
KEEP = 100


@dataclass
class RollbackJob:
    """One rollback started from the dashboard, and what it came to."""

    id: str
    owner: str
    plan: RollbackPlan
    result: RollbackResult | None = None
    error: PromptGovError | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def progress(self, make: Callable[[], Registry]) -> list[ChecklistLine]:
        """The checklist as the ledger has it now (before the result is in); a read that
        lands inside a step's write waits for it in the store."""
        return RollbackResult(self.plan, record=self._record(make())).checklist

    def _record(self, reg: Registry) -> RollbackRecord | None:
        for rb in reversed(reg.entry(self.plan.prompt).rollbacks):
            if rb.env == self.plan.env and rb.new_version == self.plan.new_version:
                return rb
        return None


@dataclass
class Jobs:
    """The dashboard's rollbacks by id."""

    _by_id: dict[str, RollbackJob] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(
        self, owner: str, plan: RollbackPlan, run: Callable[[], RollbackResult]
    ) -> RollbackJob:
        """Run ``run`` in a thread of its own; the job records its result or its error."""
        job = RollbackJob(secrets.token_urlsafe(16), owner, plan)

        def work() -> None:
            try:
                job.result = run()
            except PromptGovError as exc:
                job.error = exc
            finally:
                job.done.set()

        with self._lock:
            if len(self._by_id) >= KEEP:
                finished = [k for k, j in self._by_id.items() if j.done.is_set()]
                for k in finished[: len(self._by_id) - KEEP + 1]:
                    del self._by_id[k]
            self._by_id[job.id] = job
        threading.Thread(target=work, name=f"rollback-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str, owner: str) -> RollbackJob:
        """``owner``'s job ``job_id`` (another user's is as unknown as a made-up one)."""
        with self._lock:
            job = self._by_id.get(job_id)
        if job is None or job.owner != owner:
            raise NotFound("no such rollback on this server (it may have been restarted).")
        return job
