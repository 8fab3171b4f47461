"""Git publication, the last step of every pointer move: recorded pending, then done once.

The unit of work that moves a pointer also writes a
:class:`~promptgov.model.Publication` under ``.promptgov/unpublished/``; after it has
committed, :func:`publish_all` commits the governed files, moves the environment's
deploy branch and tags it, and only then deletes the record. A crash or a git failure
in between leaves the record for ``promptgov rollback --resume`` (or the next
publication). Every git effect is looked up by its ``Promptgov-Audit-Seq`` trailer (the
tag by its name) before it is made, so finishing twice never makes a second commit or
tag. A git failure never undoes a promotion or rollback; it is returned as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import gitops
from ..errors import InputError, InvalidFile, PromptGovError, UnsafePath
from ..model import Publication, VersionRegistry, validate_model
from ..repo import Repo
from ..store import Edit
from ..store.files import fault_point, read_bytes
from ..store.paths import (
    AUDIT_FILE,
    CHANGELOG_FILE,
    CONFIG_FILE,
    EVAL_CONFIG_FILE,
    GATE_FILE,
    OBJECTS_DIR,
    PROMPTS_DIR,
    REGISTRY_FILE,
    UNPUBLISHED_DIR,
)

#: What a governance commit contains: the state it changed and everything its decision
#: read (the config, the gate file, the eval suites and the eval outputs).
GOVERNED_PATHS = [
    REGISTRY_FILE,
    CHANGELOG_FILE,
    AUDIT_FILE,
    OBJECTS_DIR,
    PROMPTS_DIR,
    "logs",
    CONFIG_FILE,
    GATE_FILE,
    EVAL_CONFIG_FILE.rsplit("/", 1)[0],
    "audit/checkpoints.jsonl",
    ".gitattributes",
]
#: The trailer that ties a commit to the audit entry of its move.
SEQ_TRAILER = "Audit-Seq"
#: How far before its record a commit may be dated (clock steps) and still be found.
_CLOCK_SLACK = timedelta(hours=1)


@dataclass
class Published:
    """What one publication did in git (or why it is still pending)."""

    publication: Publication
    commit: str | None = None
    branch: str | None = None
    tag: str | None = None
    done: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "publication": self.publication.model_dump(mode="json"),
            "commit": self.commit,
            "branch": self.branch,
            "tag": self.tag,
            "done": self.done,
            "warnings": self.warnings,
        }


def enabled(repo: Repo) -> bool:
    """Whether moves are published: ``git.commit`` is on and the repository is a work tree."""
    return repo.config.git.commit and gitops.is_git_repo(repo.root)


def record_path(seq: int) -> str:
    """Where the pending publication of the move audited as ``seq`` is kept."""
    return f"{UNPUBLISHED_DIR}/{seq}.json"


def stage(e: Edit, repo: Repo, pub: Publication) -> None:
    """Record ``pub`` as pending in the move's own unit of work (when publication is on)."""
    if enabled(repo):
        e.write(record_path(pub.audit_seq), pub.model_dump_json(indent=2).encode() + b"\n")


def pending(repo: Repo, prompt: str | None = None) -> list[Publication]:
    """The publications recorded and not yet done, oldest move first."""
    folder = repo.root / UNPUBLISHED_DIR
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob("*.json"):
        rel = f"{UNPUBLISHED_DIR}/{path.name}"
        if gitops.is_tracked(repo.root, rel):  # like the journal: it never leaves its machine
            raise UnsafePath(
                f"{rel} is tracked by git, so it came from a commit, not from this work tree; "
                "it was not published. Untrack it in git and delete the file.",
                cli_hint=f"Run 'git rm --cached {rel}' and delete the file.",
            )
        raw = None if path.is_symlink() else read_bytes(path)
        try:
            pub = Publication.model_validate_json(raw) if raw is not None else None
        except ValueError:
            pub = None
        if pub is None or rel != record_path(pub.audit_seq):
            raise InvalidFile(
                f"{rel} is not a pending git publication; delete it and commit the governed "
                "files by hand."
            )
        if prompt is None or pub.prompt == prompt:
            out.append(pub)
    return sorted(out, key=lambda p: p.audit_seq)


