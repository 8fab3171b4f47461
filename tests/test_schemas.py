"""``check-jsonschema`` with the generated schemas and promptgov's own loaders agree.

Each file format has valid and invalid documents; every one is checked by the real
``check-jsonschema`` CLI against the schema ``init`` wrote and read by the loader promptgov
uses for that file, and both must give the document's expected verdict.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptgov
from promptgov import schemas
from promptgov.actions.verify import check_config_sections
from promptgov.errors import PromptGovError
from promptgov.gate import load_gate_config
from promptgov.model import time_pattern
from promptgov.monitor import read_records
from promptgov.registry import Registry
from promptgov.store import changelog, registry_file

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
SHA = hashlib.sha256(b"x").hexdigest()
TIME = "2026-03-02T09:01:09Z"

# --------------------------------------------------------------------------- the corpus

CONFIG_VALID = {
    "minimal": "project: p\n",
    "empty-sections": "notifications: []\ntriggers: {}\n",
    "unknown-top-level-key": "project: p\nteam_notes: kept for people\n",
    "triggers": (
        "triggers:\n"
        "  drift:\n    alpha: 0.01\n    window: 12h\n    thresholds: {latency_ratio: 1.5}\n"
        "  complaints: {severity: critical, count: 2, window: 1d12h}\n"
        "  eval_regression: {action: rollback, consecutive_failures: 2}\n"
    ),
    "notifications": (
        "notifications:\n"
        "  - {name: team, url: 'slack://a/b/c', events: [rollback, promotion]}\n"
        "  - {name: hook, url: 'https://example.com/h', kind: webhook, secret_env: HOOK_SECRET}\n"
    ),
    "environments": (
        "environments:\n  - name: dev\n  - name: prod\n"
        "    approvals: {required: 2, approvers: ['@leads']}\n"
        "groups: {leads: [alice, bob]}\n"
    ),
}
CONFIG_INVALID = {
    "alpha-out-of-range": "triggers:\n  drift:\n    alpha: 1.5\n",
    "duration-not-a-duration": "triggers:\n  drift:\n    window: soon\n",
    "duration-negative": "triggers:\n  complaints:\n    window: 0s\n",
    "unknown-trigger": "triggers:\n  nope: {}\n",
    "unknown-trigger-key": "triggers:\n  drift: {windwo: 24h}\n",
    "severity-unknown": "triggers:\n  complaints: {severity: urgent}\n",
    "action-unknown": "triggers:\n  drift: {action: panic}\n",
    "triggers-null": "triggers:\n",
    "notifications-not-a-list": "notifications: {team: 'slack://x'}\n",
    "notification-without-url": "notifications:\n  - {name: team}\n",
    "notification-bad-event": "notifications:\n  - {name: t, url: 'slack://x', events: [deploy]}\n",
    "notification-unknown-key": "notifications:\n  - {name: t, url: 'slack://x', channel: a}\n",
    "environments-empty": "environments: []\n",
    "environment-name": "environments:\n  - name: Prod\n",
    "approvals-negative": "environments:\n  - name: dev\n    approvals: {required: -1}\n",
    "git-unknown-key": "git: {push: true}\n",
}

_VERSION = f"""\
    versions:
    - version: 1.0.0
      sha256: {SHA}
      card_sha256: {SHA}
      author: alice
      created_at: '{TIME}'
"""
_REGISTRY_HEAD = "schema: promptgov/version-registry/v1\nprompts:\n  greet:\n"
REGISTRY_VALID = {
    "empty-file": "# nothing registered yet\n",
    "no-prompts": "schema: promptgov/version-registry/v1\nprompts: {}\n",
    "one-version": _REGISTRY_HEAD + _VERSION,
    "pointer-history": _REGISTRY_HEAD
    + _VERSION
    + f"""\
    environments:
      dev:
        current: 1.0.0
        history:
        - {{seq: 1, version: 1.0.0, previous: null, kind: promote, at: '{TIME}',
            by: alice, reason: first}}
