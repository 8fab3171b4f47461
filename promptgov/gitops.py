"""Git operations through the ``git`` command; every git failure becomes a promptgov error here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import Conflict, InputError, NotFound, UnsafePath

FALLBACK_NAME = "promptgov"
FALLBACK_EMAIL = "promptgov@localhost"
TRAILER_PREFIX = "Promptgov-"
SUBJECT_MAX = 72
#: Seconds any one git command may take; a hung hook or remote fails instead of stalling.
GIT_TIMEOUT = 120.0
_AUTHOR_RE = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*$")
_TRAILER_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Stable, parseable output and never an interactive prompt, whatever the user's setup.
_BASE_ENV = {
    "LC_ALL": "C",
    "LANGUAGE": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_OPTIONAL_LOCKS": "0",
}


# -- the one boundary ------------------------------------------------------------------------


def _run(
    root: Path,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = GIT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C root args``; a non-zero exit becomes a promptgov error when ``check``."""
    full_env = {**os.environ, **_BASE_ENV, **(env or {})}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"git {args[0] if args else ''} did not finish within {timeout:g} s in {root}; "
            "check for a hung hook or an unreachable remote, then retry."
        ) from None
    except FileNotFoundError:
        raise InputError(
            "git is not installed (no 'git' on PATH); install git or set git.commit: false "
            "in promptgov.yml."
        ) from None
    except OSError as exc:
        raise InputError(f"cannot run git: {exc.strerror or exc}.") from exc
    if check and proc.returncode != 0:
        raise _translate(root, args, proc)
    return proc


def _translate(
    root: Path, args: Sequence[str], proc: subprocess.CompletedProcess[str]
) -> InputError:
    """The promptgov error for a failed git command, with git's own first error line."""
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    detail = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), None)
    detail = (detail or (lines[0] if lines else f"exit status {proc.returncode}")).rstrip(".")
    what = f"git {args[0]}" if args else "git"
    if "not a git repository" in detail:
        return NotFound(f"{root} is not inside a git repository; run 'git init' there first.")
    if "index.lock" in detail or ".lock': File exists" in detail:
        return Conflict(
            f"{what} failed: another git process is working in {root} ({detail}); "
            "retry when it has finished."
        )
    return InputError(f"{what} failed in {root}: {detail}.")


def _out(root: Path, args: Sequence[str], **kw: Any) -> str:
    return _run(root, args, **kw).stdout.strip()


# -- queries ---------------------------------------------------------------------------------


