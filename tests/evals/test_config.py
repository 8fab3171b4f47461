"""Loading promptfoo configs: prompts, tests from files, CSV mini-syntax, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptgov.errors import InvalidFile, NotFound
from promptgov.evals import load_config
from promptgov.evals.config import assertion_from_string


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_prompt_ids_hash_label_then_id_then_raw(tmp_path: Path) -> None:
    cfg = load_config(
        {
            "prompts": ["plain {{x}}", {"id": "p2", "raw": "two"}, {"label": "L", "raw": "three"}],
            "providers": ["echo"],
        },
        base_dir=tmp_path,
    )
    import hashlib

    ids = [p.prompt_id for p in cfg.prompts]
    assert ids == [
        hashlib.sha256(b"plain {{x}}").hexdigest(),
        hashlib.sha256(b"two").hexdigest(),  # label defaults to raw
        hashlib.sha256(b"L").hexdigest(),
    ]


def test_txt_prompt_file_splits_on_separator_and_labels_with_path(tmp_path: Path) -> None:
    _write(tmp_path / "p.txt", "one {{x}}\n---\n\ntwo\n")
    cfg_path = _write(
        tmp_path / "promptfooconfig.yaml", "prompts: [file://p.txt]\nproviders: [echo]\n"
    )
    cfg = load_config(cfg_path)
    assert [(p.raw, p.label) for p in cfg.prompts] == [
        ("one {{x}}", f"{tmp_path}/p.txt: one {{{{x}}}}"),
        ("two", f"{tmp_path}/p.txt: two"),
    ]


def test_yaml_booleans_follow_js_yaml(tmp_path: Path) -> None:
    cfg_path = _write(
        tmp_path / "c.yaml",
        "prompts: ['{{a}}']\nproviders: [echo]\ntests:\n"
        "  - vars: {a: yes, b: on, c: true, d: 2024-01-02}\n",
    )
    assert load_config(cfg_path).tests[0].vars == {
        "a": "yes",
        "b": "on",
        "c": True,
        "d": "2024-01-02",
    }


def test_csv_tests_columns_and_mini_syntax(tmp_path: Path) -> None:
    _write(
        tmp_path / "t.csv",
        "q,__expected,__expected2,__metric,__threshold,__metadata:team,__description\n"
        'hi,contains:h,"icontains-any:A,""b,c""",m1,0.5,core,first\n'
        "x,levenshtein:abc,,,,,\n",
    )
    cfg_path = _write(
        tmp_path / "c.yaml", "prompts: ['{{q}}']\nproviders: [echo]\ntests: file://t.csv\n"
    )
    first, second = load_config(cfg_path).tests
    assert first.vars == {"q": "hi"}
    assert [(a.type, a.value, a.metric) for a in first.asserts] == [
        ("contains", "h", "m1"),
        ("icontains-any", ["A", "b,c"], "m1"),
    ]
    assert first.threshold == 0.5 and first.metadata == {"team": "core"}
    assert first.description == "first"
    assert second.description == "Row #2"
    assert (second.asserts[0].type, second.asserts[0].threshold) == ("levenshtein", 0.75)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("not-contains:x", {"type": "not-contains", "value": "x"}),
        ("rouge-n(0.6):the cat", {"type": "rouge-n", "value": "the cat", "threshold": 0.6}),
        ("python:file://check.py", {"type": "python", "value": "file://check.py"}),
        ("file://check.py", {"type": "python", "value": "check.py"}),
        ("grade:is polite", {"type": "llm-rubric", "value": "is polite"}),
        ("just text", {"type": "equals", "value": "just text"}),
    ],
)
def test_assertion_from_string(cell: str, expected: dict) -> None:
    assert assertion_from_string(cell) == expected


def test_python_test_generator(tmp_path: Path) -> None:
    _write(tmp_path / "gen.py", "def make():\n    return [{'vars': {'n': i}} for i in range(3)]\n")
    cfg_path = _write(
        tmp_path / "c.yaml", "prompts: ['{{n}}']\nproviders: [echo]\ntests: [file://gen.py:make]\n"
    )
    assert [t.vars for t in load_config(cfg_path).tests] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_prompt_resolver_is_asked_first(tmp_path: Path) -> None:
    from promptgov.evals import Prompt

    seen = []

    def resolver(ref: str) -> list[Prompt] | None:
        seen.append(ref)
        return (
            [Prompt(raw="resolved {{x}}", label="greet@1.0.0")]
            if ref.startswith("promptgov://")
            else None
        )

    cfg = load_config(
        {"prompts": ["promptgov://greet@1.0.0", "inline"], "providers": ["echo"]},
        base_dir=tmp_path,
        prompt_resolver=resolver,
    )
    assert seen == ["promptgov://greet@1.0.0", "inline"]
    assert [p.label for p in cfg.prompts] == ["greet@1.0.0", "inline"]


@pytest.mark.parametrize(
    ("text", "files", "message"),
    [
        (
            "prompts: ['x']\nproviders: [echo]\ntests:\n  - assert: [{type: bogus, value: 1}]\n",
            {},
            "tests[0].assert[0]: unknown assertion type 'bogus'",
        ),
        ("prompts: ['x']\nproviders: [echo]\ntests: file://nope.csv\n", {}, "nope.csv"),
        ("prompts: ['x'\nproviders: [echo]\n", {}, "invalid YAML at line"),
        ("prompts: ['x']\nproviders: [nosuch:provider]\n", {}, "providers[0] (nosuch:provider)"),
        ("prompts: [file://missing.txt]\nproviders: [echo]\n", {}, "prompts[0]"),
        ("prompts: []\nproviders: [echo]\n", {}, "prompts: provide at least one prompt"),
        ("prompts: ['x']\n", {}, "providers: specify at least one provider"),
    ],
)
def test_bad_configs_name_the_file_and_key(
    tmp_path: Path, text: str, files: dict, message: str
) -> None:
    cfg_path = _write(tmp_path / "promptfooconfig.yaml", text)
    with pytest.raises((InvalidFile, NotFound)) as info:
        load_config(cfg_path)
    assert message in info.value.message
    assert str(cfg_path) in info.value.message or "nope.csv" in info.value.message


@pytest.mark.parametrize("absent", ["", "prompts:\n", "prompts: ''\n"])
def test_a_config_without_prompts_has_promptfoos_default_prompt(
    tmp_path: Path, absent: str
) -> None:
    cfg = load_config(_write(tmp_path / "promptfooconfig.yaml", absent + "providers: [echo]\n"))
    assert [(p.raw, p.label) for p in cfg.prompts] == [("{{prompt}}", "{{prompt}}")]
    assert cfg.tests == [] and cfg.default_test is None and cfg.scenarios == []


def test_missing_config_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
