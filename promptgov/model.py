"""The file formats of a governed repository, as pydantic models.

These models *are* the formats: JSON Schemas in ``schemas/*.schema.json`` are
generated from them, and every file is validated through them on read. Nothing
here touches the disk.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from .errors import InputError, InvalidFile
from .hashing import CARD_DOMAIN, CONTENT_DOMAIN, canonical_json, digest

#: Prompt names: lowercase words joined by ``-``/``_``/``.``; no separators, no ``..``.
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]{0,62}[a-z0-9])?\Z")
#: Names a Windows checkout cannot create (device names), refused on every platform.
RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
#: Semantic versions, with the build metadata rollback versions carry (``1.2.1+rollback``).
#: Numeric parts are bounded (9 digits) so a crafted version cannot overflow int parsing.
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"
    r"(?:-((?:0|[1-9]\d{0,8}|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d{0,8}|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
ENV_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}\Z")


# RFC 3339 times as one regular expression that Python's ``re``, ECMAScript (what
# check-jsonschema and most JSON Schema validators use) and the calendar all agree on: the
# schemas carry it as ``pattern`` and the models check it before parsing, so a time one
# side accepts the other accepts too (schemas and parsers agree).
_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9][0-9]|[1-9][0-9]{3})"
_LEAP = r"(?:[0-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP}-02-29)"
)
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"


def time_pattern(*, offset_required: bool, space: bool = False) -> str:
    """The regular expression (anchored, ECMAScript- and Python-compatible) of a time."""
    sep = "[T ]" if space else "T"
    offset = _OFFSET if offset_required else f"{_OFFSET}?"
    return f"^{_DATE}{sep}{_CLOCK}{offset}$"


def time_validator(*, offset_required: bool = True, space: bool = False) -> BeforeValidator:
    """Refuse every spelling of a time that :func:`time_json_schema` refuses.

    pydantic alone also takes Unix numbers, bare dates and ``t``/``z`` spellings, which a
    schema validator refuses. A ``datetime`` object passes as it is (built in Python, or
    read from an unquoted YAML timestamp) if it has an offset where one is required.
    """
    rx = re.compile(time_pattern(offset_required=offset_required, space=space))
    example = "2026-03-02T09:01:09Z" if offset_required else "2026-03-02T09:01:09"

    def check(value: Any) -> Any:
        if isinstance(value, datetime):
            if offset_required and value.tzinfo is None:
                raise ValueError(f"the time {value.isoformat()} needs an offset, e.g. {example}")
            return value
        if isinstance(value, str) and rx.fullmatch(value):
            return value
        raise ValueError(f"expected an RFC 3339 time such as {example}, got {value!r}")

    return BeforeValidator(check)


def time_json_schema(*, offset_required: bool = True, space: bool = False) -> WithJsonSchema:
    """The JSON Schema of the times :func:`time_validator` lets through."""
    schema: dict[str, Any] = {
        "type": "string",
        "pattern": time_pattern(offset_required=offset_required, space=space),
    }
    if offset_required and not space:
        schema["format"] = "date-time"
    return WithJsonSchema(schema)


#: A time with its offset (RFC 3339), as every governed file records it.
Timestamp = Annotated[datetime, time_validator(), time_json_schema()]
#: A content or card hash: 64 lowercase hex digits.
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
#: A prompt name as a mapping key: :func:`check_name` validates it, and the schema's
#: ``propertyNames`` states the same rule for JSON Schema validators.
PromptName = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^(?!.*\\.\\.)(?!(?:"
            + "|".join(sorted(RESERVED_NAMES))
            + ")(?:\\.|$))"
            + NAME_RE.pattern.removeprefix("^").replace(r"\Z", "$"),
        }
    ),
]


def utcnow() -> datetime:
    """The current time in UTC, to the microsecond."""
    return datetime.now(UTC)


def identity(who: str) -> str:
    """A person's name as recorded: NFKC-normalised and trimmed; control characters refused.

    ``carol``, ``carol `` and the full-width ``ｃａｒｏｌ`` are one person; compare with
    :func:`identity_key`, which also folds case.
    """
    norm = unicodedata.normalize("NFKC", who).strip()
    bad = next((c for c in norm if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise InputError(
            f"the name {norm!r} contains the control character U+{ord(bad):04X}; "
            "name people in plain text."
        )
    return norm


def identity_key(who: str) -> str:
    """What two names must share to be the same person (NFKC, trimmed, case-folded)."""
    return unicodedata.normalize("NFKC", who).strip().casefold()


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid prompt name, else raise ValueError saying why."""
    if (
        not isinstance(name, str)
        or not NAME_RE.match(name)
        or ".." in name
        or name.split(".")[0] in RESERVED_NAMES
    ):
        raise ValueError(
            f"invalid prompt name {name!r}: use lowercase letters, digits, '-', '_' or '.', "
            "no path separators and no '..'"
        )
    return name


