"""``promptgov import``: a promptfoo project's prompts become governed prompts, each with its
first version and its own suite, and promptfoo still runs the original config ("Coming from promptfoo")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import promptgov
from promptgov.actions.import_ import ImportOptions, import_config
from promptgov.actions.verify import verify

from .. import flows
from ..conftest import run_cli, snapshot
from ..real_promptfoo import Promptfoo, promptfoo  # noqa: F401

CHECK_PY = "def get_assert(output, context):\n    return context['vars']['name'] in output\n"


def _project(root: Path, config: str, files: dict[str, str] | None = None) -> Path:
    """A promptfoo project in ``root``, made a governed repository by ``init``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "promptfooconfig.yaml").write_text(config, encoding="utf-8")
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    promptgov.init(root)
    return root


def _import(root: Path, **options: object) -> promptgov.Registry:
    import_config(
        promptgov.Registry(root),
        root / "promptfooconfig.yaml",
        ImportOptions(**options),
        by="alice",  # type: ignore[arg-type]
    )
    _adopt(root)
    return promptgov.Registry(root)


def _adopt(root: Path) -> None:
    """Put the suites and the promptgov.yml that import wrote in force: they are a policy
    change, approved like any other (docs/governance.md, "Changing the policy")."""
    from promptgov.actions.policy import policy_status

    if policy_status(promptgov.Repo(root)).files:
        flows.change_policy(root, lambda r: None, by="carol", approvers=("alice",))


TESTS = """
tests:
  - description: late parcel
    vars: {name: Dana, message: My parcel is late}
    assert:
      - type: contains
        value: Dana
      - type: python
        value: file://checks/check.py
  - vars: {name: Lee}
    assert:
      - type: icontains
        value: lee
"""


def _config(prompts: str, providers: str = "providers: [echo]\n") -> str:
    return f"description: Support replies\n{prompts}{providers}{TESTS}"


