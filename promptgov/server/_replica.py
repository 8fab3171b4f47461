"""Replicas on one git remote: reads from a clone, writes published by ``git push``.

Each replica serves its own clone and writes in a second work tree of it (under the
clone's git directory), so a read never sees a change the remote has not taken. A write
starts from the remote's newest commit, runs the library action, commits and pushes
as a fast-forward: the push is the compare-and-swap between replicas. When another
replica moved first, the attempt is dropped (the writing tree is reset to the remote),
the action runs again on the new state once, and a pointer that moved meanwhile is a
409. Nothing is ever merged, so the audit chain stays one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter

from .. import gitops
from ..errors import Conflict, InputError, NotFound, PromptGovError, Unavailable
from ..registry import Registry
from ..repo import Repo
from ..store.localkey import key_dir
from ._auth import State, Writer
from ._problems import PROBLEM_RESPONSES
from ._state import ServerState

T = TypeVar("T")
router = APIRouter(responses=PROBLEM_RESPONSES, tags=["replicas"])
#: Where the work tree that writes lives, inside the clone's git directory.
WRITER_DIR = "promptgov-writer"


def default_clone_dir(remote: str) -> Path:
    """``<state dir>/replicas/<sha256 of the remote's URL, 16 hex>``: one clone per remote."""
    return key_dir() / "replicas" / hashlib.sha256(remote.encode()).hexdigest()[:16]


def clone_replica(remote: str, dest: Path | str | None = None, *, timeout: float) -> Path:
    """The clone a replica of ``remote`` serves: ``dest`` (default
    :func:`default_clone_dir`), cloned now unless it already is a clone of ``remote``.

    Raises:
        Conflict: ``dest`` is something else (another remote's clone, other files).
        Unavailable: the remote cannot be cloned (unreachable within ``timeout``).
    """
    path = Path(dest) if dest is not None else default_clone_dir(remote)
    if path.is_dir() and gitops.is_git_repo(path):
        if gitops.remote_url(path) != remote:
            raise Conflict(
                f"{path} is a clone of another remote; name a new directory for this one.",
                cli_hint="Pass --repo with a new directory.",
            )
        return path
    try:
        return gitops.clone(remote, path, timeout=timeout)
    except Conflict:
        raise
    except PromptGovError:
        raise Unavailable(
            "the git remote could not be cloned (unreachable, or not a repository); "
            "check the address and the network, then start again."
        ) from None


def _pointer(registry: Registry, name: str, env: str) -> str | None:
    entry = registry.repo.registry().get(name)
    state = entry.environments.get(env) if entry is not None else None
    return state.current if state is not None else None


