"""``promptgov verify``: re-hash every stored version and check every file against its schema.

Read-only. Each problem names the file and what differs; the report is data so the
CLI, CI and the server can all render it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import _yaml, docs_gen, schemas
from ..errors import PromptGovError
from ..hashing import CARD_DOMAIN, CONTENT_DOMAIN, digest
from ..model import PromptEntry, VersionRegistry, validate_model
from ..post_review import post_reviews_due
from ..repo import Repo
from ..store.commitments import COMMITTED_DIRS, differing_fields, entry_digest, file_digest
from ..store.files import journal_pending, load_yaml, read_bytes
from ..store.objects import DOMAINS
from ..store.paths import AUDIT_FILE, CHANGELOG_FILE, CONFIG_FILE, GATE_FILE, REGISTRY_FILE

if TYPE_CHECKING:
    from ..audit._state import PromptState


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


@dataclass
class VerifyReport:
    """Everything ``verify`` checked and found."""

    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    """Governance debts that fail only a strict verify (an overdue post-review)."""
    strict: bool = False
    """Whether warnings were counted as problems."""

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def add(self, file: str, message: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(file, message))

    def warn(self, file: str, message: str) -> None:
        """Record a warning: a problem when the report is strict."""
        (self.problems if self.strict else self.warnings).append(Problem(file, message))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "strict": self.strict,
            "checked": self.checked,
            "problems": [{"file": p.file, "message": p.message} for p in self.problems],
            "warnings": [{"file": p.file, "message": p.message} for p in self.warnings],
        }


def verify(repo: Repo, *, strict: bool = False) -> VerifyReport:
    """Check objects, registry, change log, schemas, generated docs, the audit chain, and
    that git has every pointer move when publication is on.

    An overdue post-review of an emergency move is a warning, or with ``strict`` a problem.
    """
    report = VerifyReport(strict=strict)
    if journal_pending(repo.root):
        report.add(
            ".promptgov/journal.json",
            "an interrupted change is pending; run any promptgov write command "
            "(e.g. 'promptgov rollback --resume') to complete it",
        )
    for check in (
        _config,
        _registry,
        _objects,
        _changelog,
        _prompts,
        _schemas,
        _docs,
        _gate,
        _audit,
        _state,
        _signed,
        _policy_record,
        _git_record,
        _tokens,
    ):
        try:
            check(repo, report)
        except PromptGovError as exc:
            report.add(_CHECKED_FILE.get(check.__name__, check.__name__.strip("_")), exc.message)
    return report


#: The file a check reads, named when the check cannot read it at all.
_CHECKED_FILE = {
    "_config": CONFIG_FILE,
    "_registry": REGISTRY_FILE,
    "_changelog": CHANGELOG_FILE,
    "_gate": GATE_FILE,
    "_audit": AUDIT_FILE,
    "_tokens": "identity/tokens.yml",
}


def _config(repo: Repo, report: VerifyReport) -> None:
    repo.__dict__.pop("config", None)
    check_config_sections(repo)
    report.checked["config"] = 1


def check_config_sections(repo: Repo) -> None:
    """Validate the ``notifications:``, ``triggers:`` and ``server:`` sections of ``promptgov.yml``."""
    from ..identity import ServerPolicy
    from ..monitor import TriggersPolicy
    from ..notify import load_targets

    load_targets(repo.config.notifications)
    TriggersPolicy.from_mapping(repo.config.triggers, source="promptgov.yml")
    ServerPolicy.from_config(repo.config)


def _tokens(repo: Repo, report: VerifyReport) -> None:
    """Every API token must agree with the audit entry that created (or revoked) it."""
    from ..identity import TOKENS_FILE, check_tokens

    check = check_tokens(repo)
    for problem in check.problems:
        report.add(TOKENS_FILE, problem)
    report.checked["tokens"] = len(check.tokens)


def _registry(repo: Repo, report: VerifyReport) -> None:
    raw = read_bytes(repo.root / REGISTRY_FILE)
    if raw is None:
        report.add(REGISTRY_FILE, "missing")
        return
    import jsonschema

    data = _yaml.loads(raw, REGISTRY_FILE) or {}
    schema = json.loads(schemas.generate()["schemas/prompt-version-schema.schema.json"])
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path)
    )
    for err in errors[:5]:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        report.add(REGISTRY_FILE, f"schema violation at {where}: {err.message}")
    if errors:
        return
    reg: VersionRegistry = validate_model(VersionRegistry, data, REGISTRY_FILE)
    n = 0
    for name, entry in reg.prompts.items():
        seen: set[str] = set()
        for rec in entry.versions:
            n += 1
            if rec.version in seen:
                report.add(REGISTRY_FILE, f"{name}@{rec.version} is recorded twice")
            seen.add(rec.version)
            for sha, kind, domain in (
                (rec.sha256, "content", CONTENT_DOMAIN),
                (rec.card_sha256, "card", CARD_DOMAIN),
            ):
                rel = f".promptgov/objects/{sha[:2]}/{sha[2:]}.{kind}.json"
                data_b = read_bytes(repo.root / rel)
                if data_b is None:
                    report.add(rel, f"{kind} of {name}@{rec.version} is missing")
                elif digest(domain, data_b) != sha:
                    report.add(
                        rel,
                        f"{kind} of {name}@{rec.version} was altered: hashes to "
                        f"{digest(domain, data_b)[:12]}…, recorded {sha[:12]}…",
                    )
        for env, state in entry.environments.items():
            if state.current is not None and state.current not in seen:
                report.add(REGISTRY_FILE, f"{name} {env} points at unknown version {state.current}")
            if state.history and state.history[-1].version != state.current:
                report.add(REGISTRY_FILE, f"{name} {env} pointer disagrees with its last move")
        for due in post_reviews_due(name, entry.open_post_reviews()):
            if due.overdue_by is not None:
                report.warn(REGISTRY_FILE, due.warning)
    report.checked["versions"] = n


def _objects(repo: Repo, report: VerifyReport) -> None:
    n = 0
    for sha, kind, path in repo.store.objects:
        n += 1
        domain = DOMAINS.get(kind, CARD_DOMAIN)
        data = read_bytes(path)
        if data is not None and digest(domain, data) != sha:
            report.add(repo.rel(path), "object bytes do not match the hash in its name")
    report.checked["objects"] = n


def _changelog(repo: Repo, report: VerifyReport) -> None:
    entries = repo.changelog()
    for i, e in enumerate(entries, 1):
        if e.seq != i:
            report.add(CHANGELOG_FILE, f"entry {i} has sequence number {e.seq}")
            break
    report.checked["changelog"] = len(entries)


def _prompts(repo: Repo, report: VerifyReport) -> None:
    """Every working copy parses, matches its schema and declares exactly the variables it uses."""
    from ..registry import Registry

    registry = Registry(repo)
    names = repo.source_names()
    for name in names:
        try:
            registry.source(name)
        except PromptGovError as exc:
            report.add(f"prompts/{name}/prompt.yml", exc.message)
    for rel in repo.bad_source_dirs():
        report.add(rel, "not a valid prompt name: rename the directory (lowercase, '-', '_', '.')")
    report.checked["prompts"] = len(names)


def _signed(repo: Repo, report: VerifyReport) -> None:
    """Every signature verifies; unsigned decisions where signatures are required warn (the
    promotion refuses them; old ones predate the requirement: see 'promptgov keys')."""
    from ..signed_decisions import audit_signatures

    prompts = repo.store.registry()
    count = 0
    for f in audit_signatures(repo, prompts.items()):
        count += 1
        (report.warn if f.unsigned else report.add)(REGISTRY_FILE, f"{f.where}: {f.why}")
    report.checked["signatures"] = sum(
        1
        for entry in prompts.values()
        for r in entry.versions
        for a in r.approvals
        if a.signed is not None
    ) + sum(
        1
        for entry in prompts.values()
        for st in entry.environments.values()
        for m in st.history
        if m.signed is not None
    )


def _schemas(repo: Repo, report: VerifyReport) -> None:
    for rel, data in schemas.generate().items():
        if read_bytes(repo.root / rel) != data:
            report.add(rel, "stale or edited; regenerate with 'promptgov schema'")


def _docs(repo: Repo, report: VerifyReport) -> None:
    gate = load_yaml(repo.root / repo.config.gate_file, repo.config.gate_file)
    for rel, data in docs_gen.generate(repo.config, gate).items():
        if read_bytes(repo.root / rel) != data:
            report.add(rel, "stale or edited; regenerate with 'promptgov docs'")


def _gate(repo: Repo, report: VerifyReport) -> None:
    from ..gate import load_gate_config

    load_gate_config(repo)


def _audit(repo: Repo, report: VerifyReport) -> None:
    from ..audit import AuditLog

    result = AuditLog(repo.root).verify()
    report.checked["audit_entries"] = int(getattr(result, "entries", 0) or 0)
    for p in getattr(result, "problems", []):
        report.add("audit/artifact-audit-log.md", str(p))


def _state(repo: Repo, report: VerifyReport) -> None:
    """Replay the audit chain's state commitments against the registry, change log and files."""
    from ..audit import AuditLog
    from ..audit._state import replay

    chain = replay(AuditLog(repo.root).read())
    if not chain.committing:
        report.add(
            AUDIT_FILE,
            "the log does not commit to the state it records (written before state "
            "commitments), so the registry cannot be checked against it",
        )
        return
    # A file that cannot be read at all is reported by its own check; its state is not.
    try:
        raw = read_bytes(repo.root / REGISTRY_FILE)
        data = _yaml.loads(raw, REGISTRY_FILE) if raw is not None else None
        reg: VersionRegistry = validate_model(VersionRegistry, data or {}, REGISTRY_FILE)
    except PromptGovError:
        pass
    else:
        for name, entry in reg.prompts.items():
            _prompt_state(report, name, entry, chain.prompts.get(name))
        for name, p in chain.prompts.items():
            if name not in reg.prompts:
                report.add(REGISTRY_FILE, f"{name}, recorded by audit entry #{p.seq}, is missing")
    try:
        _changelog_state(repo, report, chain.changelog)
    except PromptGovError:
        pass
    _file_state(repo, report, chain.files)