""",
}
REGISTRY_INVALID = {
    "schema-tag": "schema: promptgov/version-registry/v2\nprompts: {}\n",
    "prompt-name": "prompts:\n  Greet Me: {}\n",
    "prompt-name-dotdot": "prompts:\n  a..b: {}\n",
    "prompt-name-reserved": "prompts:\n  con.x: {}\n",
    "version": _REGISTRY_HEAD + _VERSION.replace("1.0.0", "1.0"),
    "sha256": _REGISTRY_HEAD + _VERSION.replace(f"sha256: {SHA}", "sha256: abc", 1),
    "time-without-offset": _REGISTRY_HEAD + _VERSION.replace(TIME, "2026-03-02T09:01:09"),
    "time-as-number": _REGISTRY_HEAD + _VERSION.replace(f"'{TIME}'", "1772442069"),
    "time-impossible-day": _REGISTRY_HEAD + _VERSION.replace(TIME, "2026-02-29T09:01:09Z"),
    "status": _REGISTRY_HEAD + _VERSION + "      status: live\n",
    "unknown-key": _REGISTRY_HEAD + _VERSION + "      approved: yes\n",
}

_ENTRY = (
    f"- seq: 1\n  time: '{TIME}'\n  action: register\n  prompt: greet\n  version: 1.0.0\n"
    "  summary: first version\n  author: alice\n"
)
CHANGELOG_VALID = {
    "header-only": "# promptgov change log\n",
    "one-entry": _ENTRY,
    "promotion": _ENTRY + "  env: prod\n  approvers: [bob]\n  gate_verdict: pass\n",
}
CHANGELOG_INVALID = {
    "mapping": "{a: 1}\n",
    "missing-summary": _ENTRY.replace("  summary: first version\n", ""),
    "time-without-offset": _ENTRY.replace(TIME, "2026-03-02 09:01:09"),
    "gate-verdict": _ENTRY + "  gate_verdict: maybe\n",
}

GATE_VALID = {
    "empty-file": "# built-in rules\n",
    "defaults": "defaults:\n  min_pass_rate: 0.9\n  min_results: 5\n",
    "per-prompt": "prompts:\n  greet:\n    all: {min_pass_rate: 1.0}\n    prod: {min_results: 3}\n",
    "regression": "defaults:\n  regression: {alpha: 0.01, min_samples: 10}\n",
}
GATE_INVALID = {
    "pass-rate-over-one": "defaults:\n  min_pass_rate: 1.5\n",
    "unknown-key": "defaults:\n  min_pass: 0.9\n",
    "alpha-out-of-range": "defaults:\n  regression: {alpha: 2}\n",
    "environments-list": "environments: [dev]\n",
}

_CARD = "card:\n  owner: alice\n"
_MODEL = "model:\n  provider: openai:chat:gpt-4o-mini\n"
PROMPT_VALID = {
    "text": "template: Hello {{ name }}\n" + _MODEL + "variables:\n  - name: name\n" + _CARD,
    "chat": "messages:\n  - {role: system, content: Be brief.}\n  - {role: user, content: Hi}\n"
    + _MODEL
    + _CARD,
    "parameters": "template: Hi\nmodel:\n  provider: x\n  parameters: {temperature: 0.2}\n" + _CARD,
}
PROMPT_INVALID = {
    "both-templates": "template: Hi\nmessages:\n  - {role: user, content: Hi}\n" + _MODEL + _CARD,
    "no-template": _MODEL + _CARD,
    "null-templates": "template: null\nmessages: null\n" + _MODEL + _CARD,
    "role": "messages:\n  - {role: robot, content: Hi}\n" + _MODEL + _CARD,
    "variable-name": "template: Hi\n" + _MODEL + "variables:\n  - name: 1x\n" + _CARD,
    "no-card": "template: Hi\n" + _MODEL,
    "unknown-key": "template: Hi\n" + _MODEL + _CARD + "notes: x\n",
}


def _record(**fields: object) -> dict[str, object]:
    return {"time": TIME, "prompt": "greet", "version": "1.0.0", **fields}


RECORD_VALID = {
    "minimal": _record(),
    "naive-time-is-utc": _record(time="2026-03-02T09:01:09"),
    "space-separator": _record(time="2026-03-02 09:01:09.123456"),
    "nanoseconds-and-offset": _record(time="2026-03-02T09:01:09.123456789+02:00"),
    "leap-day": _record(time="2024-02-29T00:00:00Z"),
    "every-field": _record(
        sha256=SHA,
        env="prod",
        id="r1",
        model_requested="m",
        model_returned="m-1",
        variables={"a": 1},
        output="hi",
        latency_ms=12,
        tokens_in=3,
        tokens_out=4,
        cost=0.001,
        finish_reason="stop",
        feedback_score=-1,
    ),
    "own-fields-ignored": _record(user_tier="gold"),
}
RECORD_INVALID = {
    "time-as-number": _record(time=1772442069),
    "time-date-only": _record(time="2026-03-02"),
    "time-lowercase": _record(time="2026-03-02t09:01:09z"),
    "time-no-seconds": _record(time="2026-03-02T09:01Z"),
    "time-impossible-day": _record(time="2025-02-29T00:00:00Z"),
    "time-hour-24": _record(time="2026-03-02T24:00:00Z"),
    "missing-version": {"time": TIME, "prompt": "greet"},
    "empty-prompt": _record(prompt=""),
    "sha256": _record(sha256="abc"),
    "negative-latency": _record(latency_ms=-1),
    "tokens-as-text": _record(tokens_in="5"),
    "tokens-as-bool": _record(tokens_out=True),
    "latency-as-text": _record(latency_ms="12.5"),
    "prompt-as-number": _record(prompt=5),
    "not-an-object": ["greet"],
}

LOGFILE_VALID = {
    "array": [_record(), _record(time="2026-03-02T10:00:00")],
    "records-object": {"records": [_record()], "exported_by": "app"},
    "empty-array": [],
}
LOGFILE_INVALID = {
    "one-bad-record": [_record(), _record(time="yesterday")],
    "records-not-a-list": {"records": 5},
    "array-of-strings": ["greet"],
}


def _json(docs: dict[str, object]) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in docs.items()}


# --------------------------------------------------------------------------- promptgov's side


def _load_config(root: Path, text: str) -> None:
    (root / "promptgov.yml").write_text(text)
    check_config_sections(promptgov.Repo(root))


def _load_registry(root: Path, text: str) -> None:
    registry_file.load(root, text.encode(), "schemas/prompt-version-schema.yml")


def _load_changelog(root: Path, text: str) -> None:
    changelog.parse(text.encode())


def _load_gate(root: Path, text: str) -> None:
    (root / "ci/eval-gate.yml").write_text(text)
    load_gate_config(promptgov.Repo(root))


def _load_prompt(root: Path, text: str) -> None:
    (root / "prompts/doc").mkdir(parents=True, exist_ok=True)
    (root / "prompts/doc/prompt.yml").write_text(text)
    Registry(promptgov.Repo(root)).source("doc")


def _read_log(root: Path, text: str) -> None:
    path = root / "logs/doc.output.json"
    path.write_text(text)
    report = read_records(path)
    list(report)
    if report.malformed_count:
        raise ValueError(report.malformed[0].reason)


#: format → (schema file, suffix of the documents, promptgov's loader, valid, invalid).
FORMATS: dict[str, tuple[str, str, Callable[[Path, str], None], dict[str, str], dict[str, str]]] = {
    "config": ("promptgov", ".yml", _load_config, CONFIG_VALID, CONFIG_INVALID),
    "registry": (
        "prompt-version-schema",
        ".yml",
        _load_registry,
        REGISTRY_VALID,
        REGISTRY_INVALID,
    ),
    "changelog": (
        "prompt-change-log",
        ".yml",
        _load_changelog,
        CHANGELOG_VALID,
        CHANGELOG_INVALID,
    ),
    "gate": ("eval-gate", ".yml", _load_gate, GATE_VALID, GATE_INVALID),
    "prompt": ("prompt", ".yml", _load_prompt, PROMPT_VALID, PROMPT_INVALID),
    "log-record": (
        "log-record",
        ".json",
        _read_log,
        _json(RECORD_VALID),
        _json(RECORD_INVALID),
    ),
    "log-file": ("log-file", ".json", _read_log, _json(LOGFILE_VALID), _json(LOGFILE_INVALID)),
}


def promptgov_accepts(root: Path, load: Callable[[Path, str], None], text: str) -> bool:
    try:
        load(root, text)
    except (PromptGovError, ValueError):
        return False
    return True


def check_jsonschema_accepts(schema: Path, docs: dict[str, str], suffix: str, tmp: Path) -> dict:
    """Run the real check-jsonschema once over every document; name → accepted."""
    tmp.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, (name, text) in enumerate(docs.items()):
        files[name] = tmp / f"doc{i}{suffix}"
        files[name].write_text(text)
    proc = subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", schema, "-o", "json", *files.values()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(proc.stdout)
    assert proc.returncode in (0, 1), proc.stderr
    assert not out.get("parse_errors"), out["parse_errors"]
    failed = {e["filename"] for e in out.get("errors", [])}
    return {name: str(path) not in failed for name, path in files.items()}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schemas") / "r"
    promptgov.init(root)
    return root


@pytest.fixture
def scratch(repo: Path, tmp_path: Path) -> Path:
    """A fresh copy of the governed repository for one format's documents."""
    shutil.copytree(repo, tmp_path / "r")
    return tmp_path / "r"