class Replica:
    """One replica: its clone, the remote's branch it follows, and how far it has synced."""

    def __init__(self, state: ServerState, remote: str, *, timeout: float) -> None:
        self.state = state
        self.root = state.root
        self.timeout = timeout
        if gitops.remote_url(self.root) != remote:
            raise Conflict(f"{self.root} is not a clone of the remote it is to sync from.")
        branch = gitops.current_branch(self.root)
        if branch is None:
            raise InputError(f"{self.root} has no branch checked out; check out the remote's.")
        self.branch = branch
        self.writer = gitops.git_dir(self.root) / WRITER_DIR
        self._lock = threading.Lock()
        #: When the replica last had the remote's newest commit (time.time()), or None.
        self.synced_at: float | None = None
        #: Whether the last attempt to reach the remote succeeded.
        self.reachable = False
        self.failures = 0
        #: The remote's branch no longer contains what the replica serves (history rewritten).
        self.diverged = False
        self._fetched_at = 0.0

    # -- reading the remote -------------------------------------------------------------------

    def sync(self) -> dict[str, Any]:
        """Fetch the remote now and serve its newest commit.

        Raises:
            Unavailable: the remote cannot be reached (the replica keeps serving its clone).
            Conflict: the clone has commits the remote does not (made by hand).
        """
        with self._lock:
            tip = self._fetch()
            moved = self._advance(tip)
        return {"moved": moved, **self.status()}

    def status(self) -> dict[str, Any]:
        """Whether the first sync is done, the remote was reachable, and the lag."""
        remote = "reachable" if self.reachable else "unreachable"
        return {
            "synced": self.synced_at is not None,
            "remote": "diverged" if self.reachable and self.diverged else remote,
            "lag_seconds": round(self.lag(), 3) if self.synced_at is not None else None,
            "head": gitops.head(self.root),
        }

    def lag(self) -> float:
        """Seconds since the replica last had the remote's newest commit (inf: never)."""
        return math.inf if self.synced_at is None else max(0.0, time.time() - self.synced_at)

    def _fetch(self) -> str:
        started = time.time()
        try:
            tip = gitops.fetch(self.root, self.branch, timeout=self.timeout)
        except PromptGovError:
            self.reachable = False
            self.failures += 1
            raise Unavailable(
                "the git remote cannot be reached; this replica serves what it last fetched.",
                cli_hint="Check the remote and the network.",
            ) from None
        self.reachable = True
        if tip is None:
            raise Unavailable(f"the git remote has no branch {self.branch!r}.")
        self._fetched_at = started
        return tip

    def _advance(self, tip: str) -> bool:
        """Check the clone out at ``tip`` (a descendant of what it serves) and tell readers
        and event subscribers; True when it moved."""
        head = gitops.head(self.root)
        moved = head != tip
        if moved:
            if head is not None and not gitops.is_ancestor(self.root, head, tip):
                self.diverged = True
                raise Conflict(
                    "the git remote's branch no longer contains the commit this replica serves "
                    "(its history was rewritten, or the clone was changed by hand); the "
                    "replica keeps serving its own history. Restore the remote's history.",
                )
            with self.state.lock:
                gitops.reset_to(self.root, tip)
                self.state.forget()
        self.diverged = False
        self.synced_at = self._fetched_at
        if moved:
            self.state.changed()
        return moved

    async def follow(self, interval: float, stop: asyncio.Event) -> None:
        """Sync now, then every ``interval`` seconds until ``stop``; a failure is counted
        and shown by ``/readyz`` and the metrics, and the replica keeps serving."""
        while not stop.is_set():
            with contextlib.suppress(PromptGovError):
                await asyncio.to_thread(self.sync)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    # -- writing --------------------------------------------------------------------------------

    def write(
        self,
        act: Callable[[Registry], T],
        *,
        action: str,
        prompt: str,
        by: str,
        moves: str | None = None,
    ) -> T:
        """Run ``act`` on the remote's newest state, commit, push; once more on a lost race.

        ``moves`` names the environment whose pointer the action moves: if it moved
        between the first attempt and the retry, the retry is a 409 (the caller decided
        on a state that is gone), never a silent overwrite.

        Raises:
            Conflict: another replica moved first (twice, or the pointer ``moves`` names).
            Unavailable: the remote cannot be reached; nothing was changed.
        """
        with self._lock:
            before: str | None = None
            for attempt in (1, 2):
                base = self._fetch()
                self._advance(base)
                registry = self._writing_tree(base)
                if moves is not None:
                    now = _pointer(registry, prompt, moves)
                    if attempt == 1:
                        before = now
                    elif now != before:
                        raise Conflict(
                            f"{moves} of {prompt} moved on another replica meanwhile: it points "
                            f"at {now or 'nothing'}; re-check the environment and retry.",
                            prompt=prompt,
                            env=moves,
                            current=now or "",
                            expected=before or "",
                        )
                result = act(registry)
                tip = self._commit(action, prompt, by)
                if tip == base:
                    return result
                if self._push(tip, base):
                    self._advance(tip)
                    return result
            raise Conflict(
                "other replicas changed the repository while this one wrote, twice; nothing "
                "was changed. Retry."
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _writing_tree(self, base: str) -> Registry:
        """The work tree writes happen in, exactly at ``base`` (nothing left of an earlier
        attempt: it is promptgov's alone, so ignored files go too)."""
        if not (self.writer / ".git").exists():
            gitops.add_worktree(self.root, self.writer, base)
        gitops.reset_to(self.writer, base, clean_ignored=True)
        return Registry(Repo(self.writer))

    def _commit(self, action: str, prompt: str, by: str) -> str:
        """Commit whatever the action left uncommitted; the writing tree's HEAD."""
        message = gitops.structured_message(
            action=action.replace(" ", "-"), prompt=prompt, authorized_by=by
        )
        gitops.commit_paths(self.writer, ["."], message, author=by)
        head = gitops.head(self.writer)
        assert head is not None
        return head

    def _push(self, tip: str, base: str) -> bool:
        """Push ``tip``; False when another replica moved the branch first."""
        try:
            if gitops.push(self.writer, tip, self.branch, timeout=self.timeout):
                return True
        except PromptGovError:
            self.reachable = False
            raise Unavailable(
                "the git remote cannot be reached, so the change was not made; retry later."
            ) from None
        if self._fetch() == base:  # refused although nobody moved: a hook or permissions
            raise Unavailable("the git remote refused the change; nothing was changed.")
        return False


def replica_of(state: ServerState) -> Replica:
    """The server's :class:`Replica`.

    Raises:
        NotFound: the server does not sync from a remote.
    """
    replica: Replica | None = state.replica
    if replica is None:
        raise NotFound("this server is not a replica: it was started without --sync-from.")
    return replica


@router.post("/v1/sync", summary="Fetch the git remote now (for a push webhook)")
def sync(state: State, who: Writer) -> dict[str, Any]:
    """Any valid token may ask; the replica fetches and serves the remote's newest commit.
    503 when the remote cannot be reached."""
    return replica_of(state).sync()
