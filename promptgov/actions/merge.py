"""The git merge driver: two clones' governance histories merged into one verifying chain.

Git merges each conflicting file on its own, but the audit log, the registry, the change
log and the checkpoints only make sense together. So whichever of them git hands the
driver, it reads all of them at the three commits of the merge (the ancestor, ours and
theirs), computes the one merged state and writes that file's part of it: every call
computes the same result. One side is kept as it is; the other side's entries since the
ancestor are replayed on top, re-validated against the merged state (a real conflict is
refused, leaving git's ordinary conflicted merge), renumbered and re-chained, and a
closing ``merge`` entry commits to the merged registry. Ours is kept when that works;
when git would take a file of theirs unchanged (only they changed it) that the replay
would have to renumber, theirs is kept and ours replayed instead. See docs/team.md.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _yaml, gitops
from ..audit import CHECKPOINTS_FILE
from ..audit._rechain import MERGE_ACTION, new_records, rechain, shared_prefix
from ..errors import Conflict, InputError
from ..model import PromptEntry, VersionRegistry, validate_model
from ..store import registry_file
from ..store.merge3 import Sides, merge_changelog, merge_registry
from ..store.paths import AUDIT_FILE, CHANGELOG_FILE, REGISTRY_FILE, UNPUBLISHED_DIR

#: The driver's name in ``.gitattributes`` (``merge=promptgov``) and git config.
DRIVER = "promptgov"
#: The files the driver merges, together.
MERGED_FILES = (AUDIT_FILE, REGISTRY_FILE, CHANGELOG_FILE, CHECKPOINTS_FILE)
GITATTRIBUTES = ".gitattributes"
ATTRIBUTES = "".join(f"/{rel} merge={DRIVER}\n" for rel in MERGED_FILES)
_ATTR_HEADER = "# promptgov: merge governed state by replaying histories (docs/team.md)\n"


@dataclass(frozen=True)
class DriverOptions:
    """What git passes a merge driver: ``%O %A %B %P``."""

    ancestor: Path
    ours: Path
    """Where git reads the merged result from (it holds ours on entry)."""
    theirs: Path
    path: str
    """The file's path in the work tree."""


@dataclass
class DriverResult:
    """What one call of the driver did."""

    path: str
    order: str = "ours"
    """Whose history was kept as it is ("ours" or "theirs")."""
    replayed: int = 0
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "order": self.order,
            "replayed": self.replayed,
            "changed": self.changed,
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """One line for people."""
        if not self.replayed:
            return f"{self.path}: one side had no governance entries to replay"
        kept = "this clone's" if self.order == "ours" else "the other clone's"
        return f"{self.path}: kept {kept} history and replayed {self.replayed} entries on top"


@dataclass
class InstallResult:
    """What ``merge-driver install`` set."""

    driver: str
    attributes_added: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "driver": self.driver,
            "attributes_added": self.attributes_added,
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------- set-up


def driver_command() -> str:
    """The command git runs: this interpreter's promptgov, so no PATH is needed."""
    return f"{shlex.quote(sys.executable)} -m promptgov merge-driver run %O %A %B %P"


def attributes_text(existing: str | None) -> str | None:
    """``.gitattributes`` with the driver's lines added, or None when they are all there."""
    have = existing or ""
    missing = [ln for ln in ATTRIBUTES.splitlines(keepends=True) if ln.strip() not in have]
    if not missing:
        return None
    sep = "" if not have or have.endswith("\n") else "\n"
    return have + sep + (_ATTR_HEADER if _ATTR_HEADER not in have else "") + "".join(missing)


def install(root: Path | str) -> InstallResult:
    """Register the driver in this clone's git config and make sure ``.gitattributes``
    assigns it (the file is left for the user to commit).

    Git config is per clone: every clone runs this once.

    Raises:
        NotFound: ``root`` is not in a git repository.
    """
    root = Path(root)
    gitops.config_set(root, f"merge.{DRIVER}.name", "promptgov governed-state merge")
    command = driver_command()
    gitops.config_set(root, f"merge.{DRIVER}.driver", command)
    path = root / GITATTRIBUTES
    try:
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
        text = attributes_text(existing)
        if text is not None:
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {GITATTRIBUTES}: {exc.strerror or exc}.") from exc
    warnings = [f"{GITATTRIBUTES} changed: commit it so every clone uses the driver"] * bool(text)
    return InstallResult(command, text is not None, warnings)


