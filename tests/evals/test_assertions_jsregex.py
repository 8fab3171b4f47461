"""JavaScript RegExp semantics for the ``regex`` assertion, checked against Node.js.

``NODE_VERDICTS`` was produced by ``new RegExp(pattern).test(subject)`` in Node 22 (``E`` means the
constructor threw). The property test generates patterns and asks a live Node.js process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptgov.evals.js._jsregex import JsRegexError, compile_js_regex, js_regex_test

NODE_VERDICTS = [
    ("abc", "xabcx", "T"),
    ("^abc$", "abc\n", "F"),
    ("\\d+", "\u0663", "F"),
    ("\\w", "\u00e9", "F"),
    ("\\Z", "Z", "T"),
    ("\\A", "A", "T"),
    ("[^]", "\n", "T"),
    ("[]", "a", "F"),
    ("(?i)abc", "ABC", "E"),
    ("(?<x>a)\\k<x>", "aa", "T"),
    ("a{,5}", "a{,5}", "T"),
    ("a*+", "aaa", "E"),
    ("\\bfoo\\b", "\u00e9foo\u00e9", "T"),
    (".", "\r", "F"),
    ("^.$", "\ud83d\ude00", "F"),
    ("^..$", "\ud83d\ude00", "T"),
    ("(a)|\\1b", "b", "T"),
    ("\\1(a)", "a", "T"),
    ("\\k<x>", "k<x>", "T"),
    ("\\8", "8", "T"),
    ("\\101", "A", "T"),
    ("[\\d-z]", "-", "T"),
    ("[\\D]", "\u0663", "T"),
    ("[^\\D]", "5", "T"),
    ("(?=a)*b", "b", "T"),
    ("(?<=a)*b", "ab", "E"),
    ("\\cJ", "\n", "T"),
    ("\\c1", "\\c1", "T"),
    ("\\u{41}", "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu", "T"),
    ("x{2}{3}", "xxxxxx", "E"),
    ("a{3,1}", "aaa", "E"),
    ("(?<a$>x)", "x", "T"),
    ("[z-a]", "a", "E"),
    ("(", "x", "E"),
    (")", "x", "E"),
    ("[a", "a", "E"),
    ("\\", "x", "E"),
    ("(?#c)a", "a", "E"),
    ("(?P<n>a)", "a", "E"),
    ("(?>a)", "a", "E"),
    ("\\x4", "x4", "T"),
    ("[\\b]", "\b", "T"),
    ("\\s", "\u00a0", "T"),
    ("\\s", "\u001c", "F"),
    ("a|", "b", "T"),
    ("\\p{L}", "p{L}", "T"),
    ("[\\w-.]", "-", "T"),
    ("^", "x", "T"),
    ("ab{2,}c", "abbbc", "T"),
    ("\\/", "/", "T"),
    ("]", "]", "T"),
    ("}", "}", "T"),
    ("{", "{", "T"),
    ("a{1", "a{1", "T"),
    ("\\0", "\u0000", "T"),
    ("[&&a]", "&", "T"),
    ("[--a]", "-", "T"),
    ("\\S+$", "foo \n", "F"),
    ("(a\\1)", "a", "T"),
    ("(?<n>a\\k<n>)b", "ab", "T"),
    ("(a)\\1", "aa", "T"),
    ("(a)?\\1b", "b", "T"),
    ("(?:(a)|b)\\1c", "bc", "T"),
    ("\\k<n>(?<n>x)", "x", "T"),
    ("\\2(a)(b)", "ab", "T"),
    ("[\\s\\S]", "x", "T"),
    ("[^\\s\\S]", "x", "F"),
    ("[\\W\\d]", "5", "T"),
    ("[^\\W\\d]", "5", "F"),
    ("[^\\W\\d]", "a", "T"),
    ("a$", "a\n", "F"),
    ("\\Bb", "ab", "T"),
    ("^\\w+@\\w+\\.com$", "me@x.com", "T"),
    ("colou?r", "color", "T"),
    ("(\\d{3})-(\\d{4})", "555-1234", "T"),
    ("[A-Z][a-z]+ [A-Z][a-z]+", "John Smith", "T"),
    ("(?<=a+)b", "aab", "T"),
    ("(?<=ab|c)d", "cd", "T"),
]


def _verdict(pattern: str, subject: str) -> str:
    try:
        return "T" if js_regex_test(pattern, subject) else "F"
    except JsRegexError:
        return "E"


@pytest.mark.parametrize(("pattern", "subject", "node"), NODE_VERDICTS)
def test_matches_node(pattern: str, subject: str, node: str) -> None:
    assert _verdict(pattern, subject) == node


def test_patterns_compile_once() -> None:
    assert compile_js_regex("a+b") is compile_js_regex("a+b")


def test_invalid_pattern_fails_the_assertion_not_errors() -> None:
    import asyncio

    from promptgov.evals.assertions import assertion_from_config, evaluate_assertion
    from promptgov.evals.assertions.interface import AssertionContext
    from promptgov.evals.providers.interface import ProviderResponse

    spec = assertion_from_config({"type": "regex", "value": "(?i)abc"})
    ctx = AssertionContext(
        spec=spec, output="ABC", vars={}, prompt="", response=ProviderResponse(), provider=None,
        latency_ms=0,
    )  # fmt: skip
    result = asyncio.run(evaluate_assertion(ctx))
    assert (result.passed, result.score) == (False, 0.0)
    assert result.reason.startswith("Invalid regex pattern: Invalid regular expression: /(?i)abc/")


class _Node:
    """One Node.js process answering regex verdicts line by line."""

    SCRIPT = (
        "const rl=require('readline').createInterface({input:process.stdin});"
        "rl.on('line',l=>{const [p,s]=JSON.parse(l);let v;"
        "try{v=new RegExp(p).test(s)?'T':'F'}catch(e){v='E'}"
        "process.stdout.write(v+'\\n')});"
    )

    def __init__(self, exe: str) -> None:
        self.proc = subprocess.Popen(
            [exe, "-e", self.SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, pattern: str, subject: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([pattern, subject]) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def node() -> Iterator[_Node]:
    exe = shutil.which("node")
    assert exe is not None, "Node.js is needed to check JavaScript regex semantics"
    worker = _Node(exe)
    yield worker
    worker.close()


_ATOMS = st.sampled_from(
    ["a", "b", "1", "_", " ", "\\n", ".", "\\d", "\\w", "\\s", "\\D", "\\W", "\\b",
     "\\B", "[ab]", "[^a]", "[\\d-]", "[^]", "[]", "(a)", "(?:b)", "(?=a)", "(?!a)", "\\1",
     "(?<n>a)", "\\k<n>", "^", "$", "|", "*", "+", "?", "{2}", "{1,}", "{,2}", "*?", "\\Z",
     "\\x41", "\\u0041", "\\0", "\\cJ", "é", "٣", "(", ")", "[", "]", "{", "}"]
)  # fmt: skip
_SUBJECTS = st.text(alphabet="ab1_ \n\réA٣Z{},", max_size=8)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(_ATOMS, min_size=1, max_size=6), subject=_SUBJECTS)
def test_generated_patterns_agree_with_node(node: _Node, parts: list[str], subject: str) -> None:
    pattern = "".join(parts)
    assert _verdict(pattern, subject) == node.ask(pattern, subject), pattern