def publish_all(repo: Repo, prompt: str | None = None) -> list[Published]:
    """Publish every pending move (of ``prompt``, or all), oldest first, under the lock.

    Each finished record is deleted in one unit of work; one whose git step failed stays
    pending and its :class:`Published` carries the warning.
    """
    if not (repo.root / UNPUBLISHED_DIR).is_dir():
        return []
    results: list[Published] = []
    try:
        with repo.edit() as e:  # the lock: concurrent publishers finish each record once
            todo = pending(repo, prompt)
            live = enabled(repo) if todo else False
            results = [_publish(repo, pub) for pub in todo] if live else []
            for pub in todo:  # done, or publication was turned off: nothing is left
                if not live or any(r.done and r.publication is pub for r in results):
                    e.txn.delete(record_path(pub.audit_seq))
    except PromptGovError as exc:
        committed = exc.context.get("committed")
        if committed is None or not results:
            raise
        cause = exc.__cause__
        detail = (cause.strerror if isinstance(cause, OSError) else None) or exc.message
        names = ", ".join(
            f"{r.publication.action} of {r.publication.prompt} in "
            f"{r.publication.env} (audit #{r.publication.audit_seq})"
            for r in results
            if r.done
        )
        state = (
            f"; clearing its pending-publication record is committed but not fully "
            f"written ({detail})"
            if committed
            else f", but its pending-publication record could not be cleared ({detail})"
        )
        raise InputError(
            f"git has the {names}{state}. Free space, then resume the rollback.",
            cli_hint="Run 'promptgov rollback --resume'.",
            committed=committed,
        ) from exc
    return results


def publish_own(repo: Repo, seq: int) -> tuple[str | None, list[str]]:
    """Publish what is pending, and return the commit of the move audited as ``seq`` and
    every warning."""
    results = publish_all(repo)
    commit = next((r.commit for r in results if r.publication.audit_seq == seq), None)
    return commit, [w for r in results for w in r.warnings]


def governed_paths(repo: Repo, prompt: str | None = None) -> list[str]:
    """The paths a governance commit of ``prompt`` contains (those that exist): the state
    and every file its decision read, including a gate file or suite moved by the config."""
    extra = [repo.config.gate_file]
    if prompt is not None:
        suite = repo.config.suite_for(prompt)
        extra += [suite, suite.rsplit("/", 1)[0] if "/" in suite else suite]
    paths = dict.fromkeys([*GOVERNED_PATHS, *extra])
    return [p for p in paths if not p.startswith("/") and (repo.root / p).exists()]


def commit_entry(
    repo: Repo, seq: int, action: str, prompt: str, env: str | None, reason: str
) -> str | None:
    """Commit an audit entry written after its move was published (an automatic
    rollback's settlement), when publication is on; the commit, or None.

    Raises:
        PromptGovError: git refused.
    """
    if not enabled(repo):
        return None
    message = gitops.structured_message(
        action=action, prompt=prompt, env=env, reason=reason, extra={SEQ_TRAILER: str(seq)}
    )
    return gitops.commit_paths(repo.root, governed_paths(repo, prompt), message)


def _message(pub: Publication) -> str:
    return gitops.structured_message(
        action=pub.action,
        prompt=pub.prompt,
        env=pub.env,
        from_version=pub.from_version,
        to_version=pub.to_version,
        reason=pub.reason,
        authorized_by=pub.authorized_by,
        extra={SEQ_TRAILER: str(pub.audit_seq)},
    )


def _publish(repo: Repo, pub: Publication) -> Published:
    """Commit, move the deploy branch, tag — each only when git does not have it yet."""
    root, out, seq = repo.root, Published(pub), str(pub.audit_seq)
    since = (pub.recorded_at - _CLOCK_SLACK).replace(microsecond=0).isoformat()
    message = _message(pub)
    paths = governed_paths(repo, pub.prompt)
    env_cfg = repo.config.environment(pub.env)
    try:
        out.commit = gitops.find_trailer(root, "HEAD", SEQ_TRAILER, seq, since=since)
        if out.commit is None:
            fault_point("publish.before-commit")
            out.commit = gitops.commit_paths(
                root, paths, message, sign=repo.config.git.sign, signing_key=pub.signing_key
            )
            fault_point("publish.after-commit")
        if env_cfg is not None and env_cfg.deploy_branch:
            out.branch = branch = env_cfg.deploy_branch
            ref = f"refs/heads/{branch}"
            tip = gitops.find_trailer(root, ref, SEQ_TRAILER, seq, since=since)
            if tip is None:
                tip = gitops.update_deploy_branch(root, branch, paths, message)
                fault_point("publish.after-branch")
            if repo.config.git.tag_deploys:
                out.tag = tag = f"{pub.prompt}-{pub.env}-{pub.to_version}-{seq}"
                target = gitops.tag_target(root, tag)
                if target is None:
                    gitops.create_tag(root, tag, tip, message)
                elif target != tip:
                    out.warnings.append(
                        f"git: tag {tag!r} exists on another commit; promptgov never moves a tag."
                    )
        fault_point("publish.after-git")
    except PromptGovError as exc:
        out.warnings.append(
            f"git: {exc.message} The move stays recorded as unpublished; "
            "'promptgov rollback --resume' retries it."
        )
        return out
    out.done = True
    return out