def test_check_jsonschema_is_installed() -> None:
    assert CHECK_JSONSCHEMA.is_file(), "pip install -e '.[dev]' provides check-jsonschema"


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_jsonschema_and_promptgov_give_the_same_verdict(
    fmt: str, scratch: Path, tmp_path: Path
) -> None:
    schema_name, suffix, load, valid, invalid = FORMATS[fmt]
    docs = {**{f"valid/{k}": v for k, v in valid.items()}}
    docs.update({f"invalid/{k}": v for k, v in invalid.items()})
    schema = scratch / f"schemas/{schema_name}.schema.json"
    by_schema = check_jsonschema_accepts(schema, docs, suffix, tmp_path / "docs")
    by_promptgov = {name: promptgov_accepts(scratch, load, text) for name, text in docs.items()}
    expected = {name: name.startswith("valid/") for name in docs}
    assert by_schema == expected
    assert by_promptgov == expected


def test_every_format_has_a_schema_and_a_corpus() -> None:
    assert {f"schemas/{s}.schema.json" for s, *_ in FORMATS.values()} == set(schemas.FORMATS)
    assert all(len(v) >= 3 and len(i) >= 3 for *_, v, i in FORMATS.values())


# --------------------------------------------------------------------------- generated documents

_DURATIONS = st.one_of(
    st.sampled_from(["24h", "30m", "1d12h", "2w", "0s", "soon", "h", "-1h", "1.5h", "7 d"]),
    st.integers(-5, 10**6),
    st.floats(-1, 1e6, allow_nan=False),
)
# Integral floats are left out: JSON Schema counts 2.0 as an integer, promptgov wants 2.
_NUMBERS = st.one_of(
    st.floats(-2, 3, allow_nan=False).filter(lambda f: not f.is_integer()),
    st.integers(-3, 10),
    st.sampled_from(["0.5", "3", True, None]),
)


