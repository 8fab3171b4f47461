"""The registry: init layout, immutable versions, lookups, diffs, rendering, verify."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

import promptgov
from promptgov import AddOptions, Registry, add
from promptgov.errors import Conflict, IntegrityError, InvalidFile, NotFound, UnsafePath

from .conftest import snapshot

SPEC_PATHS = [
    "promptgov.yml",
    "prompts",
    "schemas/prompt-version-schema.yml",
    "schemas/prompt-change-log.yml",
    "evals/eval-config.promptfoo.yml",
    "ci/eval-gate.yml",
    "audit/artifact-audit-log.md",
    "logs",
    "docs/prompt-lifecycle-diagram.md",
    "docs/promotion-pipeline.md",
    "docs/rollback-flow.md",
]


def _expected_sha(prompt_yml: Path) -> str:
    """The content hash, computed independently from the documented canonical encoding."""
    src = yaml.safe_load(prompt_yml.read_text())
    content = {"template": src["template"], "model": src["model"], "variables": src["variables"]}
    content["model"].setdefault("parameters", {})
    for v in content["variables"]:
        v.setdefault("description", "")
        v.setdefault("required", True)
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"promptgov-content-v1\x00" + payload.encode()).hexdigest()


def _edit_template(root: Path, old: str, new: str) -> None:
    p = root / "prompts/support-reply/prompt.yml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


def test_init_lays_out_every_specified_path(tmp_path: Path, cli) -> None:
    res = cli("init", tmp_path / "r")
    assert res.exit_code == 0, res.stderr
    for rel in SPEC_PATHS:
        assert (tmp_path / "r" / rel).exists(), rel
    assert (tmp_path / "r/schemas/prompt-version-schema.schema.json").is_file()


def test_init_example_adds_prompt_suite_and_log_sample(example_repo: Path) -> None:
    assert (example_repo / "prompts/support-reply/prompt.yml").is_file()
    assert (example_repo / "evals/model_stub.py").is_file()
    sample = json.loads((example_repo / "logs/log-sample.output.json").read_text())
    records = sample if isinstance(sample, list) else sample["records"]
    sha = _expected_sha(example_repo / "prompts/support-reply/prompt.yml")
    assert records and all(r["sha256"] == sha for r in records)


def test_init_refuses_governed_repository_and_changes_nothing(example_repo: Path, cli) -> None:
    before = snapshot(example_repo)
    res = cli("init", example_repo)
    assert res.exit_code == 2
    assert "already a governed repository" in res.stderr
    assert snapshot(example_repo) == before


def test_add_registers_candidate_with_independent_hash(example_repo: Path) -> None:
    reg = Registry(example_repo)
    rec = add(reg, "support-reply", AddOptions(message="first"), by="carol")
    assert rec.version == "1.0.0"
    assert rec.status.value == "candidate"
    assert rec.parent is None
    assert rec.sha256 == _expected_sha(example_repo / "prompts/support-reply/prompt.yml")
    obj = example_repo / f".promptgov/objects/{rec.sha256[:2]}/{rec.sha256[2:]}.content.json"
    assert hashlib.sha256(b"promptgov-content-v1\x00" + obj.read_bytes()).hexdigest() == rec.sha256


def test_second_version_bumps_and_links_parent(registered_repo: Path) -> None:
    _edit_template(registered_repo, "sign off politely", "sign off warmly")
    reg = Registry(registered_repo)
    rec = add(reg, "support-reply", AddOptions(message="warmer", bump="minor"), by="carol")
    assert (rec.version, rec.parent) == ("1.1.0", "1.0.0")
    log = yaml.safe_load((registered_repo / "schemas/prompt-change-log.yml").read_text())
    assert [e["version"] for e in log] == ["1.0.0", "1.1.0"]


def test_identical_content_is_refused_naming_existing_version(registered_repo: Path, cli) -> None:
    before = snapshot(registered_repo)
    res = cli("add", "support-reply", "-m", "again", "--author", "carol", "--repo", registered_repo)
    assert res.exit_code == 2
    assert "support-reply@1.0.0 already has this exact content" in res.stderr
    assert snapshot(registered_repo) == before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("Message: {{ message }}", "Message: {{ mesage }}", "undeclared variable(s) mesage"),
        ("Message: {{ message }}", "Message: (none)", "declared variable(s) message are not used"),
    ],
)
def test_variable_mismatch_is_refused(
    example_repo: Path, cli, old: str, new: str, message: str
) -> None:
    _edit_template(example_repo, old, new)
    before = snapshot(example_repo)
    res = cli("add", "support-reply", "-m", "x", "--author", "c", "--repo", example_repo)
    assert res.exit_code == 2
    assert message in res.stderr
    assert snapshot(example_repo) == before


def test_get_by_version_and_render(registered_repo: Path) -> None:
    v = Registry(registered_repo).get("support-reply@1.0.0")
    out = v.render(customer_name="Dana", order_id="A-1", message="late")
    assert isinstance(out, str)
    assert "Customer: Dana\nOrder: A-1\nMessage: late" in out


def test_render_missing_variable_is_an_error(registered_repo: Path, cli) -> None:
    res = cli(
        "render", "support-reply@1.0.0", "--var", "customer_name=Dana", "--repo", registered_repo
    )
    assert res.exit_code == 2
    assert "support-reply@1.0.0 requires variable(s) order_id, message, not given" in res.stderr


def test_diff_shows_template_and_parameter_changes(registered_repo: Path, cli) -> None:
    _edit_template(registered_repo, "temperature: 0.2", "temperature: 0.7")
    _edit_template(registered_repo, "sign off politely", "sign off warmly")
    add(Registry(registered_repo), "support-reply", AddOptions(message="b"), by="carol")
    d = Registry(registered_repo).diff("support-reply", "1.0.0", "1.0.1")
    assert ("temperature", 0.2, 0.7) in d.parameters
    assert any(line.startswith("-") and "politely" in line for line in d.template)
    assert any(line.startswith("+") and "warmly" in line for line in d.template)
    res = cli("diff", "support-reply", "1.0.0", "1.0.1", "--repo", registered_repo)
    assert res.exit_code == 0 and "0.2 → 0.7" in res.stdout


def test_diff_compares_a_version_with_the_working_copy(registered_repo: Path, cli) -> None:
    """'diff' could not compare with the working copy."""
    _edit_template(registered_repo, "sign off politely", "sign off warmly")
    d = Registry(registered_repo).diff("support-reply", "1.0.0")
    assert (d.a, d.b) == ("1.0.0", "working")
    assert any(line.startswith("+") and "warmly" in line for line in d.template)
    for args in (["support-reply@1.0.0"], ["support-reply", "latest", "working"]):
        res = cli("diff", *args, "--repo", registered_repo)
        assert res.exit_code == 0, res.stderr
        assert "+++ support-reply@working" in res.stdout and "+  explain" not in res.stdout
        assert any(ln.startswith("+") and "warmly" in ln for ln in res.stdout.splitlines())
    res = cli("diff", "support-reply", "--repo", registered_repo)
    assert res.exit_code == 2 and "name a version of support-reply to compare" in res.stderr


def test_history_lists_versions_in_time_order(registered_repo: Path) -> None:
    _edit_template(registered_repo, "sign off politely", "sign off warmly")
    add(Registry(registered_repo), "support-reply", AddOptions(message="warmer"), by="dan")
    events = Registry(registered_repo).history("support-reply")
    assert [(e.kind, e.version, e.by) for e in events] == [
        ("version", "1.0.0", "carol"),
        ("version", "1.0.1", "dan"),
    ]


def test_tampered_object_is_never_served_and_verify_fails(registered_repo: Path, cli) -> None:
    rec = Registry(registered_repo).record("support-reply", "1.0.0")
    obj = registered_repo / f".promptgov/objects/{rec.sha256[:2]}/{rec.sha256[2:]}.content.json"
    obj.write_bytes(obj.read_bytes().replace(b"never promise", b"always promise"))
    with pytest.raises(IntegrityError, match="has been altered"):
        Registry(registered_repo).get("support-reply@1.0.0")
    res = cli("verify", "--repo", registered_repo)
    assert res.exit_code == 1
    assert "was altered" in res.stdout
    res = cli("show", "support-reply@1.0.0", "--repo", registered_repo)
    assert res.exit_code == 1 and "will not be served" in res.stderr


def test_verify_clean_after_normal_use(registered_repo: Path, cli) -> None:
    res = cli("verify", "--repo", registered_repo, "--json")
    assert res.exit_code == 0, res.stdout
    data = json.loads(res.stdout)
    assert data["ok"] and data["checked"]["versions"] == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "nope"], 2, "unknown prompt 'nope'"),
        (["show", "support-reply@9.9.9"], 2, "has no version '9.9.9'"),
        (["show", "support-reply@nowhere"], 2, "unknown environment 'nowhere'"),
        (["show", "../etc"], 2, "invalid prompt name '../etc'"),
        (["add", "a/b", "-m", "x", "--author", "y"], 2, "no path separators"),
        (["show", "support-reply@prod"], 2, "not deployed to prod"),
    ],
)
def test_bad_references_give_one_line_errors(
    registered_repo: Path, cli, args, code, message
) -> None:
    before = snapshot(registered_repo)
    res = cli(*args, "--repo", registered_repo)
    assert res.exit_code == code
    assert message in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    assert snapshot(registered_repo) == before


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("prompts/support-reply/prompt.yml", b"template: [unclosed\n", "malformed YAML at line"),
        ("prompts/support-reply/prompt.yml", b"template: \xff\xfe\n", "not valid UTF-8"),
        ("prompts/support-reply/prompt.yml", b"template: hi\n", "model: Field required"),
        ("promptgov.yml", b"environments: 3\n", "promptgov.yml: environments"),
    ],
)
def test_bad_files_are_clear_errors_and_change_nothing(
    registered_repo: Path, cli, path: str, data: bytes, message: str
) -> None:
    (registered_repo / path).write_bytes(data)
    before = snapshot(registered_repo)
    res = cli("add", "support-reply", "-m", "x", "--author", "c", "--repo", registered_repo)
    assert res.exit_code == 2, res.stderr
    assert message in res.stderr
    assert snapshot(registered_repo) == before


def test_hand_edited_registry_is_rejected_and_reported(registered_repo: Path, cli) -> None:
    reg_file = registered_repo / "schemas/prompt-version-schema.yml"
    reg_file.write_text(reg_file.read_text().replace("status: candidate", "status: shipped"))
    before = snapshot(registered_repo)
    res = cli("status", "--repo", registered_repo)
    assert res.exit_code == 2
    assert "schemas/prompt-version-schema.yml" in res.stderr and "status" in res.stderr
    res = cli("verify", "--repo", registered_repo)
    assert res.exit_code == 1 and "schema violation" in res.stdout
    assert snapshot(registered_repo) == before


def test_status_reports_pointers_and_working_copy(registered_repo: Path, cli) -> None:
    res = cli("status", "--repo", registered_repo, "--json")
    assert res.exit_code == 0
    [row] = json.loads(res.stdout)
    assert row["name"] == "support-reply" and row["latest"] == "1.0.0"
    assert row["environments"] == {"dev": None, "staging": None, "prod": None}
    assert row["working_copy"] == "clean"
    _edit_template(registered_repo, "politely", "kindly")
    [row] = json.loads(cli("status", "--repo", registered_repo, "--json").stdout)
    assert row["working_copy"] == "modified"


def test_repo_found_by_walking_up(registered_repo: Path, cli) -> None:
    res = cli("status", "--json", cwd=registered_repo / "prompts" / "support-reply")
    assert res.exit_code == 0 and "support-reply" in res.stdout


def test_outside_any_repo_is_a_clear_error(tmp_path: Path, cli) -> None:
    res = cli("status", cwd=tmp_path)
    assert res.exit_code == 2 and "promptgov init" in res.stderr


def test_unknown_prompt_in_library_raises_not_found(registered_repo: Path) -> None:
    with pytest.raises(NotFound):
        Registry(registered_repo).get("other")
    with pytest.raises(UnsafePath):
        Registry(registered_repo).get("../../x")


def test_explicit_version_conflicts(registered_repo: Path) -> None:
    _edit_template(registered_repo, "politely", "kindly")
    with pytest.raises(Conflict, match="already exists"):
        add(
            Registry(registered_repo),
            "support-reply",
            AddOptions(message="m", version="1.0.0"),
            by="a",
        )
    rec = add(
        Registry(registered_repo), "support-reply", AddOptions(message="m", version="1.2.1"), by="a"
    )
    assert rec.version == "1.2.1"


def test_schema_files_validate_registry(registered_repo: Path) -> None:
    import jsonschema

    schema = json.loads((registered_repo / "schemas/prompt-version-schema.schema.json").read_text())
    data = yaml.safe_load((registered_repo / "schemas/prompt-version-schema.yml").read_text())
    jsonschema.validate(data, schema)
    assert data["prompts"]["support-reply"]["versions"][0]["version"] == "1.0.0"


def test_invalid_file_type_is_reported(registered_repo: Path) -> None:
    (registered_repo / "schemas/prompt-change-log.yml").write_text("{a: 1}\n")
    with pytest.raises(InvalidFile, match="expected a list"):
        promptgov.Repo(registered_repo).changelog()


def test_verify_reports_a_broken_working_copy(registered_repo: Path, cli) -> None:
    _edit_template(registered_repo, "Message: {{ message }}", "Message: {{ mesage }}")
    res = cli("verify", "--repo", registered_repo)
    assert res.exit_code == 1
    assert (
        "prompts/support-reply/prompt.yml" in res.stdout
        and "undeclared variable(s) mesage" in res.stdout
    )


def test_add_refuses_a_version_named_like_a_rollback(registered_repo: Path, cli) -> None:
    _edit_template(registered_repo, "sign off politely", "sign off warmly")
    res = cli(
        "add",
        "support-reply",
        "-m",
        "x",
        "--by",
        "carol",
        "--version",
        "1.0.0+rollback",
        "--repo",
        registered_repo,
    )
    assert res.exit_code == 2 and "+rollback is reserved" in res.stderr
