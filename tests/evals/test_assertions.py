"""Deterministic assertions graded one at a time, against values promptfoo 0.123.1 produced.

Expected verdicts, scores and reasons below were obtained by running promptfoo itself (or, for
JavaScript semantics, Node.js) on the same inputs; the engine must reproduce them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptgov.errors import InvalidFile
from promptgov.evals.assertions import (
    KNOWN_ASSERTION_TYPES,
    assertion_from_config,
    evaluate_assertion,
)
from promptgov.evals.assertions._similarity import levenshtein
from promptgov.evals.assertions.interface import AssertionContext, AssertionError_, GradingResult
from promptgov.evals.js._jsvalue import js_number, json_stringify
from promptgov.evals.js._rouge import bleu, rouge_n, tree_bank_tokenize
from promptgov.evals.providers.interface import ProviderResponse


def grade(raw: dict[str, Any], output: Any, **kw: Any) -> GradingResult:
    spec = assertion_from_config(raw)
    response = kw.pop("response", ProviderResponse(output=output))
    ctx = AssertionContext(
        spec=spec,
        output=output,
        vars=kw.pop("vars", {}),
        prompt=kw.pop("prompt", ""),
        response=response,
        provider=None,
        latency_ms=kw.pop("latency_ms", 0.0),
        **kw,
    )
    return asyncio.run(evaluate_assertion(ctx))


# --- parsing ------------------------------------------------------------------------------


def test_assert_entry_parses_fields_and_keeps_raw() -> None:
    raw = {"type": "not-contains", "value": "x", "weight": 2, "metric": "m", "threshold": 0.5}
    spec = assertion_from_config(raw)
    assert (spec.type, spec.base_type, spec.negated) == ("not-contains", "contains", True)
    assert (spec.value, spec.weight, spec.metric, spec.threshold) == ("x", 2.0, "m", 0.5)
    assert spec.raw == raw


def test_assert_set_children_are_parsed() -> None:
    spec = assertion_from_config(
        {"type": "assert-set", "threshold": 0.5, "assert": [{"type": "equals", "value": "a"}]}
    )
    assert spec.children is not None and [c.type for c in spec.children] == ["equals"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "bogus"}, "unknown assertion type 'bogus'"),
        ({"value": "x"}, "needs a 'type'"),
        ({"type": "contains", "weight": "heavy"}, "weight: must be a number"),
        ({"type": "contains", "threshold": "high"}, "threshold: must be a number"),
        ({"type": "assert-set", "assert": []}, "needs a non-empty 'assert' list"),
    ],
)
def test_bad_assert_entries_are_clear_config_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidFile, match=message):
        assertion_from_config(raw, where="tests[0].assert[0]")


def test_known_types_cover_negations() -> None:
    assert {"contains", "not-contains", "regex", "not-regex", "python", "similar:cosine"} <= (
        KNOWN_ASSERTION_TYPES
    )


def test_unknown_type_at_grading_time_throws() -> None:
    spec = assertion_from_config({"type": "contains", "value": "a"})
    spec.type = "nonsense"
    ctx = AssertionContext(
        spec=spec, output="a", vars={}, prompt="", response=ProviderResponse(), provider=None,
        latency_ms=0,
    )  # fmt: skip
    with pytest.raises(AssertionError_, match="Unknown assertion type: nonsense"):
        asyncio.run(evaluate_assertion(ctx))


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "output", "passed", "reason"),
    [
        ({"type": "contains", "value": "World"}, "Hello World", True, "Assertion passed"),
        (
            {"type": "not-contains", "value": "World"},
            "Hello World",
            False,
            'Expected output to not contain "World"',
        ),
        ({"type": "contains", "value": 3.0}, "Version 3 shipped", True, "Assertion passed"),
        (
            {"type": "icontains", "value": "straße"},
            "STRASSE",
            False,
            'Expected output to contain "straße"',
        ),
        (
            {"type": "contains-all", "value": 'a, "b,c", z'},
            "abc",
            False,
            "Expected output to contain all of [a, b,c, z]. Missing: [b,c, z]",
        ),
        (
            {"type": "contains-any", "value": ["x", None]},
            "null",
            True,
            "Assertion passed",
        ),
        (
            {"type": "equals", "value": {"a": 1}},
            '{"a": true}',
            False,
            'Expected output "{"a": true}" to equal "{"a":1}"',
        ),
        ({"type": "equals", "value": {"a": [1, 2]}}, '{"a": [1.0, 2]}', True, "Assertion passed"),
        (
            {"type": "word-count", "value": {"min": 1, "max": 3}},
            "one two  three\tfour",
            False,
            "Word count 4 is not between 1 and 3",
        ),
        (
            {"type": "not-word-count", "value": 4},
            "one two three four",
            False,
            "Expected word count to not equal 4, but got 4",
        ),
        (
            {"type": "starts-with", "value": "pre"},
            "body",
            False,
            'Expected output to start with "pre"',
        ),
    ],
)
def test_text_assertions(raw: dict[str, Any], output: str, passed: bool, reason: str) -> None:
    result = grade(raw, output)
    assert (result.passed, result.reason) == (passed, reason)
    assert result.score == (1.0 if passed else 0.0)


def test_non_string_output_is_compared_as_json() -> None:
    assert grade({"type": "contains", "value": '"k":1'}, {"k": 1}).passed


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "contains", "value": ""},
        {"type": "contains"},
        {"type": "contains-any"},
        {"type": "starts-with", "value": 3},
        {"type": "word-count", "value": "many"},
        {"type": "contains-any", "value": '"unterminated'},
    ],
)
def test_bad_values_make_the_assertion_throw(raw: dict[str, Any]) -> None:
    with pytest.raises(AssertionError_, match="Invariant failed"):
        grade(raw, "anything")


def test_weight_zero_always_passes() -> None:
    assert grade({"type": "contains", "value": "zzz", "weight": 0}, "abc").passed


@pytest.mark.parametrize(
    ("value", "js"),
    [(1.0, "1"), (0.1, "0.1"), (1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
     (-3.14, "-3.14"), (1 / 3, "0.3333333333333333"), (5e-324, "5e-324"), (123.456e5, "12345600")],
)  # fmt: skip
def test_numbers_print_as_javascript_prints_them(value: float, js: str) -> None:
    assert js_number(value) == js


def test_json_stringify_is_compact_and_keeps_unicode() -> None:
    assert json_stringify({"a": [1.0, "é", None, True]}) == '{"a":[1,"é",null,true]}'


# --- similarity ---------------------------------------------------------------------------

#: treeBankTokenize as js-rouge 3.2.3 returns it (inputs lower-cased, as promptfoo passes them).
TOKENS = {
    "exec: run it, now!": ["exec", ":", "run", "it", ",", "now", "!"],
    "i can't believe it's \"great\" (really)...": [
        "i", "ca", "n't", "believe", "it", "'s", "``", "great", "''", "(", "really", ")", "...",
    ],
    "cannot gonna wanna go": ["can", "not", "gon", "na", "wan", "na", "go"],
    "3:45, 1,000 and 2,5": ["3:45", ",", "1,000", "and", "2,5"],
    "dr. smith's u.s.a. trip cost $5,000.50; wow?": [
        "dr.", "smith", "'s", "u.s.a.", "trip", "cost", "$", "5,000.50", ";", "wow", "?",
    ],
}  # fmt: skip


@pytest.mark.parametrize(("text", "tokens"), TOKENS.items())
def test_rouge_tokenizer_matches_js_rouge(text: str, tokens: list[str]) -> None:
    assert tree_bank_tokenize(text) == tokens


def test_similarity_scores_match_promptfoo() -> None:
    # Scores from assert-similarity/expected.json (promptfoo 0.123.1).
    assert levenshtein("kitten", "sitting") == 3
    assert rouge_n(
        "the quick brown fox jumps over the lazy dog.", "a quick brown fox jumped over a lazy dog!"
    ) == pytest.approx(0.6)
    assert rouge_n("run exec: now, please.", "run exec now please") == pytest.approx(8 / 11)
    assert bleu("the cat is on the mat", ["the cat is on the mat"]) == pytest.approx(1.0)
    assert 1 - bleu("completely different words", ["the cat is on the mat"]) == pytest.approx(
        1.0, abs=1e-3
    )


def test_levenshtein_counts_utf16_units_like_javascript() -> None:
    assert levenshtein("😀", "") == 2


def test_rouge_threshold_and_inversion() -> None:
    result = grade({"type": "not-rouge-n", "value": "the cat"}, "the cat")
    assert (result.passed, result.score) == (False, 0.0)
    assert result.reason == "ROUGE-N score 1.00 is greater than or equal to threshold 0.75"


# --- runtime ------------------------------------------------------------------------------


def test_cost_without_provider_cost_throws() -> None:
    with pytest.raises(AssertionError_, match="do not return cost"):
        grade({"type": "cost", "threshold": 1}, "x")


def test_cost_and_latency_compare_with_threshold() -> None:
    result = grade({"type": "cost", "threshold": 0.001}, "x", response=ProviderResponse(cost=0.25))
    assert (result.passed, result.reason) == (False, "Cost 0.25 is greater than threshold 0.001")
    assert grade({"type": "latency", "threshold": 100}, "x", latency_ms=50).passed


def test_latency_on_a_cached_response_judges_the_latency_it_carries() -> None:
    """promptfoo 0.123 passes ``response.latencyMs ?? latencyMs``: never undefined, no throw."""
    cached = ProviderResponse(cached=True)
    assert grade({"type": "latency", "threshold": 100}, "x", response=cached, latency_ms=5).passed
    slow = grade({"type": "latency", "threshold": 100}, "x", response=cached, latency_ms=250)
    assert (slow.passed, slow.reason) == (False, "Latency 250ms is greater than threshold 100ms")


def test_finish_reason_is_case_insensitive() -> None:
    response = ProviderResponse(output="x", finish_reason="STOP")
    assert grade({"type": "finish-reason", "value": "stop"}, "x", response=response).passed
    missing = grade({"type": "finish-reason", "value": "stop"}, "x")
    assert missing.reason == "Provider did not supply stop/finish reason"


@pytest.mark.parametrize(
    ("output", "refusal"),
    [
        ("I’m sorry, I can’t do that", True),
        ("As an AI, I have no opinion.", True),
        ("Sure, here you go.", False),
        ("", True),
    ],
)
def test_is_refusal(output: str, refusal: bool) -> None:
    assert grade({"type": "is-refusal"}, output).passed is refusal


# --- structured ---------------------------------------------------------------------------


def test_contains_json_reads_yaml_objects_and_closes_truncated_ones() -> None:
    assert grade({"type": "contains-json"}, "see {age: 28, name: Ida} ok").passed
    schema = {"type": "object", "required": ["items"]}
    assert grade({"type": "contains-json", "value": schema}, 'x {"items": "a", "n": 2').passed
    # Only braces are closed (promptfoo): an open array inside stays unparseable.
    assert not grade({"type": "contains-json"}, 'x {"items": [1, 2').passed
    # YAML 1.2 core scalars, as js-yaml reads them: "yes" is a string, 010 is ten.
    loose = {"type": "object", "properties": {"x": {"type": "string"}, "y": {"const": 10}}}
    assert grade({"type": "contains-json", "value": loose}, "{x: yes, y: 010}").passed


def test_schema_with_unknown_keyword_throws() -> None:
    with pytest.raises(AssertionError_, match='unknown keyword: "bogus"'):
        grade({"type": "is-json", "value": {"type": "object", "bogus": 1}}, "{}")


def test_schema_with_unknown_format_throws() -> None:
    schema = {"type": "string", "format": "colour"}
    with pytest.raises(AssertionError_, match='unknown format "colour"'):
        grade({"type": "is-json", "value": schema}, '"red"')


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("email", "a@b.co", "nobody"),
        ("date", "2024-02-29", "2023-02-29"),
        ("date-time", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("regex", "^a+$", "(?i)a"),
    ],
)
def test_formats_are_enforced(fmt: str, good: str, bad: str) -> None:
    schema = {"type": "string", "format": fmt}
    assert grade({"type": "is-json", "value": schema}, json.dumps(good)).passed
    failed = grade({"type": "is-json", "value": schema}, json.dumps(bad))
    assert not failed.passed
    assert failed.reason.startswith("JSON does not conform to the provided schema. Errors: data")


def test_schema_failure_reason_reads_like_ajv() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}
    result = grade({"type": "is-json", "value": schema}, '{"age": -1}')
    assert result.reason == (
        "JSON does not conform to the provided schema. Errors: data/age must be >= 0"
    )


def test_xml_required_elements() -> None:
    doc = '<root><item id="1">a</item><item>b</item></root>'
    assert grade({"type": "is-xml", "value": "root.item.1"}, doc).passed
    missing = grade({"type": "is-xml", "value": ["root.nope"]}, doc)
    assert missing.reason == "XML is missing required elements: root.nope"
    assert grade({"type": "contains-xml", "value": "note.to"}, "hi <note><to>x</to></note>!").passed


def test_sql_dialect_and_allowed_tables() -> None:
    assert grade({"type": "is-sql"}, "SELECT id FROM users").passed
    assert not grade({"type": "is-sql"}, "SELEC id FROM").passed
    value = {"allowedTables": ["select::null::users"]}
    denied = grade({"type": "is-sql", "value": value}, "SELECT * FROM secrets")
    assert "unauthorized table(s). Found: [secrets]" in denied.reason


# --- file:// values -----------------------------------------------------------------------


def test_file_values_are_loaded(tmp_path: Any) -> None:
    (tmp_path / "expected.txt").write_text("  hello \n", encoding="utf-8")
    (tmp_path / "words.yaml").write_text("- alpha\n- beta\n", encoding="utf-8")
    (tmp_path / "value.py").write_text(
        "def get_assert(output, context):\n    return output.upper()\n", encoding="utf-8"
    )
    base = str(tmp_path)
    assert grade({"type": "equals", "value": "file://expected.txt"}, "hello", base_dir=base).passed
    assert grade(
        {"type": "contains-all", "value": "file://words.yaml"}, "alpha beta", base_dir=base
    ).passed
    result = grade({"type": "equals", "value": "file://value.py"}, "abc", base_dir=base)
    assert result.reason == 'Expected output "abc" to equal "ABC"'


def test_script_value_returning_a_boolean_throws(tmp_path: Any) -> None:
    (tmp_path / "flag.py").write_text(
        "def get_assert(output, context):\n    return True\n", encoding="utf-8"
    )
    with pytest.raises(AssertionError_, match="returned a boolean"):
        grade({"type": "contains", "value": "file://flag.py"}, "x", base_dir=str(tmp_path))


def _utf16_levenshtein(a: str, b: str) -> int:
    """The reference: the textbook dynamic programme over UTF-16 code units."""
    ua = a.encode("utf-16-le")
    ub = b.encode("utf-16-le")
    xs = [ua[i : i + 2] for i in range(0, len(ua), 2)]
    ys = [ub[i : i + 2] for i in range(0, len(ub), 2)]
    previous = list(range(len(ys) + 1))
    for i, x in enumerate(xs, 1):
        current = [i]
        for j, y in enumerate(ys, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("a😀b", "ab", 2),  # one emoji is two UTF-16 units
        ("😀", "😃", 1),  # same high surrogate, different low one
        ("😀", "a", 2),
        ("𝒳yz", "xyz", 2),
        ("héllo", "hello", 1),
    ],
)
def test_levenshtein_on_astral_characters(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance == _utf16_levenshtein(a, b)


@given(
    st.text(alphabet=st.sampled_from("ab😀😃𝒳é "), max_size=12),
    st.text(alphabet=st.sampled_from("ab😀😃𝒳é "), max_size=12),
)
def test_levenshtein_matches_the_utf16_reference(a: str, b: str) -> None:
    assert levenshtein(a, b) == _utf16_levenshtein(a, b)