def _policy() -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "enabled": st.sampled_from([True, False, "yes", 1]),
            "action": st.sampled_from(["notify", "rollback", "Notify", "page"]),
            "consecutive_failures": _NUMBERS,
            "window": _DURATIONS,
            "min_samples": _NUMBERS,
            "alpha": _NUMBERS,
        },
    )


_TRIGGERS = st.dictionaries(
    st.sampled_from(["drift", "complaints", "eval_regression", "failing_tests", "audit_flags"]),
    _policy(),
    max_size=3,
)
_TARGETS = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["team", "ops"]), "url": st.sampled_from(["slack://a/b", "x"])},
        optional={
            "events": st.lists(st.sampled_from(["rollback", "promotion", "deploy"]), max_size=2),
            "mention_owners": st.sampled_from([True, False, "no"]),
        },
    ),
    max_size=1,
)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.fixed_dictionaries({"triggers": _TRIGGERS, "notifications": _TARGETS}),
        min_size=20,
        max_size=20,
    )
)
def test_generated_config_documents_get_one_verdict(
    scratch: Path, tmp_path_factory: pytest.TempPathFactory, configs: list[dict[str, object]]
) -> None:
    docs = {f"c{i}": json.dumps(c) for i, c in enumerate(configs)}  # JSON is YAML
    tmp = tmp_path_factory.mktemp("gen")
    schema = scratch / "schemas/promptgov.schema.json"
    by_schema = check_jsonschema_accepts(schema, docs, ".yml", tmp)
    by_promptgov = {k: promptgov_accepts(scratch, _load_config, v) for k, v in docs.items()}
    assert {docs[k]: v for k, v in by_promptgov.items() if by_schema[k] != v} == {}


_TIMES = st.one_of(
    st.from_regex(time_pattern(offset_required=False, space=True), fullmatch=True),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text("0123456789-:TZ+. tz", min_size=8, max_size=30),
)


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_TIMES, min_size=40, max_size=40))
def test_generated_record_times_get_one_verdict(
    scratch: Path, tmp_path_factory: pytest.TempPathFactory, times: list[str]
) -> None:
    docs = {f"t{i}": json.dumps(_record(time=t)) for i, t in enumerate(times)}
    tmp = tmp_path_factory.mktemp("gen")
    schema = scratch / "schemas/log-record.schema.json"
    by_schema = check_jsonschema_accepts(schema, docs, ".json", tmp)
    by_promptgov = {k: promptgov_accepts(scratch, _read_log, v) for k, v in docs.items()}
    assert {docs[k]: v for k, v in by_promptgov.items() if by_schema[k] != v} == {}