SHAPES = {
    "inline": (
        _config("prompts:\n  - 'Reply to {{ name }}: {{ message }}'\n  - 'Hi {{name}}'\n"),
        {},
        {
            "support-replies-1": ("Reply to {{ name }}: {{ message }}", ["message", "name"]),
            "support-replies-2": ("Hi {{name}}", ["name"]),
        },
    ),
    "file-text": (
        _config("prompts:\n  - file://prompts/reply.txt\n"),
        {"prompts/reply.txt": "Reply to {{ name }}.\nThey wrote: {{ message }}\n"},
        {"reply": ("Reply to {{ name }}.\nThey wrote: {{ message }}", ["message", "name"])},
    ),
    "file-text-parts": (
        _config("prompts: [file://prompts/two.txt]\n"),
        {"prompts/two.txt": "Hello {{ name }}\n---\nBye {{ name }}\n"},
        {"two-1": ("Hello {{ name }}", ["name"]), "two-2": ("Bye {{ name }}", ["name"])},
    ),
    "chat-json": (
        _config("prompts: [file://prompts/chat.json]\n"),
        {
            "prompts/chat.json": json.dumps(
                [
                    {"role": "system", "content": "Be kind."},
                    {"role": "user", "content": "{{ name }}: {{ message }}"},
                ]
            )
        },
        {
            "chat": (
                [("system", "Be kind."), ("user", "{{ name }}: {{ message }}")],
                ["message", "name"],
            )
        },
    ),
    "chat-yaml": (
        _config("prompts: [file://prompts/chat.yaml]\n"),
        {"prompts/chat.yaml": "- role: user\n  content: 'Hi {{ name }}'\n"},
        {"chat": ([("user", "Hi {{ name }}")], ["name"])},
    ),
    "labelled": (
        _config(
            "prompts:\n"
            "  - id: file://prompts/reply.txt\n    label: Support Reply (v2)\n"
            "  - raw: 'Short: {{ name }}'\n    label: Short ánswer\n"
        ),
        {"prompts/reply.txt": "Dear {{ name }}"},
        {
            "support-reply-v2": ("Dear {{ name }}", ["name"]),
            "short-answer": ("Short: {{ name }}", ["name"]),
        },
    ),
    "label-mapping": (
        _config("prompts:\n  'Hey {{ name }}': greeting\n"),
        {},
        {"greeting": ("Hey {{ name }}", ["name"])},
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_prompt_becomes_a_registered_verified_prompt(tmp_path: Path, shape: str) -> None:
    config, files, expected = SHAPES[shape]
    root = _project(tmp_path / "proj", config, {**files, "checks/check.py": CHECK_PY})
    original = (root / "promptfooconfig.yaml").read_bytes()
    reg = _import(root)
    assert reg.names() == sorted(expected)
    for name, (template, variables) in expected.items():
        v = reg.get(f"{name}@1.0.0")
        if isinstance(template, str):
            assert v.content.template == template and v.content.messages is None
        else:
            assert [(m.role, m.content) for m in v.content.messages or []] == template
        assert [x.name for x in v.content.variables] == variables
        assert v.content.model.provider == "echo"
        assert v.card.owner == "alice" and v.record.author == "alice"
        # The working copy is exactly the registered version, and the policy runs its suite.
        assert reg.source(name).content().sha256 == v.sha256
        assert reg.repo.config.suite_for(name) == f"evals/{name}.promptfoo.yml"
        suite = (root / f"evals/{name}.promptfoo.yml").read_text(encoding="utf-8")
        assert f"promptgov://{name}" in suite and "file://../checks/check.py" in suite
    assert [r.working_copy for r in reg.status()] == ["clean"] * len(expected)
    report = verify(reg.repo)
    assert report.ok, report.problems
    assert (root / "promptfooconfig.yaml").read_bytes() == original


def test_variables_are_required_when_every_test_gives_them(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj",
        _config("prompts: ['{{ name }} wrote {{ message }}']\n"),
        {"checks/check.py": CHECK_PY},
    )
    v = _import(root, names=("support",)).get("support")
    declared = {x.name: x for x in v.content.variables}
    assert declared["name"].required and declared["name"].description == (
        "For example 'Dana' (from the tests)."
    )
    # The second test gives no message: promptfoo renders it empty, so it is optional.
    assert not declared["message"].required
    assert v.render(name="Lee") == "Lee wrote "


PROVIDERS = """providers:
  - id: echo
    label: first
    config: {temperature: 0.2, apiKey: sk-not-a-real-key-0000000000}
  - id: openai:chat:gpt-4o-mini
    config: {max_tokens: 300}
"""


def test_the_first_provider_is_the_declared_model_and_the_suite_runs_only_it(
    tmp_path: Path,
) -> None:
    root = _project(
        tmp_path / "proj",
        _config("prompts: ['Hi {{ name }}']\n", PROVIDERS),
        {"checks/check.py": CHECK_PY},
    )
    res = run_cli(
        "import",
        root / "promptfooconfig.yaml",
        "--by",
        "alice",
        "--name",
        "hi",
        "--repo",
        root,
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    (p,) = json.loads(res.stdout)["prompts"]
    # Credentials stay in the environment, never in a content-hashed version.
    assert p["model"] == {"provider": "echo", "parameters": {"temperature": 0.2}}
    assert (p["other_providers"], p["dropped_parameters"]) == (
        ["openai:chat:gpt-4o-mini"],
        ["apiKey"],
    )
    suite = (root / "evals/hi.promptfoo.yml").read_text(encoding="utf-8")
    assert "gpt-4o-mini" not in suite and "label: first" in suite


def test_provider_picks_another_declared_model(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj",
        _config("prompts: ['Hi {{ name }}']\n", PROVIDERS),
        {"checks/check.py": CHECK_PY},
    )
    v = _import(root, names=("hi",), provider="openai:chat:gpt-4o-mini").get("hi")
    assert (v.content.model.provider, v.content.model.parameters) == (
        "openai:chat:gpt-4o-mini",
        {"max_tokens": 300},
    )
    suite = (root / "evals/hi.promptfoo.yml").read_text(encoding="utf-8")
    assert "gpt-4o-mini" in suite and "id: echo" not in suite


def test_a_provider_limited_to_some_prompts_is_theirs(tmp_path: Path) -> None:
    providers = (
        "providers:\n  - id: echo\n    prompts: [a]\n"
        "  - id: openai:chat:gpt-4o-mini\n    prompts: [b]\n"
    )
    prompts = "prompts:\n  - {raw: 'A {{ name }}', label: a}\n  - {raw: 'B {{ name }}', label: b}\n"
    root = _project(tmp_path / "proj", _config(prompts, providers), {"checks/check.py": CHECK_PY})
    reg = _import(root)
    assert reg.get("a").content.model.provider == "echo"
    assert reg.get("b").content.model.provider == "openai:chat:gpt-4o-mini"


def test_eval_of_an_imported_version_runs_its_suite(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj",
        _config("prompts: [file://prompts/reply.txt]\n"),
        {"prompts/reply.txt": "Dear {{ name }}, about {{ message }}", "checks/check.py": CHECK_PY},
    )
    assert run_cli("import", "promptfooconfig.yaml", "--by", "alice", cwd=root).exit_code == 0
    _adopt(root)
    res = run_cli("eval", "reply@1.0.0", "--repo", root, "--json")
    assert res.exit_code == 0, res.stderr
    run = promptgov.Registry(root).get("reply@1.0.0").record.eval_runs[0]
    assert (run.suite, run.successes, run.failures) == ("evals/reply.promptfoo.yml", 2, 0)
    assert verify(promptgov.Registry(root).repo).ok


def test_dry_run_reports_and_writes_nothing(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj", _config("prompts: ['Hi {{ name }}']\n"), {"checks/check.py": CHECK_PY}
    )
    before = snapshot(root)
    res = run_cli(
        "import", root / "promptfooconfig.yaml", "--by", "alice", "--dry-run", "--repo", root
    )
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("Dry run: would import 1 prompt(s) from promptfooconfig.yaml:")
    assert "support-replies@1.0.0" in res.stdout
    assert snapshot(root) == before


REFUSALS = {
    "js-function": (
        "prompts: [file://prompts/p.js]\n",
        {"prompts/p.js": "module.exports = () => 'hi';"},
        (),
        "prompts[0] (file://prompts/p.js) is a prompt function (JavaScript or Python); a "
        "governed version holds a template, not code, so nothing was imported.",
    ),
    "python-function": (
        "prompts: ['file://prompts/p.py:make']\n",
        {"prompts/p.py": "def make(context):\n    return 'hi'\n"},
        (),
        "prompts[0] (file://prompts/p.py:make) is a prompt function (JavaScript or Python)",
    ),
    "exec": (
        "prompts: ['exec:./make.sh']\n",
        {},
        (),
        "is an executable prompt; a governed version holds a template, not code",
    ),
    "not-promptfoo": (
        None,
        {},
        (),
        "is not a promptfoo config that can be imported: promptgov.yml: providers: specify at "
        "least one provider",
    ),
    "name-count": (
        "prompts: ['A {{ name }}', 'B {{ name }}']\n",
        {},
        ("--name", "one"),
        "has 2 prompt(s) but 1 name(s) were given; name every prompt, in order, or none.",
    ),
    "same-name": (
        "prompts:\n  - {raw: 'A {{ name }}', label: Same}\n  - {raw: 'B {{ name }}', label: same}\n",
        {},
        (),
        "prompts[0] and prompts[1] of promptfooconfig.yaml would both be named 'same'",
    ),
    "bad-name": (
        "prompts: ['A {{ name }}']\n",
        {},
        ("--name", "../x"),
        "invalid prompt name '../x'",
    ),
    "provider": (
        "prompts: ['A {{ name }}']\n",
        {},
        ("--provider", "anthropic:messages:claude"),
        "runs prompts[0] with echo, not 'anthropic:messages:claude'",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_unimportable_configs_are_refused_and_nothing_changes(tmp_path: Path, case: str) -> None:
    prompts, files, args, message = REFUSALS[case]
    root = _project(tmp_path / "proj", _config(prompts or "prompts: []\n"), files)
    config = "promptgov.yml" if prompts is None else "promptfooconfig.yaml"
    before = snapshot(root)
    res = run_cli("import", config, "--by", "alice", *args, cwd=root)
    assert res.exit_code == 2, res.stdout
    assert res.stderr.startswith("error: ") and message in " ".join(res.stderr.split())
    assert snapshot(root) == before


def test_a_name_already_governed_is_refused(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj", _config("prompts: ['Hi {{ name }}']\n"), {"checks/check.py": CHECK_PY}
    )
    assert run_cli("import", "promptfooconfig.yaml", "--by", "alice", cwd=root).exit_code == 0
    before = snapshot(root)
    res = run_cli("import", "promptfooconfig.yaml", "--by", "bob", cwd=root)
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: support-replies is already a governed prompt; nothing was imported. Import it "
        "under another name, or register the change as a new version of support-replies. Name "
        "the imported prompt(s) with --name, or change support-replies with 'promptgov add'."
    )
    assert snapshot(root) == before
    # Under another name it imports, beside the first.
    res = run_cli("import", "promptfooconfig.yaml", "--by", "bob", "--name", "other", cwd=root)
    assert res.exit_code == 0, res.stderr
    assert promptgov.Registry(root).names() == ["other", "support-replies"]


def test_a_working_copy_in_the_way_is_refused(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "proj",
        _config("prompts: ['Hi {{ name }}']\n"),
        {"prompts/hi/prompt.yml": "# someone's draft\n"},
    )
    before = snapshot(root)
    res = run_cli("import", "promptfooconfig.yaml", "--by", "alice", "--name", "hi", cwd=root)
    assert res.exit_code == 2
    assert "prompts/hi/prompt.yml already exists; nothing was imported." in res.stderr
    assert snapshot(root) == before


def _materialised(root: Path, name: str) -> Path:
    """The governed suite with ``promptgov://<name>`` replaced by the registered version's
    template, beside the suite, for a promptfoo that knows nothing of the registry."""
    v = promptgov.Registry(root).get(f"{name}@1.0.0")
    raw = v.content.template
    if raw is None:
        raw = json.dumps([m.model_dump() for m in v.content.messages or []])
    suite = root / f"evals/{name}.promptfoo.yml"
    out = suite.with_name(f"{name}.materialised.yml")
    out.write_text(
        suite.read_text(encoding="utf-8").replace(f"promptgov://{name}", json.dumps(raw)),
        encoding="utf-8",
    )
    return out


def _outcomes(v3: dict) -> list[tuple[int, bool]]:
    return sorted((r["testIdx"], r["success"]) for r in v3["results"]["results"])


def test_promptfoo_still_runs_the_original_and_the_imported_suite(
    tmp_path: Path,
    promptfoo: Promptfoo,  # noqa: F811
) -> None:
    config = _config(
        "prompts:\n  - file://prompts/reply.txt\n  - {id: file://prompts/chat.json, label: chat}\n",
        PROVIDERS.replace("openai:chat:gpt-4o-mini", "echo"),
    )
    chat = json.dumps([{"role": "user", "content": "{{ name }} asks"}])
    root = _project(
        tmp_path / "proj",
        config,
        {
            "prompts/reply.txt": "Dear {{ name }}",
            "prompts/chat.json": chat,
            "checks/check.py": CHECK_PY,
        },
    )
    before = promptfoo.eval(root / "promptfooconfig.yaml")
    _import(root)
    after = promptfoo.eval(root / "promptfooconfig.yaml")
    assert after["results"]["stats"]["successes"] == before["results"]["stats"]["successes"] == 8
    for name in ("reply", "chat"):
        assert run_cli("eval", f"{name}@1.0.0", "--repo", root).exit_code == 0
        native = promptgov.Registry(root).get(f"{name}@1.0.0").record.eval_runs[0]
        materialised = _materialised(root, name)
        real = promptfoo.eval(materialised)
        materialised.unlink()  # a scratch file beside the suite, not part of the policy
        assert _outcomes(real) == [(0, True), (1, True)]
        assert (native.successes, native.failures) == (2, 0)


def test_a_config_in_a_subdirectory_keeps_its_test_files(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "pf").mkdir(parents=True)
    (root / "pf/promptfooconfig.yaml").write_text(
        "prompts: ['Answer {{ question }}']\nproviders: [echo]\n"
        "defaultTest:\n  assert: [{type: contains, value: '{{ question }}'}]\n"
        "tests: tests.csv\noutputPath: out.json\n",
        encoding="utf-8",
    )
    (root / "pf/tests.csv").write_text("question\nWhy?\nHow?\n", encoding="utf-8")
    promptgov.init(root)
    res = run_cli("import", "pf/promptfooconfig.yaml", "--by", "bo", cwd=root)
    assert res.exit_code == 0, res.stderr
    suite = (root / "evals/pf.promptfoo.yml").read_text(encoding="utf-8")
    assert "tests: file://../pf/tests.csv" in suite and "outputPath" not in suite
    assert "from\n# pf/promptfooconfig.yaml, which promptfoo still runs unchanged" in suite
    _adopt(root)
    assert run_cli("eval", "pf@1.0.0", "--repo", root).exit_code == 0
    run = promptgov.Registry(root).get("pf@1.0.0").record.eval_runs[0]
    assert (run.successes, run.failures) == (2, 0)