def _prompt_state(
    report: VerifyReport, name: str, entry: PromptEntry, committed: PromptState | None
) -> None:
    if committed is None:
        report.add(REGISTRY_FILE, f"{name} is not recorded in the audit log")
        return
    if entry_digest(entry) == committed.entry:
        return
    found = len(report.problems)
    kinds: list[tuple[str, str, dict[str, Any], dict[str, tuple[int, dict[str, str]]]]] = [
        ("version", "@", {r.version: r for r in entry.versions}, committed.versions),
        ("environment", " ", dict(entry.environments), committed.environments),
        ("rollback", " rollback ", {r.id: r for r in entry.rollbacks}, committed.rollbacks),
    ]
    for kind, sep, records, digests in kinds:
        for key, rec in records.items():
            if key not in digests:
                report.add(REGISTRY_FILE, f"{name}{sep}{key}: {kind} not recorded in the audit log")
                continue
            seq, want = digests[key]
            fields = differing_fields(rec, want)
            if fields is not None:
                report.add(REGISTRY_FILE, f"{name}{sep}{key}: {_differ(fields, seq)}")
        for key, (seq, _) in digests.items():
            if key not in records:
                report.add(
                    REGISTRY_FILE, f"{name}{sep}{key}: {kind} of audit entry #{seq} is missing"
                )
    if len(report.problems) == found:
        report.add(REGISTRY_FILE, f"{name} differs from what audit entry #{committed.seq} recorded")


