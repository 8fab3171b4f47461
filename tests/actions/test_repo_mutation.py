"""Whole-repository mutation: every edit of every file is caught by verify or changes nothing.

A governed repository with releases, a complaint, a rollback, a quarantine and a failed gate
is built once. Then each file in it — the record, its objects and eval outputs, the caches,
the policy files, the working copy, the generated files — is deleted, has single fields
edited and has pairs of fields swapped, one mutation at a time on a fresh copy. Each
mutation must either be reported by ``promptgov verify`` naming that file, or leave the
next decisions exactly as they were: what the SDK serves, a promotion, a gate, the
rollback's choice of target, the policy in force and the status report.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

import promptgov
from promptgov.errors import PromptGovError

from .. import flows
from ..conftest import run_cli

PROMPT = flows.PROMPT
#: Mutations of each kind per file (leaf edits, swaps); every file is also deleted. The
#: registry and the change log, which decisions are made from, get more.
PER_FILE = 3
PER_DECISION_FILE = 10
DECISION_FILES = ("schemas/prompt-version-schema.yml", "schemas/prompt-change-log.yml")

#: The files of the governed record: any mutation of these must be named by verify.
RECORD = (
    "schemas/prompt-version-schema.yml",
    "schemas/prompt-change-log.yml",
    "schemas/*.schema.json",
    "audit/artifact-audit-log.md",
    "logs/evals/*/*.json",
    ".promptgov/objects/*/*",
    "promptgov.yml",
    "ci/eval-gate.yml",
    "evals/*",
    "docs/*.md",
)

#: Every file of the repository falls in one group; each group is one test.
GROUPS = {
    "registry and change log": ("schemas/*.yml",),
    "schemas": ("schemas/*.json",),
    "audit log": ("audit/*",),
    "objects": (".promptgov/objects/*/*",),
    "caches": (".promptgov/cache/*", ".promptgov/cache/*/*", ".promptgov/.gitignore"),
    "eval outputs": ("logs/evals/*/*",),
    "monitoring evidence": ("logs/*", "logs/*/*"),
    "policy": ("promptgov.yml", "ci/eval-gate.yml", "evals/*"),
    "working copy": ("prompts/*", "prompts/*/*"),
    "generated": ("docs/*", "ci/gitlab-ci.yml", ".github/*/*", ".pre-commit-config.yaml"),
    "git attributes": (".gitattributes",),
}


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.0.0 and 1.1.0 released, a complaint against 1.1.0 and a rollback of prod to 1.0.0
    (1.1.0 quarantined), then 1.2.0 without its safety line, whose dev gate fails."""
    root = tmp_path_factory.mktemp("mutation") / "repo"
    flows.two_releases(root)
    reg = promptgov.Registry(root)
    promptgov.report_complaint(
        reg,
        PROMPT,
        promptgov.ComplaintOptions(complaint="It promised a refund.", severity="high"),
        by="support-lead",
    )
    res = run_cli("rollback", PROMPT, "--env", "prod", "--reason", "refund promises",
                  "--authorized-by", "bob", "--repo", root)  # fmt: skip
    # exit 1: the checklist's "stakeholders notified" fails, as no target is configured
    assert res.exit_code == 1 and "Rolled back" in res.stdout, res.stdout + res.stderr
    assert promptgov.Registry(root).get(PROMPT, env="prod").version == "1.0.0+rollback"
    flows.add_version(root, "1.2.0", remove=[flows.SAFETY_LINE])
    flows.evaluate(root, "1.2.0")
    assert run_cli("gate", f"{PROMPT}@1.2.0", "--env", "dev", "--repo", root).exit_code == 1
    assert run_cli("verify", "--repo", root).exit_code == 0
    return root


def _decisions(root: Path) -> list[Any]:
    """What the next decisions would be: each as its outcome, printed output and error."""
    out: list[Any] = []
    try:
        served = promptgov.Registry(root).get(PROMPT, env="prod")
        out.append(("get", served.version, served.sha256))
    except PromptGovError as exc:
        out.append(("get refused", type(exc).__name__))
    for args in (
        ("promote", f"{PROMPT}@1.2.0", "--to", "dev", "--by", "alice", "--reason", "x"),
        ("promote", f"{PROMPT}@1.1.0", "--to", "prod", "--by", "alice", "--reason", "x"),
        ("rollback", PROMPT, "--env", "prod", "--dry-run", "--json"),
        ("gate", f"{PROMPT}@1.0.0", "--env", "staging", "--json"),
        ("policy", "status", "--json"),
        ("status", "--json"),
    ):
        res = run_cli(*args, "--repo", root)
        stdout = res.stdout
        if args[0] == "status" and res.exit_code == 0:
            rows = json.loads(stdout)
            for row in rows:
                row.pop("working_copy")  # reports the working copy, which is there to be edited
            stdout = json.dumps(rows)
        out.append((args[0], res.exit_code, stdout, res.stderr))
    return out


