"""The prompt registry's read side: resolve references, read versions, status and history.

:class:`Registry` is what a Python user (and the CLI) reads through; the writes are the
actions in :mod:`promptgov.actions`. Every read of a version
goes through the object store, which re-checks the content hash, so tampered content
is never returned.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from .errors import InputError, NotFound
from .model import (
    SEMVER_RE,
    PromptCard,
    PromptContent,
    PromptEntry,
    PromptSource,
    VersionRecord,
    base_version,
    check_name,
    semver_key,
    utcnow,
    validate_model,
)
from .post_review import PostReviewDue, open_post_reviews
from .render import check_variables, render
from .repo import Repo
from .store.files import load_yaml
from .store.paths import PROMPTS_DIR
from .store.registry_file import Prompts, summary

Bump = Literal["patch", "minor", "major"]
#: What ``diff`` calls the working copy, ``prompts/<name>/prompt.yml``.
WORKING = "working"
#: The selector of the newest authored version: ``support-reply@latest``.
LATEST = "latest"
#: Where the first version of a prompt starts when no ``--version`` is given.
FIRST_VERSION = "1.0.0"


@dataclass(frozen=True)
class PromptVersion:
    """A resolved version: its record, verified content and card."""

    name: str
    record: VersionRecord
    content: PromptContent
    card: PromptCard

    @property
    def version(self) -> str:
        """The semantic version."""
        return self.record.version

    @property
    def sha256(self) -> str:
        """The content hash (log it beside every output)."""
        return self.record.sha256

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def render(self, **variables: Any) -> str | list[dict[str, str]]:
        """Render with strict variables (missing ones are an error)."""
        return render(self.content, variables, self.ref)

    def __repr__(self) -> str:
        return f"PromptVersion(name={self.name!r}, version={self.version!r}, sha256={self.sha256[:12]!r}…)"


@dataclass(frozen=True)
class PromptStatus:
    """One prompt at a glance."""

    name: str
    versions: int
    latest: str | None
    environments: dict[str, str | None]
    quarantined: list[str]
    working_copy: Literal["clean", "modified", "unregistered", "missing"]
    post_reviews: list[PostReviewDue] = field(default_factory=list)
    """Emergency moves waiting for their review, the earliest due first."""

    @property
    def serving_quarantined(self) -> dict[str, str]:
        """Environments that serve a quarantined version (env → version): a rollback in
        one environment leaves the others serving what it quarantined."""
        bad = set(self.quarantined)
        return {env: v for env, v in self.environments.items() if v is not None and v in bad}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self.__dict__,
            "post_reviews": [d.to_dict() for d in self.post_reviews],
            "serving_quarantined": self.serving_quarantined,
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One line of a prompt's timeline."""

    at: datetime
    kind: str
    version: str
    summary: str
    by: str
    env: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**self.__dict__, "at": self.at.isoformat()}


