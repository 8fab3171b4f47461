"""Nunjucks rendering rules on Jinja2, and promptfoo's prompt pipeline."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptgov.evals.templating import (
    TemplateError,
    extract_variables,
    js_str,
    render,
    render_prompt,
)


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("[{{ missing }}]", {}, "[]"),
        ("[{{ x }}]", {"x": None}, "[]"),
        ("{{ t }} {{ f }}", {"t": True, "f": False}, "true false"),
        ("{{ x | round }}", {"x": 3.14}, "3"),
        ("{{ x | round }}", {"x": 0.5}, "1"),
        ("{{ x | round }}", {"x": 2.5}, "3"),
        ("{{ o | dump }}", {"o": {"a": [1, "b"]}}, '{"a":[1,"b"]}'),
        ("{{ o }}", {"o": {"a": 1}}, "[object Object]"),
        ("{{ l }}", {"l": [1, None, "x"]}, "1,,x"),
        ("{{ h }}", {"h": "<b>&</b>"}, "<b>&</b>"),
        ("{{ 3.0 }} {{ 1e21 }} {{ 0.000001 }}", {}, "3 1e+21 0.000001"),
        ("{{ a.b.c }}", {"a": {}}, ""),
        ("{{ env.NAME }}", {}, "from-env"),
        ("{{ s.length }}", {"s": "abcd"}, "4"),
        ("{{ n | upper }}", {"n": None}, ""),
        ("keep\n", {}, "keep\n"),
    ],
)
def test_render_follows_nunjucks(template: str, variables: dict, expected: str) -> None:
    assert render(template, variables, {"NAME": "from-env"}) == expected


@pytest.mark.parametrize("template", ["{{ x | trim }}", "{{ x | join(',') }}", "{{ x | first }}"])
def test_list_and_string_filters_on_undefined_are_errors(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, {}, {})


def test_syntax_error_is_template_error() -> None:
    with pytest.raises(TemplateError, match="Template render error"):
        render("{% if %}", {}, {})


def test_extract_variables_finds_loop_sources_not_loop_vars() -> None:
    names = extract_variables(
        "{{ a }} {% for item in items %}{{ item }}{% endfor %} {{ b | upper }}"
    )
    assert set(names) == {"a", "items", "b"}


def test_string_vars_are_rendered_and_lose_one_trailing_newline(tmp_path: Path) -> None:
    variables = {"q": "Hi {{ name }}\n\n", "name": "Bo"}
    out = render_prompt("<{{ q }}>", variables, env={}, base_dir=tmp_path)
    assert out == "<Hi Bo\n>"
    assert variables["q"] == "Hi Bo\n"


def test_chat_json_prompt_values_are_json_escaped(tmp_path: Path) -> None:
    raw = '[{"role": "user", "content": "{{ q }}"}]'
    out = render_prompt(raw, {"q": 'say "hi"\n'}, env={}, base_dir=tmp_path)
    assert out == '[\n  {\n    "role": "user",\n    "content": "say \\"hi\\""\n  }\n]'


def test_file_vars_load_yaml_as_json_and_text_trimmed(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("name: Ida\nage: 28\n")
    (tmp_path / "n.txt").write_text("  note \n")
    (tmp_path / "j.json").write_text('{\n  "a": 1\n}\n')
    variables = {"y": "file://d.yaml", "t": "file://n.txt", "j": "file://j.json"}
    out = render_prompt("{{y}}|{{t}}|{{j}}", variables, env={}, base_dir=tmp_path)
    assert out == '{"name":"Ida","age":28}|note|{\n  "a": 1\n}'


def test_missing_file_var_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="missing.txt"):
        render_prompt("{{v}}", {"v": "file://missing.txt"}, env={}, base_dir=tmp_path)


def test_partial_tag_is_literal(tmp_path: Path) -> None:
    assert render_prompt("price {{ not closed", {}, env={}, base_dir=tmp_path) == (
        "price {{ not closed"
    )


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_str_of_floats_round_trips(value: float) -> None:
    text = js_str(value)
    assert float(text) == value
    assert "e-0" not in text and "e+0" not in text


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_js_str_of_integral_floats_has_no_point(value: int) -> None:
    assert js_str(float(value)) == str(value)


def test_js_str_special_values() -> None:
    assert js_str(math.nan) == "NaN"
    assert js_str(-math.inf) == "-Infinity"