def driver_warning(root: Path | str) -> str | None:
    """A warning when ``.gitattributes`` names the driver but this clone, which has a remote
    to pull from, has not registered it (git would merge the audit log as text)."""
    root = Path(root)
    try:
        text = (root / GITATTRIBUTES).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if f"merge={DRIVER}" not in text or not gitops.is_git_repo(root):
        return None
    if gitops.config_get(root, f"merge.{DRIVER}.driver") or not gitops.has_remote(root):
        return None
    return (
        f"{GITATTRIBUTES} assigns the '{DRIVER}' merge driver but this clone has not registered "
        "it, so a pull would merge the audit log as text; register it once per clone "
        "(docs/team.md)"
    )


# ---------------------------------------------------------------------------- the driver


def run_driver(
    root: Path | str, options: DriverOptions, environ: Mapping[str, str]
) -> DriverResult:
    """Merge ``options.path`` as part of the whole governed state and write it to ``ours``.

    Raises:
        Conflict: a real conflict, or a merge the driver cannot see whole; ``ours`` is left
            as it was, so git reports the file as conflicted.
    """
    top = Path(root)
    rel, prefix = _governed_path(options.path)
    if (top / prefix / UNPUBLISHED_DIR).is_dir() and any(
        (top / prefix / UNPUBLISHED_DIR).iterdir()
    ):
        raise Conflict(
            "cannot merge governed state while pointer moves of this clone are not yet "
            "published to git; publish them first, then pull again."
        )
    commits = gitops.merging_commits(top, environ)
    if commits is None:
        raise Conflict(
            f"cannot merge {options.path}: the driver could not tell which commits git is "
            "merging (only 'git merge', 'git pull' and 'git pull --rebase' are supported)."
        )
    trees = [{f: gitops.read_blob(top, c, prefix + f) for f in MERGED_FILES} for c in commits]
    given = [_read(p) for p in (options.ancestor, options.ours, options.theirs)]
    if any(tree[rel] != blob for tree, blob in zip(trees, given, strict=True)):
        raise Conflict(
            f"cannot merge {options.path}: git's three versions of it are not the committed "
            "ones of the merge (a merge of several merge bases?)."
        )
    base, ours, theirs = trees
    labels = (f"HEAD ({commits[1][:10]})", f"commit {commits[2][:10]}")
    actor = _actor(top)
    merged, result = _merge(base, ours, theirs, labels, actor, commits)
    data = merged[rel]
    result.path = options.path
    result.changed = data != given[1]
    try:
        options.ours.write_bytes(data or b"")
    except OSError as exc:
        raise InputError(f"cannot write the merged {rel}: {exc.strerror or exc}.") from exc
    return result


def _governed_path(path: str) -> tuple[str, str]:
    for rel in MERGED_FILES:
        if path == rel or path.endswith("/" + rel):
            return rel, path[: len(path) - len(rel)]
    raise InputError(
        f"{path} is not a file the promptgov merge driver merges ({', '.join(MERGED_FILES)})."
    )