def _differ(fields: list[str], seq: int) -> str:
    what = (
        ", ".join(fields) + (" differ" if len(fields) > 1 else " differs") if fields else "differs"
    )
    return f"{what} from audit entry #{seq}"


def _changelog_state(
    repo: Repo, report: VerifyReport, committed: dict[int, tuple[int, dict[str, str]]]
) -> None:
    entries = {e.seq: e for e in repo.changelog()}
    for seq, (audit_seq, want) in sorted(committed.items()):
        entry = entries.get(seq)
        if entry is None:
            report.add(
                CHANGELOG_FILE, f"entry {seq}, recorded by audit entry #{audit_seq}, is missing"
            )
            continue
        fields = differing_fields(entry, want)
        if fields is not None:
            report.add(CHANGELOG_FILE, f"entry {seq}: {_differ(fields, audit_seq)}")
    for seq in sorted(set(entries) - set(committed)):
        report.add(CHANGELOG_FILE, f"entry {seq} is not recorded in the audit log")


def _file_state(
    repo: Repo, report: VerifyReport, committed: dict[str, tuple[int, str | None]]
) -> None:
    for rel, (seq, want) in sorted(committed.items()):
        have = file_digest(read_bytes(repo.root / rel))
        if want is None or have == want:
            continue
        what = "is missing" if have is None else "was changed"
        report.add(rel, f"{what} since audit entry #{seq} recorded it")
    for rel in repo.files_under(COMMITTED_DIRS):
        if rel not in committed:
            report.add(rel, "is not recorded in the audit log")


def _policy_record(repo: Repo, report: VerifyReport) -> None:
    """Each policy change met the policy before it; the files are the policy in force."""
    from ._policy_ledger import policy_problems

    problems, warnings = policy_problems(repo)
    for file, message in problems:
        report.add(file, message)
    for file, message in warnings:
        report.warn(file, message)


def _git_record(repo: Repo, report: VerifyReport) -> None:
    """With git publication on, the registry is not ahead of git (a crash in the git step)."""
    from ._publish import unpublished

    for file, message in unpublished(repo):
        report.add(file, message)