def unpublished(repo: Repo) -> list[tuple[str, str]]:
    """(file, problem) for every pointer move that git does not have, when publication is on.

    A pending publication is one problem; otherwise an environment's last move must be
    named (by its audit sequence number, or a later one) by a commit on HEAD and, for
    an environment with a deploy branch, on that branch.
    """
    if not enabled(repo):
        return []
    root = repo.root
    todo = pending(repo)
    out = [
        (
            record_path(p.audit_seq),
            f"{p.action} of {p.prompt} in {p.env} (audit #{p.audit_seq}) is not in git yet; "
            "run 'promptgov rollback --resume' to publish it",
        )
        for p in todo
    ]
    covered = {(p.prompt, p.env) for p in todo}
    marks: dict[str, int | None] = {}

    def published(rev: str) -> int | None:
        if rev not in marks:
            value = gitops.last_trailer(root, rev, SEQ_TRAILER)
            marks[rev] = int(value) if value and value.isdigit() else None
        return marks[rev]

    registry = repo.registry()
    committed: dict[tuple[str, str], int] | None = None
    for name in registry:
        for env, state in registry[name].environments.items():
            if not state.history or (name, env) in covered:
                continue
            last = state.history[-1]
            seq = last.audit_seq or 0
            where = f"{name} {env} moved to {last.version} (audit #{seq})"
            head = published("HEAD")
            if (head is None or seq > head) and "merge" not in marks:
                marks["merge"] = _merged_through(repo)
            merged = marks.get("merge")
            if merged is not None and seq <= merged:
                continue
            if head is None:  # never published by promptgov: compare with HEAD's registry
                if committed is None:
                    committed = _committed_moves(root)
                ahead = committed.get((name, env), 0) < len(state.history)
            else:
                ahead = seq > head
            if ahead:
                out.append(
                    (
                        REGISTRY_FILE,
                        f"{where}, but no commit on HEAD has it: the registry is ahead of its "
                        "git record; commit the governed files to publish it",
                    )
                )
                continue
            cfg = repo.config.environment(env)
            branch = cfg.deploy_branch if cfg is not None else None
            tip = published(f"refs/heads/{branch}") if branch else None
            if tip is not None and seq > tip:
                out.append(
                    (
                        REGISTRY_FILE,
                        f"{where}, but deploy branch {branch!r} does not have it; "
                        f"the next move of {env} brings the branch along",
                    )
                )
    return out


def _merged_through(repo: Repo) -> int | None:
    """The last ``merge`` entry of the log: a merge commit carries every move before it,
    whatever the trailers of the two histories' own commits number them."""
    from ..audit import AuditLog
    from .merge import merged_through

    return merged_through(list(AuditLog(repo.root).entries(action="merge")))


def _committed_moves(root: Path) -> dict[tuple[str, str], int]:
    """How many moves HEAD's committed registry records for each (prompt, environment)."""
    from .. import _yaml

    text = gitops.read_committed(root, "HEAD", REGISTRY_FILE)
    if text is None:
        return {}
    data = _yaml.loads(text.encode(), f"HEAD:{REGISTRY_FILE}") or {}
    reg: VersionRegistry = validate_model(VersionRegistry, data, f"HEAD:{REGISTRY_FILE}")
    return {
        (name, env): len(state.history)
        for name, entry in reg.prompts.items()
        for env, state in entry.environments.items()
    }
