"""The governed policy files: which they are, what they hash to, and whether they are in force.

A decision follows ``promptgov.yml``, the gate file it names, the eval suites (every file
under ``evals/`` and any suite it names elsewhere) and the allowed-signers file it names.
The audit chain records their digests (``details.state.policy``) at ``init`` and at each
approved policy change (``promptgov policy``); a decision that reads them first shows they
are what the chain recorded (:func:`require_policy_in_force`), so a pull request that only
weakens the gate changes nothing until the policy in force approves it (SOC 2 CC8.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import _yaml
from ..audit._state import load_index
from ..errors import CheckFailed, IntegrityError
from ..model import ProjectConfig, validate_model
from ..store.commitments import file_digest
from ..store.files import read_bytes
from ..store.paths import CONFIG_FILE, OBJECTS_DIR

if TYPE_CHECKING:
    from ..repo import Repo
    from ..store import Edit

#: Directories whose every file is part of the policy (the eval suites and their helpers).
POLICY_DIRS: tuple[str, ...] = ("evals/",)
#: Path parts never governed: caches the tools write beside the suites.
_SKIPPED_PARTS = frozenset({"__pycache__", "node_modules"})

#: path → sha256 of the file's bytes (None: the file does not exist).
Digests = dict[str, str | None]


@dataclass(frozen=True)
class FileChange:
    """One governed file that differs from the policy in force."""

    path: str
    recorded: str | None
    """Its digest in the policy in force (None: the policy has no such file)."""
    current: str | None
    """Its digest now (None: deleted)."""

    @property
    def kind(self) -> str:
        """``added``, ``deleted`` or ``changed``."""
        if self.recorded is None:
            return "added"
        return "deleted" if self.current is None else "changed"


@dataclass(frozen=True)
class PolicyDrift:
    """How the governed files on disk compare with the policy the chain has in force."""

    seq: int | None
    """The audit entry that recorded the policy in force (None: the log records none)."""
    recorded: Digests
    current: Digests
    committing: bool = True
    """False for a log written before entries committed to state: nothing is checked."""

    @property
    def changes(self) -> list[FileChange]:
        """Every governed file whose bytes are not the recorded ones, by path."""
        paths = sorted(set(self.recorded) | set(self.current))
        return [
            FileChange(p, self.recorded.get(p), self.current.get(p))
            for p in paths
            if self.recorded.get(p) != self.current.get(p)
        ]


def governed_set(config: ProjectConfig, listing: Iterable[str]) -> list[str]:
    """The policy files ``config`` governs among ``listing`` (repository paths), sorted:
    the config, the gate file and suites it names, the allowed signers, and every file
    under ``evals/`` but tool caches and hidden files."""
    named = [CONFIG_FILE, config.gate_file, config.eval_suite, *config.eval_suites.values()]
    signers = getattr(config, "allowed_signers", None)
    if isinstance(signers, str) and signers:
        named.append(signers)
    found = [rel for rel in listing if rel.startswith(POLICY_DIRS) and _governed(rel)]
    return sorted({*named, *found})


def _governed(rel: str) -> bool:
    parts = rel.split("/")
    hidden = any(p.startswith(".") or p in _SKIPPED_PARTS for p in parts)
    return not hidden and not rel.endswith(".pyc")


def governed_paths(repo: Repo, config: ProjectConfig | None = None) -> list[str]:
    """The policy files of the repository under ``config`` (default: its own).

    Raises:
        UnsafePath: the config names a file outside the repository.
    """
    paths = governed_set(config or repo.config, repo.files_under(POLICY_DIRS))
    for rel in paths:
        repo.path(rel)  # refuses a path that escapes the repository
    return paths


def digests(repo: Repo, paths: Iterable[str]) -> Digests:
    """The sha256 of each file's bytes now (None for a missing one)."""
    return {rel: file_digest(read_bytes(repo.path(rel))) for rel in sorted(set(paths))}


def policy_in_force(repo: Repo) -> tuple[int, Digests] | None:
    """The entry that recorded the policy in force and its digests (None: none recorded)."""
    return load_index(repo.root).policy


def drift(repo: Repo) -> PolicyDrift:
    """The governed files now against the policy in force (read-only)."""
    index = load_index(repo.root)
    seq, recorded = index.policy if index.policy is not None else (None, {})
    current = digests(repo, [*governed_paths(repo), *recorded])
    return PolicyDrift(seq, recorded, current, committing=index.committing)


def describe(changes: Iterable[FileChange]) -> str:
    """``ci/eval-gate.yml changed, evals/new.yml added``."""
    return ", ".join(f"{c.path} {c.kind}" for c in changes)


def require_policy_in_force(repo: Repo) -> None:
    """Refuse to decide while a governed policy file differs from the policy in force.

    Every command whose decision reads ``promptgov.yml``, the gate file or a suite calls
    this first, before it writes anything.

    Raises:
        CheckFailed: a file changed without a recorded policy change, or the log records
            no policy at all.
    """
    state = drift(repo)
    if not state.committing:
        return  # a log written before entries carried state commitments
    if state.seq is None:
        raise CheckFailed(
            "the audit log records no policy files (it predates policy commitments), so "
            "nothing is decided on them; adopt the current files as an approved policy change.",
            cli_hint="Run 'promptgov policy propose', then approve and apply it.",
        )
    changes = state.changes
    if changes:
        raise CheckFailed(
            f"the policy differs from what audit entry #{state.seq} put in force "
            f"({describe(changes)}), so nothing was decided: restore the files, or have the "
            "change approved and applied as a policy change.",
            cli_hint="Run 'promptgov policy propose' (see 'promptgov policy status').",
            file=changes[0].path,
        )


def stage_files(e: Edit, repo: Repo, paths: Iterable[str]) -> Digests:
    """Keep each existing file's bytes in the object store; their digests."""
    out: Digests = {}
    for rel in sorted(set(paths)):
        data = read_bytes(repo.path(rel))
        out[rel] = None if data is None else e.put_file(data)
    return out


def recorded_bytes(repo: Repo, rel: str, sha: str | None) -> bytes | None:
    """The bytes a policy record kept for ``rel`` (None: the record has no such file).

    Raises:
        IntegrityError: the kept bytes are missing or altered.
    """
    if sha is None:
        return None
    try:
        return repo.store.objects.get_file(sha)
    except IntegrityError as exc:
        raise IntegrityError(
            f"the recorded {rel} ({sha[:12]}…) is missing or altered in {OBJECTS_DIR}, so the "
            "policy it belongs to cannot be read. Restore the object store from git.",
            sha256=sha,
        ) from exc


def recorded_config(repo: Repo, policy: Mapping[str, str | None]) -> ProjectConfig:
    """The ``promptgov.yml`` a policy record kept, validated.

    Raises:
        IntegrityError: its bytes are missing or altered.
        InvalidFile: they are not a valid config.
    """
    data = recorded_bytes(repo, CONFIG_FILE, policy.get(CONFIG_FILE))
    if data is None:
        raise IntegrityError(f"the recorded policy has no {CONFIG_FILE}; it cannot be read.")
    label = f"{CONFIG_FILE} as recorded"
    config: ProjectConfig = validate_model(ProjectConfig, _yaml.loads(data, label) or {}, label)
    return config