def _read(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    return data or None


def _actor(top: Path) -> str:
    name = gitops.config_get(top, "user.name")
    email = gitops.config_get(top, "user.email")
    who = f"{name} <{email}>" if name and email else name or email
    return who or "promptgov merge-driver"


Tree = dict[str, bytes | None]


def _merge(
    base: Tree,
    ours: Tree,
    theirs: Tree,
    labels: tuple[str, str],
    actor: str,
    commits: tuple[str, str, str],
) -> tuple[Tree, DriverResult]:
    """The merged files, keeping ours when git's one-sided picks allow it, else theirs."""
    shared = shared_prefix(
        base[AUDIT_FILE] or b"", ours[AUDIT_FILE] or b"", theirs[AUDIT_FILE] or b"", labels
    )
    if not new_records(theirs[AUDIT_FILE] or b"", shared):
        return ours, DriverResult("", "ours")
    if not new_records(ours[AUDIT_FILE] or b"", shared):
        return theirs, DriverResult("", "theirs")
    problems = []
    for order in ("ours", "theirs"):
        first, second = (ours, theirs) if order == "ours" else (theirs, ours)
        names = labels if order == "ours" else labels[::-1]
        merged, replayed = _replay(base, first, second, names, shared, actor, commits)
        stranded = _stranded(base, ours, theirs, merged)
        if not stranded:
            return merged, DriverResult("", order, replayed)
        problems.append(stranded)
    raise Conflict(
        f"cannot merge: only one side changed {problems[0]} and only the other changed "
        f"{problems[1]}, and the merged history must renumber both; git would take them "
        "unmerged. Merge one clone's governance commits before making more in the other."
    )


def _stranded(base: Tree, ours: Tree, theirs: Tree, merged: Tree) -> str | None:
    """A file git takes from one side unchanged (without calling the driver) that the
    merged state needs different."""
    for rel in MERGED_FILES:
        if ours[rel] == base[rel] and merged[rel] != theirs[rel]:
            return rel
        if theirs[rel] == base[rel] and merged[rel] != ours[rel]:
            return rel
    return None


def _replay(
    base: Tree,
    first: Tree,
    second: Tree,
    names: tuple[str, str],
    shared: int,
    actor: str,
    commits: tuple[str, str, str],
) -> tuple[Tree, int]:
    """``first`` as it is with ``second``'s entries since the ancestor replayed on top."""
    log1, log2 = first[AUDIT_FILE] or b"", second[AUDIT_FILE] or b""
    replayed = new_records(log2, shared)
    sides = Sides(names[0], names[1], shared, len(new_records(log1, shared)))
    regs = [
        _registry(t[REGISTRY_FILE], label)
        for t, label in zip((base, first, second), ("the common ancestor", *names), strict=True)
    ]
    registry = merge_registry(regs[0], regs[1], regs[2], sides)
    changelog, renumbered = merge_changelog(
        base[CHANGELOG_FILE] or b"",
        first[CHANGELOG_FILE] or b"",
        second[CHANGELOG_FILE] or b"",
        sides,
    )
    dropped = _new_lines(base[CHECKPOINTS_FILE], second[CHECKPOINTS_FILE])
    first_seq, last_seq = shared + 1, shared + len(replayed)
    details: dict[str, Any] = {
        "base": commits[0],
        "kept": names[0],
        "replayed": {
            "from": names[1],
            "entries": [first_seq, last_seq],
            "now": [sides.remap(first_seq), sides.remap(last_seq)],
        },
    }
    if dropped:
        details["dropped_checkpoints"] = dropped
    log = rechain(
        log1,
        replayed,
        sides,
        renumbered,
        registry,
        actor=actor,
        reason=f"merged {len(replayed)} governance entries of {names[1]} onto {names[0]}",
        details=details,
    )
    merged: Tree = {
        AUDIT_FILE: log,
        REGISTRY_FILE: _render(registry, regs[1:], (first, second)),
        CHANGELOG_FILE: changelog if renumbered else first[CHANGELOG_FILE],
        CHECKPOINTS_FILE: first[CHECKPOINTS_FILE],
    }
    return merged, len(replayed)


def _registry(raw: bytes | None, label: str) -> dict[str, PromptEntry]:
    if raw is None:
        return {}
    data = _yaml.loads(raw, f"the registry of {label}") or {}
    reg: VersionRegistry = validate_model(VersionRegistry, data, f"the registry of {label}")
    return dict(reg.prompts)


def _render(
    registry: dict[str, PromptEntry],
    sides: list[dict[str, PromptEntry]],
    trees: tuple[Tree, Tree],
) -> bytes | None:
    """The registry's bytes: a side's own bytes when the merge is exactly that side."""
    for side, tree in zip(sides, trees, strict=True):
        if side == registry:
            return tree[REGISTRY_FILE]
    prompts = registry_file.Prompts(b"", {})
    for name, entry in registry.items():
        prompts = prompts.with_entry(name, entry)
    return registry_file.render(prompts)[0]


def _new_lines(base: bytes | None, side: bytes | None) -> int:
    return max(0, (side or b"").count(b"\n") - (base or b"").count(b"\n"))


def merged_through(entries: list[Any]) -> int | None:
    """The sequence number of the last ``merge`` entry of ``entries`` (audit entries)."""
    seqs = [e.seq for e in entries if e.action == MERGE_ACTION]
    return seqs[-1] if seqs else None