# --------------------------------------------------------------------------- mutations

Mutation = tuple[str, Callable[[Path], None]]


def _files(root: Path) -> list[str]:
    return sorted(
        rel
        for p in root.rglob("*")
        if p.is_file()
        and not (rel := p.relative_to(root).as_posix()).startswith(".git/")
        and rel != ".promptgov/lock"
    )


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    elif path:
        yield path, obj


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return "x" if value is None else f"{value}x"


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _structured(path: Path) -> Any:
    """The file's data when it is JSON or YAML with fields to change, else None."""
    if path.suffix not in (".json", ".yml", ".yaml"):
        return None
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict | list) else None


def _rewrite(rel: str, edit: Callable[[Any], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        data = _structured(path)
        edit(data)
        text = (
            json.dumps(data)
            if path.suffix == ".json"
            else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        )
        path.write_text(text)

    return apply


def _mutations(root: Path, rel: str) -> list[Mutation]:
    rng = random.Random(rel)
    out: list[Mutation] = [("deleted", lambda r: (r / rel).unlink())]
    data = _structured(root / rel)
    if data is None:
        raw = (root / rel).read_bytes()
        mid = len(raw) // 2
        flipped = raw[:mid] + bytes([raw[mid] ^ 1]) + raw[mid + 1 :] if raw else b"x"
        out.append(("one byte changed", lambda r: (r / rel).write_bytes(flipped)))
        out.append(("a line added", lambda r: (r / rel).write_bytes(raw + b"\nx\n")))
        return out
    leaves = dict(_leaves(data))
    n = PER_DECISION_FILE if rel in DECISION_FILES else PER_FILE
    for path in rng.sample(sorted(leaves, key=repr), min(n, len(leaves))):
        value = _changed(leaves[path])
        out.append((f"{path} edited", _rewrite(rel, lambda d, p=path, v=value: _set(d, p, v))))
    by_type: dict[type, list[tuple[Any, ...]]] = {}
    for path, value in leaves.items():
        by_type.setdefault(type(value), []).append(path)
    pairs = [
        (a, b)
        for paths in by_type.values()
        for a, b in zip(paths, paths[1:], strict=False)
        if leaves[a] != leaves[b]
    ]
    for a, b in rng.sample(pairs, min(n, len(pairs))):

        def swap(d: Any, a: tuple[Any, ...] = a, b: tuple[Any, ...] = b) -> None:
            _set(d, a, leaves[b])
            _set(d, b, leaves[a])

        out.append((f"{a} and {b} swapped", _rewrite(rel, swap)))
    return out


def _named_by_verify(root: Path, rel: str) -> bool:
    res = run_cli("verify", "--repo", root, "--json")
    if res.exit_code == 0:
        return False
    report = json.loads(res.stdout)
    if "problems" not in report:  # refused before checking: promptgov.yml missing or invalid
        return rel in report["error"]
    assert res.exit_code == 1, res.stdout
    return rel in {p["file"] for p in report["problems"]}


def _in(rel: str, globs: tuple[str, ...]) -> bool:
    """Whether ``rel`` matches one of ``globs``, part for part (``*`` never spans a ``/``)."""
    parts = rel.split("/")
    return any(
        len(g.split("/")) == len(parts)
        and all(fnmatch(p, q) for p, q in zip(parts, g.split("/"), strict=True))
        for g in globs
    )


def _copy(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.fixture(scope="module")
def baseline(governed: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    work = tmp_path_factory.mktemp("baseline")
    first = _decisions(_copy(governed, work / "a"))
    assert first == _decisions(_copy(governed, work / "b")), "the decisions are not repeatable"
    return first


def test_every_file_is_in_one_group(governed: Path) -> None:
    for rel in _files(governed):
        groups = [g for g, globs in GROUPS.items() if _in(rel, globs)]
        assert len(groups) == 1, (rel, groups)


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_mutation_is_named_by_verify_or_changes_no_decision(
    governed: Path, baseline: list[Any], tmp_path: Path, group: str
) -> None:
    files = [r for r in _files(governed) if _in(r, GROUPS[group])]
    assert files, group
    harmless: list[str] = []
    for rel in files:
        for what, mutate in _mutations(governed, rel):
            root = _copy(governed, tmp_path / "repo")
            mutate(root)
            if _named_by_verify(root, rel):
                continue
            assert not _in(rel, RECORD), f"{rel}: {what}: not named by verify"
            root = _copy(governed, tmp_path / "repo")
            mutate(root)
            assert _decisions(root) == baseline, f"{rel}: {what}: changed a decision unreported"
            harmless.append(f"{rel}: {what}")
    if group in ("caches", "working copy"):
        assert harmless, "a cache or working-copy edit should be harmless, not an error"