def is_git_repo(root: Path | str) -> bool:
    """True when ``root`` is inside a git work tree.

    Without a git executable, a directory is only reported as not a repository when
    no ``.git`` exists above it; otherwise the missing tool is the error.
    """
    root = Path(root)
    if not root.is_dir():
        return False
    if shutil.which("git") is None:
        if any((p / ".git").exists() for p in (root.resolve(), *root.resolve().parents)):
            _run(root, ["--version"])  # raises the "git is not installed" error
        return False
    proc = _run(root, ["rev-parse", "--is-inside-work-tree"], check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def is_tracked(root: Path | str, rel: str) -> bool:
    """True when git tracks ``rel`` (in the index or HEAD) in the repository at ``root``.

    False outside a git repository or without a git executable: there is nothing a
    clone could have carried in.
    """
    root = Path(root)
    if shutil.which("git") is None or not is_git_repo(root):
        return False
    proc = _run(root, ["ls-files", "--error-unmatch", "--", rel], check=False)
    return proc.returncode == 0


def _require_repo(root: Path) -> None:
    if not root.is_dir():
        raise NotFound(f"{root} does not exist or is not a directory.")
    if not is_git_repo(root):
        raise NotFound(f"{root} is not inside a git repository; run 'git init' there first.")


def _rev(root: Path, rev: str) -> str | None:
    """The object id ``rev`` names, or None when it does not exist."""
    proc = _run(root, ["rev-parse", "--verify", "--quiet", "--end-of-options", rev], check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def head(root: Path | str) -> str | None:
    """The commit HEAD points at, or None in a repository without commits yet."""
    root = Path(root)
    _require_repo(root)
    return _rev(root, "HEAD^{commit}")


def current_branch(root: Path | str) -> str | None:
    """The checked-out branch name, or None when HEAD is detached."""
    root = Path(root)
    _require_repo(root)
    proc = _run(root, ["symbolic-ref", "--quiet", "--short", "HEAD"], check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _prefix(root: Path) -> str:
    """``root``'s path inside its work tree (``""`` at the top, else ending in ``/``)."""
    return _out(root, ["rev-parse", "--show-prefix"])


def dirty_paths(root: Path | str, under: str | None = None) -> list[str]:
    """Paths (relative to ``root``) with uncommitted changes, staged or not, or untracked.

    Read-only: it takes no index lock, so it is safe beside the user's own git use.
    """
    root = Path(root)
    _require_repo(root)
    spec = [_rel(root, under) if under else "."]
    out = _run(
        root,
        ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", *spec],
    ).stdout
    prefix = _prefix(root)
    paths = []
    for entry in out.split("\0"):
        if len(entry) < 4:
            continue
        path = entry[3:]
        paths.append(path[len(prefix) :] if prefix and path.startswith(prefix) else path)
    return sorted(dict.fromkeys(paths))


def read_committed(root: Path | str, rev: str, rel: str) -> str | None:
    """The text of ``rel`` (relative to ``root``) as committed at ``rev``, or None when absent."""
    root = Path(root)
    _require_repo(root)
    spec = f"{rev}:{_prefix(root)}{_rel(root, rel)}"
    proc = _run(root, ["cat-file", "blob", spec], check=False)
    return proc.stdout if proc.returncode == 0 else None


def read_blob(root: Path | str, rev: str, rel: str) -> bytes | None:
    """The bytes of ``rel`` (relative to the work tree's top) at ``rev``, or None when absent."""
    root = Path(root)
    full_env = {**os.environ, **_BASE_ENV}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "cat-file", "blob", f"{rev}:{rel}"],
            capture_output=True,
            env=full_env,
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise InputError(f"cannot read {rel} at {rev[:12]} from git: {exc}.") from None
    return proc.stdout if proc.returncode == 0 else None


def merging_commits(root: Path | str, environ: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(base, ours, theirs) of the merge git is running a merge driver for, or None.

    ``git merge`` names the commit being merged in a ``GITHEAD_<id>`` variable of the
    driver's environment; a rebase or cherry-pick names the commit it picks last in
    ``rebase-merge/done``. Ours is HEAD; the base is the merge base (the picked commit's
    parent for a rebase). Git writes neither MERGE_HEAD nor REBASE_HEAD before the merge.
    """
    root = Path(root)
    heads = [k.removeprefix("GITHEAD_") for k in environ if k.startswith("GITHEAD_")]
    ours = _rev(root, "HEAD^{commit}")
    if ours is None:
        return None
    if len(heads) == 1 and re.fullmatch(r"[0-9a-f]{40,64}", heads[0]):
        theirs = heads[0]
        proc = _run(root, ["merge-base", "--all", ours, theirs], check=False)
        bases = proc.stdout.split() if proc.returncode == 0 else []
        return (bases[0], ours, theirs) if len(bases) == 1 else None
    git_dir = Path(_out(root, ["rev-parse", "--absolute-git-dir"]))
    try:
        done = (git_dir / "rebase-merge" / "done").read_text(errors="replace").splitlines()
    except OSError:
        return None
    words = done[-1].split() if done else []
    if len(words) < 2 or words[0] not in ("pick", "p"):
        return None
    picked = _rev(root, f"{words[1]}^{{commit}}")
    parent = _rev(root, f"{words[1]}^1^{{commit}}") if picked else None
    return (parent, ours, picked) if parent and picked else None


def config_get(root: Path | str, key: str) -> str | None:
    """The value of git config ``key`` in the repository at ``root``, or None when unset."""
    proc = _run(Path(root), ["config", "--get", key], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def has_remote(root: Path | str) -> bool:
    """True when the repository at ``root`` has a remote (something to pull from)."""
    return bool(_out(Path(root), ["remote"]))


def config_set(root: Path | str, key: str, value: str) -> None:
    """Set git config ``key`` in the repository's own (local) configuration."""
    root = Path(root)
    _require_repo(root)
    _run(root, ["config", "--local", key, value])


def work_tree_top(root: Path | str) -> Path:
    """The top directory of the git work tree holding ``root``."""
    root = Path(root)
    _require_repo(root)
    return Path(_out(root, ["rev-parse", "--show-toplevel"]))


def _trailer_names(key: str) -> list[str]:
    """``Promptgov-<key>``, and the doubled ``Promptgov-Promptgov-<key>`` older commits carry."""
    if not _TRAILER_KEY_RE.match(key):
        raise InputError(f"invalid commit trailer name {key!r}: use letters, digits, '-', '_'.")
    return [f"{TRAILER_PREFIX}{key}", f"{TRAILER_PREFIX}{TRAILER_PREFIX}{key}"]


def _trailer_log(
    root: Path, rev: str, key: str, value: str | None, *, limit: int, since: str | None
) -> list[tuple[str, list[str]]]:
    """(commit, values of trailer ``key``) of commits reachable from ``rev`` naming it, newest
    first; git's ``--grep`` preselects, the parsed trailers decide."""
    names = _trailer_names(key)
    if _rev(root, f"{rev}^{{commit}}") is None:
        return []
    wanted = re.escape(value) if value is not None else ".+"
    fmt = "%H%x02%(trailers:" + ",".join(f"key={n}" for n in names) + ",valueonly,separator=%x01)"
    args = ["log", f"-n{limit}", "-z", f"--format={fmt}", "-E"]
    args += [f"--grep=^({'|'.join(re.escape(n) for n in names)}): {wanted}$"]
    if since:
        args.append(f"--since={since}")
    out = _run(root, [*args, rev, "--"]).stdout
    found = []
    for record in out.split("\0"):
        commit, _, values = record.strip().partition("\x02")
        if commit:
            found.append((commit, [v.strip() for v in values.split("\x01") if v.strip()]))
    return found


def find_trailer(
    root: Path | str, rev: str, key: str, value: str, *, since: str | None = None
) -> str | None:
    """The newest commit reachable from ``rev`` whose ``Promptgov-<key>`` trailer is ``value``.

    None when there is none, or ``rev`` does not exist. ``since`` (a date git
    understands) bounds the walk. This is how a resumed publication tells that its
    commit was already made.
    """
    root = Path(root)
    _require_repo(root)
    for commit, values in _trailer_log(root, rev, key, value, limit=1_000_000, since=since):
        if value in values:
            return commit
    return None


def last_trailer(root: Path | str, rev: str, key: str) -> str | None:
    """The ``Promptgov-<key>`` trailer of the newest commit reachable from ``rev`` that has one."""
    root = Path(root)
    _require_repo(root)
    for _, values in _trailer_log(root, rev, key, None, limit=50, since=None):
        if values:
            return values[-1]
    return None


def tag_target(root: Path | str, tag: str) -> str | None:
    """The commit tag ``tag`` marks, or None when there is no such tag."""
    root = Path(root)
    _require_repo(root)
    _check_ref(root, "tag", tag)
    return _rev(root, f"refs/tags/{tag}^{{commit}}")


# -- identity --------------------------------------------------------------------------------


def _identity_args(root: Path) -> list[str]:
    """``-c user.name=… -c user.email=…`` for whatever identity git does not have."""
    args: list[str] = []
    for key, fallback, env_names in (
        ("user.name", FALLBACK_NAME, ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
        ("user.email", FALLBACK_EMAIL, ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL", "EMAIL")),
    ):
        if all(os.environ.get(n) for n in env_names[:2]):
            continue
        if key == "user.email" and os.environ.get("EMAIL"):
            continue
        proc = _run(root, ["config", "--get", key], check=False)
        if proc.returncode != 0 or not proc.stdout.strip():
            args += ["-c", f"{key}={fallback}"]
    return args


def _author_env(author: str | None) -> dict[str, str]:
    """GIT_AUTHOR_* for ``"Name <email>"`` (or a bare name, with promptgov's address)."""
    if not author:
        return {}
    match = _AUTHOR_RE.match(author)
    if match:
        return {"GIT_AUTHOR_NAME": match["name"], "GIT_AUTHOR_EMAIL": match["email"]}
    name = " ".join(author.replace("<", " ").replace(">", " ").split())
    if not name:
        raise InputError(f"invalid author {author!r}: use 'Name <email>' or a name.")
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": FALLBACK_EMAIL}


# -- commits on the current branch -----------------------------------------------------------


def _rel(root: Path, path: str | os.PathLike[str]) -> str:
    """``path`` relative to ``root`` (posix), refusing anything outside it."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(root.resolve())
        except ValueError:
            raise UnsafePath(f"{path} is outside the repository {root}.") from None
    rel = p.as_posix()
    if rel in ("", "."):
        return "."
    if ".." in p.parts or "\0" in rel:
        raise UnsafePath(f"{path} escapes the repository {root}; use a path inside it.")
    return rel


def commit_paths(
    root: Path | str,
    paths: Iterable[str | os.PathLike[str]],
    message: str,
    author: str | None = None,
    *,
    sign: bool = False,
    signing_key: str | None = None,
) -> str | None:
    """Commit the current content of ``paths`` (only them) on the checked-out branch.

    With ``sign`` the commit is SSH-signed (``gpg.format=ssh``) by ``signing_key`` (a key
    file, or a ``.pub`` ssh-agent holds), else by git's own ``user.signingKey``.

    Whatever else the user has staged stays staged and uncommitted. Returns the new
    commit's id, or None when those paths have nothing to commit. Hooks are skipped:
    the content already passed promptgov's own checks and a rollback must not be
    blocked or rewritten by a formatter. Without a configured git identity the
    commit is made as ``promptgov <promptgov@localhost>``.

    Raises:
        NotFound: ``root`` is not in a git repository, or a path is unknown to git.
        Conflict: another git process holds the index lock.
        InputError: git refused (ignored path, broken repository…), with git's reason.
    """
    root = Path(root)
    _require_repo(root)
    if not message.strip():
        raise InputError("a commit message is required.")
    specs = list(dict.fromkeys(_rel(root, p) for p in paths))
    if not specs:
        return None
    _stage(root, specs, env=None)
    changed = _run(root, ["diff", "--cached", "--quiet", "--", *specs], check=False)
    if changed.returncode == 0:
        return None
    if changed.returncode != 1:
        raise _translate(root, ["diff"], changed)
    _run(
        root,
        [
            *_identity_args(root),
            *_signing_args(sign, signing_key),
            "commit",
            "--quiet",
            "--no-verify",
            *(["-S"] if sign else []),
            "--only",
            "--allow-empty-message",
            "-m",
            message,
            "--",
            *specs,
        ],
        env=_author_env(author),
    )
    return _rev(root, "HEAD^{commit}")


def _signing_args(sign: bool, key: str | None) -> list[str]:
    """``-c gpg.format=ssh [-c user.signingKey=…]`` for an SSH-signed commit."""
    if not sign:
        return []
    args = ["-c", "gpg.format=ssh"]
    if key:
        args += ["-c", f"user.signingKey={os.path.abspath(key)}"]
    return args


def _stage(root: Path, specs: list[str], env: Mapping[str, str] | None) -> None:
    """``git add -A`` the paths into the index ``env`` selects, with clear errors."""
    proc = _run(root, ["add", "-A", "--", *specs], env=env, check=False)
    if proc.returncode == 0:
        return
    err = proc.stderr
    if "did not match any files" in err:
        missing = re.findall(r"pathspec '([^']*)' did not match", err)
        raise NotFound(
            f"cannot commit {', '.join(missing) or ' '.join(specs)}: not in the working tree "
            "and not tracked by git."
        )
    if "ignored by one of your .gitignore files" in err:
        raise InputError(
            f"cannot commit {' '.join(specs)}: ignored by .gitignore; un-ignore it or drop it "
            "from the paths promptgov commits."
        )
    raise _translate(root, ["add"], proc)


def structured_message(
    action: str,
    prompt: str,
    env: str | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
    reason: str | None = None,
    authorized_by: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A commit message: a subject line, the reason, and ``Promptgov-*`` trailers.

    The trailers (``Promptgov-Action: rollback``…) make governance commits findable
    with ``git log --format=%(trailers)`` and parseable by ``git interpret-trailers``.
    Values are flattened to one line each.
    """
    move = " -> ".join(v for v in (from_version, to_version) if v)
    subject = " ".join(
        part for part in (f"promptgov: {action}", prompt, f"in {env}" if env else "", move) if part
    )
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    trailers: list[tuple[str, Any]] = [
        ("Action", action),
        ("Prompt", prompt),
        ("Env", env),
        ("From", from_version),
        ("To", to_version),
        ("Authorized-By", authorized_by),
        ("Reason", reason),
    ]
    for key, value in (extra or {}).items():
        name = "-".join(w[:1].upper() + w[1:] for w in re.split(r"[_\s-]+", str(key)) if w)
        if not _TRAILER_KEY_RE.match(name):
            raise InputError(f"invalid commit trailer name {key!r}: use letters, digits, '-', '_'.")
        trailers.append((name, value))
    lines = [subject, ""]
    if reason:
        lines += [reason.strip(), ""]
    for key, value in trailers:
        if value is None or value == "":
            continue
        text = " ".join(str(value).split())
        lines.append(f"{TRAILER_PREFIX}{key}: {text}")
    return "\n".join(lines).rstrip() + "\n"


# -- deployment branches ---------------------------------------------------------------------


def _check_ref(root: Path, kind: str, name: str) -> None:
    if not name or name.startswith("-"):
        raise InputError(f"invalid {kind} name {name!r}.")
    args = (
        ["check-ref-format", "--branch", name]
        if kind == "branch"
        else [
            "check-ref-format",
            f"refs/tags/{name}",
        ]
    )
    if _run(root, args, check=False).returncode != 0:
        raise InputError(f"invalid {kind} name {name!r}: see 'git help check-ref-format'.")


def _checked_out_branches(root: Path) -> set[str]:
    out = _out(root, ["worktree", "list", "--porcelain"])
    return {ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("branch ")}


def update_deploy_branch(
    root: Path | str,
    branch: str,
    paths: Iterable[str | os.PathLike[str]],
    message: str,
    tag: str | None = None,
    *,
    annotate: bool = True,
    author: str | None = None,
    expected_tip: str | None = None,
) -> str:
    """Bring ``branch`` to the working tree's state of ``paths`` with a new commit on top.

    The branch only grows: the new commit's parent is the branch's current tip (the
    branch is created from HEAD when missing), nothing is forced and no history is
    rewritten. It is built in a temporary index, so the checked-out branch, the
    user's index and working tree are untouched. The ref moves by compare-and-swap
    (``git update-ref <new> <old>``): if anyone moved it meanwhile, or it is not at
    ``expected_tip`` when given, nothing changes. When those paths already match the
    tip, no commit is made (a missing branch then starts at HEAD itself). ``tag``
    (annotated unless ``annotate=False``) marks the resulting commit; an existing tag
    is never moved. Returns the tip's commit id.

    Raises:
        Conflict: the branch is checked out, moved meanwhile, or the tag exists.
        NotFound: not a git repository, or a path is unknown to git.
        InputError: invalid branch or tag name, or git refused, with git's reason.
    """
    root = Path(root)
    _require_repo(root)
    _check_ref(root, "branch", branch)
    if tag is not None:
        _check_ref(root, "tag", tag)
    ref = f"refs/heads/{branch}"
    if ref in _checked_out_branches(root):
        raise Conflict(
            f"branch {branch!r} is checked out; promptgov updates deployment branches only "
            "when no work tree uses them. Check out another branch there."
        )
    old = _rev(root, f"{ref}^{{commit}}")
    if expected_tip is not None and old != expected_tip:
        raise Conflict(
            f"branch {branch!r} is at {_short(old)}, not {_short(expected_tip)} as expected; "
            "someone else updated it. Re-run to build on the new tip."
        )
    if tag is not None and _rev(root, f"refs/tags/{tag}") is not None:
        raise Conflict(f"tag {tag!r} already exists; promptgov never moves a tag. Pick a new name.")
    base = old or _rev(root, "HEAD^{commit}")
    tree = _tree_with_paths(root, base, [_rel(root, p) for p in paths])
    if base is not None and tree == _rev(root, f"{base}^{{tree}}"):
        new = base
    else:
        parent = ["-p", base] if base else []
        new = _out(
            root,
            [*_identity_args(root), "commit-tree", tree, *parent, "-m", message],
            env=_author_env(author),
        )
    if new != old:
        subject = message.strip().splitlines()[0] if message.strip() else "deploy"
        proc = _run(
            root,
            ["update-ref", "-m", f"promptgov: {subject}", ref, new, old or ""],
            check=False,
        )
        if proc.returncode != 0:
            now = _rev(root, f"{ref}^{{commit}}")
            raise Conflict(
                f"branch {branch!r} moved while promptgov was updating it (expected "
                f"{_short(old)}, found {_short(now)}); nothing was changed. Re-run to build on "
                "the new tip."
            )
    if tag is not None:
        _create_tag(root, tag, new, message if annotate else None)
    return new


def _tree_with_paths(root: Path, base: str | None, specs: list[str]) -> str:
    """Tree id of ``base`` with ``specs`` replaced by their working-tree state."""
    git_dir = Path(_out(root, ["rev-parse", "--absolute-git-dir"]))
    index = git_dir / f"promptgov-index-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = {"GIT_INDEX_FILE": str(index)}
    prefix = _prefix(root)
    try:
        _run(root, ["read-tree", base] if base else ["read-tree", "--empty"], env=env)
        present = [
            s
            for s in specs
            if os.path.lexists(root / s)
            or (base is not None and _rev(root, f"{base}:{prefix}{s}".rstrip("/")) is not None)
        ]
        if present:
            _stage(root, present, env=env)
        return _out(root, ["write-tree"], env=env)
    finally:
        for leftover in (index, index.with_name(index.name + ".lock")):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass


def create_tag(root: Path | str, tag: str, commit: str, message: str | None = None) -> None:
    """Tag ``commit`` as ``tag`` (annotated with ``message`` when given); never moves a tag.

    Raises:
        Conflict: the tag exists.
        InputError: an invalid tag name, or git refused, with git's reason.
    """
    root = Path(root)
    _require_repo(root)
    _check_ref(root, "tag", tag)
    _create_tag(root, tag, commit, message)


def _create_tag(root: Path, tag: str, commit: str, message: str | None) -> None:
    args = (
        ["tag", tag, commit]
        if message is None
        else [
            *_identity_args(root),
            "tag",
            "-a",
            "-m",
            message,
            tag,
            commit,
        ]
    )
    proc = _run(root, args, check=False)
    if proc.returncode == 0:
        return
    if "already exists" in proc.stderr:
        raise Conflict(f"tag {tag!r} already exists; promptgov never moves a tag. Pick a new name.")
    raise _translate(root, ["tag"], proc)


# -- one remote shared by several clones ----------------------------------------------------


def clone(remote: str, dest: Path | str, *, timeout: float = GIT_TIMEOUT) -> Path:
    """Clone ``remote`` into ``dest`` (which must not exist yet, or be empty).

    Raises:
        Conflict: ``dest`` exists and is not empty.
        InputError: git could not clone, with git's reason.
    """
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Conflict(f"{dest} exists and is not empty; name a new directory for the clone.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run(dest.parent, ["clone", "--quiet", "--no-tags", "--", remote, str(dest)], timeout=timeout)
    return dest


def remote_url(root: Path | str, remote: str = "origin") -> str | None:
    """The URL ``remote`` fetches from, or None when there is no such remote."""
    return config_get(root, f"remote.{remote}.url")


def fetch(root: Path | str, branch: str, *, remote: str = "origin", timeout: float) -> str | None:
    """Fetch ``branch`` of ``remote`` into its remote-tracking ref; the commit it is at
    (None when the remote has no such branch).

    Raises:
        InputError: git could not reach the remote within ``timeout`` seconds, or refused.
    """
    root = Path(root)
    tracking = f"refs/remotes/{remote}/{branch}"
    proc = _run(
        root,
        ["fetch", "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:{tracking}"],
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        if "couldn't find remote ref" in proc.stderr:
            return None
        raise _translate(root, ["fetch"], proc)
    return _rev(root, f"{tracking}^{{commit}}")


def push(
    root: Path | str, commit: str, branch: str, *, remote: str = "origin", timeout: float
) -> bool:
    """Push ``commit`` to ``branch`` of ``remote`` as a fast-forward; False when the remote
    refused it (the branch moved, or a hook said no), so the caller fetches and decides.

    Raises:
        InputError: git could not reach the remote within ``timeout`` seconds.
    """
    root = Path(root)
    proc = _run(
        root,
        ["push", "--quiet", "--porcelain", remote, f"{commit}:refs/heads/{branch}"],
        timeout=timeout,
        check=False,
    )
    if proc.returncode == 0:
        return True
    if any(ln.startswith("!") for ln in proc.stdout.splitlines()):
        return False  # a per-ref refusal: non-fast-forward, a lost ref lock, a declining hook
    raise _translate(root, ["push"], proc)


def is_ancestor(root: Path | str, older: str, newer: str) -> bool:
    """True when ``older`` is ``newer`` or one of its ancestors."""
    proc = _run(Path(root), ["merge-base", "--is-ancestor", older, newer], check=False)
    return proc.returncode == 0


def reset_to(root: Path | str, commit: str, *, clean_ignored: bool = False) -> None:
    """Make the work tree exactly ``commit``: tracked files reset, untracked files removed
    (ignored ones too when ``clean_ignored``: a tree only promptgov writes in)."""
    root = Path(root)
    _run(root, ["reset", "--quiet", "--hard", commit])
    _run(root, ["clean", "-fdxq" if clean_ignored else "-fdq"])


def add_worktree(root: Path | str, dest: Path | str, commit: str) -> Path:
    """A second work tree of the repository at ``root``, detached at ``commit``, sharing
    its objects and refs (so a commit made there can be checked out here at once)."""
    root, dest = Path(root), Path(dest)
    _run(root, ["worktree", "prune"])
    _run(root, ["worktree", "add", "--quiet", "--force", "--detach", str(dest), commit])
    return dest


def git_dir(root: Path | str) -> Path:
    """The repository's own git directory (``.git`` of the main work tree)."""
    return Path(_out(Path(root), ["rev-parse", "--path-format=absolute", "--git-common-dir"]))


def _short(oid: str | None) -> str:
    return oid[:12] if oid else "(no branch)"


__all__ = [
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "add_worktree",
    "clone",
    "commit_paths",
    "config_get",
    "config_set",
    "create_tag",
    "current_branch",
    "dirty_paths",
    "fetch",
    "find_trailer",
    "git_dir",
    "has_remote",
    "head",
    "is_ancestor",
    "is_git_repo",
    "last_trailer",
    "merging_commits",
    "push",
    "read_blob",
    "read_committed",
    "remote_url",
    "reset_to",
    "structured_message",
    "tag_target",
    "update_deploy_branch",
    "work_tree_top",
]