def semver_key(version: str) -> tuple[Any, ...]:
    """Sort key implementing semver precedence (pre-releases before their release)."""
    m = SEMVER_RE.match(version)
    if not m:
        raise ValueError(f"invalid semantic version {version!r}")
    major, minor, patch, pre = int(m[1]), int(m[2]), int(m[3]), m[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, parts)


def base_version(version: str) -> str:
    """``1.2.1-rc.1+rollback`` → ``1.2.1``."""
    m = SEMVER_RE.match(version)
    if not m:
        raise ValueError(f"invalid semantic version {version!r}")
    return f"{m[1]}.{m[2]}.{m[3]}"


_FROZEN = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- prompt source


class ChatMessage(BaseModel):
    """One message of a chat template."""

    model_config = _FROZEN
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str


class Variable(BaseModel):
    """A variable the template expects."""

    model_config = _FROZEN
    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    description: str = ""
    required: bool = True
    default: str | None = None


class ModelSpec(BaseModel):
    """The model the prompt is written for, and its call parameters."""

    model_config = _FROZEN
    provider: str = Field(description="promptfoo-style provider id, e.g. openai:chat:gpt-4o-mini")
    parameters: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens…")


#: ``template`` xor ``messages``, as :meth:`PromptContent._one_template` checks it.
_ONE_TEMPLATE: dict[str, Any] = {
    "oneOf": [
        {"required": ["template"], "properties": {"template": {"type": "string"}}},
        {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
    ]
}


class PromptContent(BaseModel):
    """What a version's hash covers: template, model parameters and declared variables."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_ONE_TEMPLATE)
    template: str | None = Field(default=None, description="A plain-text template (Jinja2).")
    messages: list[ChatMessage] | None = Field(default=None, description="A chat template.")
    model: ModelSpec
    variables: list[Variable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_template(self) -> PromptContent:
        if (self.template is None) == (self.messages is None):
            raise ValueError("give exactly one of 'template' (text) or 'messages' (chat)")
        names = [v.name for v in self.variables]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"variables declared twice: {', '.join(sorted(dup))}")
        return self

    def canonical(self) -> bytes:
        """The canonical encoding the content hash is computed over."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    @property
    def sha256(self) -> str:
        """Content hash (domain-separated sha256 of :meth:`canonical`)."""
        return digest(CONTENT_DOMAIN, self.canonical())

    @property
    def template_texts(self) -> list[str]:
        """Every template string, for variable checks and rendering."""
        if self.template is not None:
            return [self.template]
        return [m.content for m in self.messages or []]


class PromptCard(BaseModel):
    """The prompt card: who owns the prompt, what it is for, what can go wrong."""

    model_config = _FROZEN
    owner: str = Field(description="Accountable owner (name, e-mail or @handle).")
    owners: list[str] = Field(default_factory=list, description="Further people to notify.")
    description: str = ""
    intended_use: str = ""
    known_risks: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    eval_suite: str = Field(
        default="evals/eval-config.promptfoo.yml",
        description="Eval suite (promptfoo config) relative to the repository root.",
    )

    def canonical(self) -> bytes:
        """The canonical encoding of the card."""
        return canonical_json(self.model_dump(mode="json"))

    @property
    def sha256(self) -> str:
        """Card hash."""
        return digest(CARD_DOMAIN, self.canonical())

    @property
    def all_owners(self) -> list[str]:
        """Owner first, then the others, without repeats."""
        return list(dict.fromkeys([self.owner, *self.owners]))


class PromptSource(BaseModel):
    """``prompts/<name>/prompt.yml``: the working copy an author edits."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_ONE_TEMPLATE)
    template: str | None = None
    messages: list[ChatMessage] | None = None
    model: ModelSpec
    variables: list[Variable] = Field(default_factory=list)
    card: PromptCard

    def content(self) -> PromptContent:
        """The hashed part of the source."""
        return PromptContent(
            template=self.template,
            messages=self.messages,
            model=self.model,
            variables=self.variables,
        )


# --------------------------------------------------------------------------- lifecycle


class LifecycleState(StrEnum):
    """States of a registered version; transitions live in :mod:`promptgov.lifecycle`."""

    CANDIDATE = "candidate"
    """Registered, not yet evaluated."""
    EVALUATED_PASSED = "evaluated-passed"
    """Its latest gate verdict is pass."""
    EVALUATED_FAILED = "evaluated-failed"
    """Its latest gate verdict is fail or inconclusive."""
    APPROVED = "approved"
    """Has at least one approval for some environment."""
    DEPLOYED = "deployed"
    """Currently pointed at by at least one environment."""
    SUPERSEDED = "superseded"
    """Was deployed, replaced by a newer version."""
    QUARANTINED = "quarantined"
    """Rolled back from or flagged: never chosen as last known good."""
    RETIRED = "retired"
    """Withdrawn for good."""

    def is_terminal(self) -> bool:
        """True for states with no way out."""
        return self is LifecycleState.RETIRED


class GateVerdict(StrEnum):
    """Outcome of applying ``ci/eval-gate.yml`` to eval results."""

    PASS = "pass"
    """Every check met its threshold."""
    FAIL = "fail"
    """At least one check failed."""
    INCONCLUSIVE = "inconclusive"
    """Too few results, or a regression test that cannot tell."""


class MoveKind(StrEnum):
    """Why an environment pointer moved."""

    PROMOTE = "promote"
    """A gated, approved promotion."""
    EMERGENCY = "emergency"
    """A promotion through the emergency path (post-review due, see ``promptgov review``)."""
    ROLLBACK = "rollback"
    """A rollback to the last known good version."""
    UNDO = "undo"
    """A rollback undone because its re-run gate failed."""


# --------------------------------------------------------------------------- registry records


class SignedStatement(BaseModel):
    """An in-toto Statement about a decision and the SSH signature over its exact bytes."""

    model_config = _FROZEN
    statement: str = Field(
        description="The in-toto Statement as canonical JSON: exactly the bytes signed."
    )
    signature: str = Field(description="Armored SSHSIG (namespace promptgov) over the statement.")
    dsse: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Base64 raw Ed25519 signature over the statement's DSSE PAE (Ed25519 keys).",
    )


def _unsigned(value: Any) -> bool:
    return value is None


#: A record's optional signature; left out of the file (and of its digest) when absent, so
#: records written before signatures hash as they always did.
Signed = Annotated[SignedStatement | None, Field(default=None, exclude_if=_unsigned)]


class EvalRunRef(BaseModel):
    """An eval run recorded against a content hash."""

    model_config = _FROZEN
    run_id: str
    sha256: str = Field(description="Content hash the run evaluated.")
    suite: str = Field(description="Eval config path, relative to the repository.")
    suite_sha256: str
    output: str = Field(description="promptfoo v3 JSON output under logs/.")
    output_sha256: str | None = Field(
        default=None, description="sha256 of the output file's bytes, checked on every read."
    )
    at: Timestamp
    by: str
    successes: int
    failures: int
    errors: int
    pass_rate: float
    cached: int = Field(default=0, description="Answers taken from the response cache.")
    scheduled: bool = False
    declared_model: str | None = Field(
        default=None, description="The provider id the version declares (its model.provider)."
    )
    providers: list[str] | None = Field(
        default=None,
        description="Provider ids that answered the version under test (None: not recorded).",
    )
    model_mismatch: list[str] = Field(
        default_factory=list,
        description="Of those, the ones that are not the declared model nor a stand-in for it "
        "(evaluated under evals.declared_model: allow).",
    )
    engine: str | None = Field(
        default=None,
        description="The engine that ran the suite: native or promptfoo (None: recorded before "
        "runs named their engine, by the native engine).",
    )
    signed: Signed = None

    @model_serializer(mode="wrap")
    def _omit_no_engine(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Runs recorded before the engine was named keep rendering (and hashing) the same.
        data: dict[str, Any] = handler(self)
        if self.engine is None:
            data.pop("engine", None)
        return data


class GateResult(BaseModel):
    """A gate verdict for one content hash, one gate file and one environment."""

    model_config = _FROZEN
    env: str
    verdict: GateVerdict
    sha256: str
    gate_sha256: str
    run_id: str
    baseline_version: str | None = None
    at: Timestamp
    report: str | None = Field(default=None, description="Gate report path under logs/.")
    by: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Who (or which CI job) ran the gate, when it was signed.",
    )
    signed: Signed = None


class Approval(BaseModel):
    """A recorded approval of a version for an environment."""

    model_config = _FROZEN
    env: str
    by: str
    at: Timestamp
    comment: str = ""
    accept_inconclusive: bool = False
    signed: Signed = None


class Quarantine(BaseModel):
    """Why a version must never be chosen as last known good."""

    model_config = _FROZEN
    reason: str
    by: str
    at: Timestamp
    source: Literal["rollback", "audit-flag", "complaint", "manual"] = "rollback"
    signed: Signed = None


class VersionRecord(BaseModel):
    """One registered, immutable version. Content lives in the object store under ``sha256``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # Rust's regex (pydantic-core) ends text with ``$`` where Python's ``re`` needs ``\Z``.
    version: Annotated[str, Field(pattern=SEMVER_RE.pattern.replace(r"\Z", "$"), max_length=128)]
    sha256: Sha256
    card_sha256: Sha256
    parent: str | None = None
    author: str
    created_at: Timestamp
    message: str = ""
    status: LifecycleState = LifecycleState.CANDIDATE
    eval_runs: list[EvalRunRef] = Field(default_factory=list)
    gate_results: list[GateResult] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    restored_from: str | None = Field(default=None, description="Set on rollback versions.")
    rolled_back_from: str | None = Field(default=None, description="Set on rollback versions.")
    quarantine: Quarantine | None = None
    retired: bool = False

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER_RE.match(v):
            raise ValueError(f"invalid semantic version {v!r}")
        return v

    def __repr__(self) -> str:
        return f"VersionRecord(version={self.version!r}, sha256={self.sha256[:12]!r}…)"


class PointerMove(BaseModel):
    """One move of an environment pointer, with who, when, why and the evidence."""

    model_config = _FROZEN
    seq: int
    version: str
    previous: str | None
    kind: MoveKind
    at: Timestamp
    by: str
    reason: str
    approvers: list[str] = Field(default_factory=list)
    gate_verdict: GateVerdict | None = None
    evidence: list[str] = Field(default_factory=list)
    audit_seq: int | None = None
    signed: Signed = None
    post_review_due: Timestamp | None = Field(
        default=None,
        description="Set on an emergency move: by when another approver must review it.",
    )

    @model_serializer(mode="wrap")
    def _omit_no_review(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Moves written before post-reviews existed keep rendering byte for byte the same,
        # so the registry cache still matches their blocks (store/registry_file.py).
        data: dict[str, Any] = handler(self)
        if self.post_review_due is None:
            data.pop("post_review_due", None)
        return data


class PostReview(BaseModel):
    """Another approver's review of an emergency move (``promptgov review``)."""

    model_config = _FROZEN
    env: str
    move_seq: int = Field(description="The reviewed move's ``seq`` in the env's history.")
    version: str = Field(description="The version the reviewed move put in place.")
    by: str
    at: Timestamp
    reason: str
    evidence: list[str] = Field(default_factory=list)
    audit_seq: int | None = None
    signed: Signed = None


class Environment(BaseModel):
    """An environment's pointer and its full history (oldest first)."""

    model_config = _FROZEN
    current: str | None = None
    history: list[PointerMove] = Field(default_factory=list)


class RollbackStatus(StrEnum):
    """Where a rollback is in its steps; written before each effect, settled after."""

    RESTORED = "restored"
    """Pointer moved to the rollback version; evals not yet re-run."""
    EVALUATED = "evaluated"
    """Evals re-run and gated; logging and notification pending."""
    LOGGED = "logged"
    """Audit log and change log written; notification pending."""
    COMPLETED = "completed"
    """Every step done."""
    UNDONE = "undone"
    """The re-run gate failed and the pointer was moved back."""

    def is_terminal(self) -> bool:
        """True when nothing is left to resume."""
        return self in (RollbackStatus.COMPLETED, RollbackStatus.UNDONE)


class RollbackRecord(BaseModel):
    """The ledger of one rollback: what it set out to do and how far it got."""

    model_config = _FROZEN
    id: str
    env: str
    rollback_of: str = Field(description="The version that was serving (now quarantined).")
    rollback_to: str = Field(description="The last known good version restored.")
    new_version: str = Field(description="The version recorded for the restore.")
    description: str
    reason: str
    authorized_by: str
    evidence: list[str] = Field(default_factory=list)
    started_at: Timestamp
    status: RollbackStatus
    emergency: bool = False
    skip_evals: bool = False
    forced: bool = False
    eval_run_id: str | None = None
    gate_verdict: GateVerdict | None = None
    audit_seq: int | None = None
    error: str | None = None
    notifications: list[dict[str, Any]] = Field(default_factory=list)


class Publication(BaseModel):
    """``.promptgov/unpublished/<audit seq>.json``: a pointer move recorded, not yet in git.

    Written in the move's own unit of work and deleted once the commit, the deploy
    branch and the tag exist, so a crash in the git step leaves it for
    ``promptgov rollback --resume``. Machine-local, like the journal: it says that this
    work tree is ahead of its git history.
    """

    model_config = _FROZEN
    action: str = Field(description="The commit's Promptgov-Action (promote, rollback…).")
    prompt: str
    env: str
    from_version: str | None = None
    to_version: str
    reason: str
    authorized_by: str
    audit_seq: int = Field(description="The audit entry the commit names (Promptgov-Audit-Seq).")
    rollback_id: str | None = None
    recorded_at: Timestamp
    signing_key: str | None = Field(
        default=None,
        exclude_if=_unsigned,
        description="The key that signed the decision; signs the commit when git.sign is on.",
    )


class PromptEntry(BaseModel):
    """A prompt's versions (oldest first), environment pointers and rollback ledger."""

    model_config = _FROZEN
    versions: list[VersionRecord] = Field(default_factory=list)
    environments: dict[str, Environment] = Field(default_factory=dict)
    rollbacks: list[RollbackRecord] = Field(default_factory=list)
    post_reviews: list[PostReview] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_no_reviews(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # As PointerMove: entries without post-reviews render as they did before them.
        data: dict[str, Any] = handler(self)
        if not self.post_reviews:
            data.pop("post_reviews", None)
        return data

    def latest(self) -> VersionRecord | None:
        """The newest authored version (a rollback version restores an older one, so it is
        never the latest)."""
        authored = [r for r in self.versions if r.restored_from is None] or self.versions
        return authored[-1] if authored else None

    def open_post_reviews(self) -> list[tuple[str, PointerMove]]:
        """(env, move) of every emergency move not reviewed yet, the earliest due first."""
        done = {(r.env, r.move_seq) for r in self.post_reviews}
        moves = [
            (env, m)
            for env, state in self.environments.items()
            for m in state.history
            if m.post_review_due is not None and (env, m.seq) not in done
        ]
        return sorted(moves, key=lambda em: (em[1].post_review_due or em[1].at, em[0]))


class VersionRegistry(BaseModel):
    """``schemas/prompt-version-schema.yml``: every prompt's versions and pointers."""

    model_config = _FROZEN
    schema_: Literal["promptgov/version-registry/v1"] = Field(
        default="promptgov/version-registry/v1", alias="schema"
    )
    prompts: dict[PromptName, PromptEntry] = Field(
        default_factory=dict,
        # pydantic states the key rule as patternProperties: refuse every other key too.
        json_schema_extra={"additionalProperties": False},
    )

    @field_validator("prompts")
    @classmethod
    def _names(cls, v: dict[str, PromptEntry]) -> dict[str, PromptEntry]:
        for name in v:
            check_name(name)
        return v


class ChangeLogEntry(BaseModel):
    """One entry of ``schemas/prompt-change-log.yml`` (append-only)."""

    model_config = _FROZEN
    seq: int
    time: Timestamp
    action: str
    prompt: str
    version: str
    env: str | None = None
    from_version: str | None = None
    summary: str
    author: str
    approvers: list[str] = Field(default_factory=list)
    gate_verdict: GateVerdict | None = None
    links: list[str] = Field(default_factory=list)
    audit_seq: int | None = None


# --------------------------------------------------------------------------- project config


class ApprovalPolicy(BaseModel):
    """Who must approve a version before it enters an environment."""

    model_config = _FROZEN
    required: int = Field(default=0, ge=0)
    approvers: list[str] = Field(
        default_factory=list, description="Names or '@group' references; empty means anyone."
    )
    allow_self_approval: bool = Field(
        default=False, description="Whether a version's author may approve it."
    )


class EnvironmentConfig(BaseModel):
    """One environment in promotion order."""

    model_config = _FROZEN
    name: Annotated[str, Field(pattern=ENV_RE.pattern.replace(r"\Z", "$"))]
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    allow_emergency: bool = True
    require_signatures: bool = Field(
        default=False,
        description="Approvals and pointer moves into this environment must carry valid SSH "
        "signatures by keys in the allowed-signers file.",
    )
    deploy_branch: str | None = Field(
        default=None, description="Git branch brought to this environment's state on each move."
    )

    @field_validator("name")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not ENV_RE.match(v):
            raise ValueError(f"invalid environment name {v!r}")
        return v


class GitConfig(BaseModel):
    """How promptgov uses git when the repository is a git work tree."""

    model_config = _FROZEN
    commit: bool = Field(default=True, description="Commit each governance action.")
    tag_deploys: bool = True
    sign: bool = Field(
        default=False, description="Sign promptgov's own commits with the deciding SSH key."
    )


class DeclaredModelPolicy(StrEnum):
    """What a governed eval does when the suite's providers are not the version's declared model."""

    REFUSE = "refuse"
    """Run nothing: the message names the declared model and the suite's other providers."""
    RUN = "run"
    """Evaluate the version on its declared provider and parameters; other prompts of the
    suite keep the suite's providers."""
    ALLOW = "allow"
    """Run the suite as written, record the mismatch in the run, and let the gate accept it."""


class EvalPolicy(BaseModel):
    """How governed eval runs treat the model a version declares (``evals:``)."""

    model_config = _FROZEN
    declared_model: DeclaredModelPolicy = Field(
        default=DeclaredModelPolicy.REFUSE,
        description="refuse (default), run or allow: evidence must come from the declared model.",
    )
    stand_ins: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per declared provider id, provider ids that may answer in its place "
        "(a local stub, a self-hosted copy); a run records which one answered.",
    )


class CIConfig(BaseModel):
    """How the CI files ``init`` writes install promptgov (``ci:``, see docs/ci.md)."""

    model_config = _FROZEN
    install: str | None = Field(
        default=None,
        max_length=500,
        description="The pip requirement the CI jobs install, e.g. 'promptgov==0.1.0' or "
        "'promptgov @ git+https://host/org/promptgov@v0.1.0'; unset: promptgov==<the version "
        "that wrote the CI files>.",
    )

    @field_validator("install")
    @classmethod
    def _one_requirement(cls, v: str | None) -> str | None:
        # One line, not a pip option: the spec is quoted into a shell command in CI.
        if v is not None and (
            not v.strip() or v.lstrip().startswith("-") or any(not c.isprintable() for c in v)
        ):
            raise ValueError(
                f"ci.install must be one pip requirement on one line, not an option: {v!r}"
            )
        return v


def _default_envs() -> list[EnvironmentConfig]:
    return [
        EnvironmentConfig(name="dev"),
        EnvironmentConfig(name="staging", approvals=ApprovalPolicy(required=1)),
        EnvironmentConfig(name="prod", approvals=ApprovalPolicy(required=1)),
    ]


class ProjectConfig(BaseModel):
    """``promptgov.yml``: environments, approvals, gate, notifications, triggers, git."""

    model_config = ConfigDict(frozen=True, extra="allow")
    project: str = "prompts"
    environments: list[EnvironmentConfig] = Field(default_factory=_default_envs, min_length=1)
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Named groups of people, referenced as '@group'."
    )
    gate_file: str = "ci/eval-gate.yml"
    eval_suite: str = Field(
        default="evals/eval-config.promptfoo.yml",
        description="The eval suite whose runs the gate accepts; a prompt card cannot pick another.",
    )
    eval_suites: dict[str, str] = Field(
        default_factory=dict, description="Per-prompt eval suites, by prompt name."
    )
    git: GitConfig = Field(default_factory=GitConfig)
    allowed_signers: str | None = Field(
        default=None,
        description="OpenSSH allowed-signers file (repository path) naming who may sign.",
    )
    notifications: list[dict[str, Any]] = Field(
        default_factory=list, description="Notification targets (see docs/notifications.md)."
    )
    triggers: dict[str, Any] = Field(
        default_factory=dict, description="Rollback trigger and drift policy."
    )
    evals: EvalPolicy = Field(
        default_factory=EvalPolicy,
        description="Which model governed eval runs evaluate (see docs/governance.md).",
    )
    ci: CIConfig = Field(
        default_factory=CIConfig, description="How the CI files install promptgov (docs/ci.md)."
    )

    @model_validator(mode="after")
    def _unique_envs(self) -> ProjectConfig:
        names = [e.name for e in self.environments]
        if len(set(names)) != len(names) or not names:
            raise ValueError("environments must be a non-empty list of unique names")
        return self

    def suite_for(self, prompt: str) -> str:
        """The eval suite the policy runs and gates ``prompt`` on."""
        return self.eval_suites.get(prompt, self.eval_suite)

    @property
    def env_names(self) -> list[str]:
        """Environment names in promotion order."""
        return [e.name for e in self.environments]

    def environment(self, name: str) -> EnvironmentConfig | None:
        """The named environment's config, or None."""
        return next((e for e in self.environments if e.name == name), None)


__all__ = [
    "Approval",
    "Signed",
    "SignedStatement",
    "ApprovalPolicy",
    "CIConfig",
    "ChangeLogEntry",
    "ChatMessage",
    "DeclaredModelPolicy",
    "Environment",
    "EnvironmentConfig",
    "EvalPolicy",
    "EvalRunRef",
    "GateResult",
    "GateVerdict",
    "GitConfig",
    "LifecycleState",
    "ModelSpec",
    "MoveKind",
    "PointerMove",
    "PostReview",
    "ProjectConfig",
    "PromptCard",
    "PromptContent",
    "PromptEntry",
    "PromptName",
    "PromptSource",
    "Publication",
    "Quarantine",
    "RollbackRecord",
    "RollbackStatus",
    "Sha256",
    "Timestamp",
    "Variable",
    "VersionRecord",
    "VersionRegistry",
    "base_version",
    "check_name",
    "semver_key",
    "time_json_schema",
    "time_pattern",
    "time_validator",
    "utcnow",
    "validate_model",
]


def validate_model(model: type[BaseModel], data: Any, label: str) -> Any:
    """Validate ``data`` against ``model``; errors become one readable :class:`InvalidFile`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InvalidFile(
            f"{label}: {loc}: {first['msg']}{more}. Fix the file to match its schema and retry."
        ) from exc