@dataclass(frozen=True)
class PromptDiff:
    """What changed between two versions of a prompt."""

    name: str
    a: str
    b: str
    template: list[str]
    parameters: list[tuple[str, Any, Any]]
    variables: list[str]
    card: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """True when nothing differs."""
        return not (self.template or self.parameters or self.variables or self.card)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "a": self.a,
            "b": self.b,
            "template": self.template,
            "parameters": [{"key": k, "a": x, "b": y} for k, x, y in self.parameters],
            "variables": self.variables,
            "card": [{"key": k, "a": x, "b": y} for k, x, y in self.card],
        }


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``name[@version|@env]`` → (name, selector)."""
    name, _, sel = ref.partition("@")
    try:
        check_name(name)
    except ValueError as exc:
        from .errors import UnsafePath

        raise UnsafePath(f"{exc}.") from None
    if "@" in ref and not sel:
        raise InputError(f"empty selector in {ref!r}: use name@version, name@env or name@latest.")
    return name, sel or None


def next_version(existing: list[str], bump: Bump) -> str:
    """The next release after the highest existing one (pre-releases count as their base)."""
    if not existing:
        return FIRST_VERSION
    top = max((base_version(v) for v in existing), key=semver_key)
    major, minor, patch = (int(x) for x in top.split("."))
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


class Registry:
    """The registry of a governed repository (default: found by walking up from the cwd)."""

    def __init__(self, path: Path | str | Repo | None = None) -> None:
        self.repo = path if isinstance(path, Repo) else Repo(path)

    def __repr__(self) -> str:
        return f"Registry(root={str(self.repo.root)!r})"

    # ------------------------------------------------------------------ lookups

    def entry(self, name: str, reg: Prompts | None = None) -> PromptEntry:
        """The registry entry of ``name``."""
        return self.repo.store.entry(name, reg)

    def record(self, name: str, version: str, reg: Prompts | None = None) -> VersionRecord:
        """The record of ``name@version``."""
        entry = self.entry(name, reg)
        for rec in entry.versions:
            if rec.version == version:
                return rec
        recent = ", ".join(r.version for r in entry.versions[-5:])
        raise NotFound(
            f"{name} has no version {version!r} (latest: {recent}).",
            cli_hint=f"See 'promptgov history {name}'.",
            prompt=name,
            version=version,
        )

    def resolve(self, ref: str, reg: Prompts | None = None) -> tuple[str, VersionRecord]:
        """``name``, ``name@version``, ``name@env`` or ``name@latest`` → (name, record).

        A bare name and ``@latest`` are the newest authored version (never a rollback
        version, which restores an older one).
        """
        name, sel = parse_ref(ref)
        entry = self.entry(name, reg)
        if sel is None or sel == LATEST:
            latest = entry.latest()
            if latest is None:
                raise NotFound(
                    f"{name} has no versions yet; register one first.",
                    cli_hint=f"Run 'promptgov add {name}'.",
                    prompt=name,
                )
            return name, latest
        if SEMVER_RE.match(sel):
            return name, self.record(name, sel, reg)
        env = self.repo.check_env(sel)
        current = entry.environments.get(env)
        if current is None or current.current is None:
            raise NotFound(
                f"{name} is not deployed to {env} yet; promote a version to {env} first.",
                cli_hint=f"Run 'promptgov promote {name}@<version> --to {env}'.",
                prompt=name,
                env=env,
            )
        return name, self.record(name, current.current, reg)

    def get(self, ref: str, *, env: str | None = None) -> PromptVersion:
        """A verified version: ``get("greet@1.2.0")``, ``get("greet", env="prod")``."""
        if env is not None:
            ref = f"{ref}@{env}"
        name, rec = self.resolve(ref)
        return PromptVersion(
            name=name,
            record=rec,
            content=self.repo.get_content(rec.sha256),
            card=self.repo.get_card(rec.card_sha256),
        )

    def names(self) -> list[str]:
        """Registered prompt names."""
        return sorted(self.repo.registry())

    # ------------------------------------------------------------------ working copy

    def source(self, name: str) -> PromptSource:
        """Parse and validate ``prompts/<name>/prompt.yml``."""
        path = self.repo.prompt_dir(name) / "prompt.yml"
        label = f"{PROMPTS_DIR}/{name}/prompt.yml"
        if not path.is_file():
            raise NotFound(
                f"no working copy at {label}; create it first.",
                cli_hint="See 'promptgov init --example' for one to start from.",
                prompt=name,
            )
        data = load_yaml(path, label)
        src: PromptSource = validate_model(PromptSource, data, label)
        check_variables(src.content(), label)
        return src

    # ------------------------------------------------------------------ reading

    def status(self, name: str | None = None, *, now: datetime | None = None) -> list[PromptStatus]:
        """Each prompt's latest version, environment pointers, working-copy state and open
        post-reviews (overdue as of ``now``, default: the current time).

        Reads only the registry index, never every version record, so it stays fast at
        any registry size.
        """
        prompts = self.repo.registry()
        if name is not None:
            self.entry(name, prompts)
        names = [name] if name else sorted(set(prompts) | set(self.repo.source_names()))
        envs = self.repo.config.env_names
        now = now or utcnow()
        out = []
        for n in names:
            info = prompts.summary(n) if n in prompts else summary(PromptEntry())
            out.append(
                PromptStatus(
                    name=n,
                    versions=info["versions"],
                    latest=info["latest"],
                    environments={e: info["envs"].get(e) for e in envs},
                    quarantined=info["quarantined"],
                    working_copy=self._working_copy_state(n, set(info["shas"])),
                    post_reviews=open_post_reviews(prompts, [n], now=now) if n in prompts else [],
                )
            )
        return out

    def post_reviews(
        self, name: str | None = None, *, overdue_only: bool = False, now: datetime | None = None
    ) -> list[PostReviewDue]:
        """Emergency moves waiting for another approver's review (``promptgov review``).

        Read from the registry index alone, so every command can afford to ask. ``now``
        (default: the current time) decides which are overdue.
        """
        prompts = self.repo.registry()
        if name is not None:
            self.entry(name, prompts)
        return open_post_reviews(
            prompts, [name] if name else None, overdue_only=overdue_only, now=now
        )

    def _working_copy_state(
        self, name: str, shas: set[str]
    ) -> Literal["clean", "modified", "unregistered", "missing"]:
        path = self.repo.prompt_dir(name) / "prompt.yml"
        if not path.is_file():
            return "missing"
        if not shas:
            return "unregistered"
        try:
            data = load_yaml(path)
            sha = validate_model(PromptSource, data, str(path)).content().sha256
        except InputError:
            return "modified"
        return "clean" if sha in shas else "modified"

    def history(self, name: str) -> list[HistoryEvent]:
        """The prompt's timeline: versions, eval runs, gate verdicts, approvals, pointer moves."""
        entry = self.entry(name)
        events: list[HistoryEvent] = []
        for r in entry.versions:
            kind = "rollback-version" if r.restored_from else "version"
            summary = r.message
            if r.restored_from:
                summary = f"restored from {r.restored_from} (rolled back from {r.rolled_back_from})"
            events.append(HistoryEvent(r.created_at, kind, r.version, summary, r.author))
            for run in r.eval_runs:
                events.append(
                    HistoryEvent(
                        run.at,
                        "eval",
                        r.version,
                        f"run {run.run_id}: {run.successes} passed, {run.failures} failed, "
                        f"{run.errors} errors ({run.pass_rate:.0%})",
                        run.by,
                    )
                )
            for g in r.gate_results:
                events.append(
                    HistoryEvent(
                        g.at,
                        "gate",
                        r.version,
                        f"gate {g.verdict.value} for {g.env}",
                        "gate",
                        g.env,
                    )
                )
            for a in r.approvals:
                events.append(
                    HistoryEvent(a.at, "approval", r.version, a.comment or "approved", a.by, a.env)
                )
            if r.quarantine:
                q = r.quarantine
                events.append(
                    HistoryEvent(q.at, "quarantine", r.version, f"{q.source}: {q.reason}", q.by)
                )
        for pr in entry.post_reviews:
            events.append(HistoryEvent(pr.at, "post-review", pr.version, pr.reason, pr.by, pr.env))
        for env, state in entry.environments.items():
            for m in state.history:
                events.append(
                    HistoryEvent(
                        m.at,
                        m.kind.value,
                        m.version,
                        f"{env}: {m.previous or '∅'} → {m.version}: {m.reason}",
                        m.by,
                        env,
                    )
                )
        events.sort(key=lambda e: e.at)
        return events

    def diff(self, name: str, a: str, b: str | None = None) -> PromptDiff:
        """Template, parameter, variable and card differences between two versions, or
        between version ``a`` and the working copy when ``b`` is None (or ``working``)."""
        va = self.get(f"{name}@{a}" if "@" not in a else a)
        label_a = va.version
        if b is None or b == WORKING:
            src = self.source(name)
            content_b, card_b, label_b = src.content(), src.card, WORKING
        else:
            vb = self.get(f"{name}@{b}" if "@" not in b else b)
            content_b, card_b, label_b = vb.content, vb.card, vb.version
        ca, cb = va.content, content_b

        def text(c: PromptContent) -> list[str]:
            if c.template is not None:
                return c.template.splitlines(keepends=True)
            return [f"[{m.role}]\n{m.content}\n" for m in c.messages or []]

        template = list(
            difflib.unified_diff(text(ca), text(cb), f"{name}@{label_a}", f"{name}@{label_b}")
        )
        pa = {"provider": ca.model.provider, **_flatten(ca.model.parameters)}
        pb = {"provider": cb.model.provider, **_flatten(cb.model.parameters)}
        params = [
            (k, pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)
        ]
        vars_a = {v.name: v for v in ca.variables}
        vars_b = {v.name: v for v in cb.variables}
        variables = [f"- {n}" for n in sorted(set(vars_a) - set(vars_b))]
        variables += [f"+ {n}" for n in sorted(set(vars_b) - set(vars_a))]
        variables += [f"~ {n}" for n in sorted(set(vars_a) & set(vars_b)) if vars_a[n] != vars_b[n]]
        da, db = va.card.model_dump(), card_b.model_dump()
        card = [(k, da[k], db[k]) for k in da if da[k] != db[k]]
        return PromptDiff(name, label_a, label_b, template, params, variables, card)

    def render(self, ref: str, variables: dict[str, Any]) -> str | list[dict[str, str]]:
        """Render a version with strict variables."""
        return self.get(ref).render(**variables)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, list) else v
    return out
