"""Model-graded assertions through a grading provider, and webhook against a real local server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from promptgov.evals.assertions import assertion_from_config, evaluate_assertion
from promptgov.evals.assertions.interface import AssertionContext, AssertionError_, GradingResult
from promptgov.evals.providers.interface import (
    CallContext,
    Provider,
    ProviderError,
    ProviderResponse,
)


class ScriptedGrader(Provider):
    """A grader that answers from a list and records the prompts it was sent."""

    def __init__(self, answers: list[Any], vectors: dict[str, list[float]] | None = None) -> None:
        super().__init__("scripted-grader")
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.vectors = vectors or {}

    async def call(self, prompt: str, context: CallContext) -> ProviderResponse:
        self.prompts.append(prompt)
        return ProviderResponse(output=self.answers.pop(0))

    async def embed(self, text: str) -> list[float]:
        if text not in self.vectors:
            raise ProviderError(f"no vector for {text!r}")
        return self.vectors[text]


def grade(
    raw: dict[str, Any],
    output: Any,
    get_grader: Callable[[Any], Provider] | None,
    prompt: str = "What is the capital of France?",
) -> GradingResult:
    ctx = AssertionContext(
        spec=assertion_from_config(raw),
        output=output,
        vars={"topic": "geo"},
        prompt=prompt,
        response=ProviderResponse(output=output),
        provider=None,
        latency_ms=1.0,
        get_grader=get_grader,
    )
    return asyncio.run(evaluate_assertion(ctx))


def test_llm_rubric_uses_the_grader_verdict_and_renders_the_default_prompt() -> None:
    grader = ScriptedGrader(['{"reason": "names Paris", "pass": true, "score": 0.9}'])
    result = grade({"type": "llm-rubric", "value": "Names a city"}, "Paris", lambda _: grader)
    assert (result.passed, result.score, result.reason) == (True, 0.9, "names Paris")
    messages = json.loads(grader.prompts[0])
    assert messages[1]["content"] == "<Output>\nParis\n</Output>\n<Rubric>\nNames a city\n</Rubric>"


def test_llm_rubric_threshold_and_inversion() -> None:
    grader = ScriptedGrader(['{"pass": true, "score": 0.4, "reason": "meh"}'] * 2)
    strict = grade({"type": "llm-rubric", "value": "x", "threshold": 0.5}, "o", lambda _: grader)
    assert not strict.passed
    inverted = grade({"type": "not-llm-rubric", "value": "x"}, "o", lambda _: grader)
    assert inverted.passed is False and inverted.score == pytest.approx(0.6)


def test_llm_rubric_without_a_grader_is_an_error() -> None:
    def none(_: Any) -> Provider:
        raise ProviderError("no grading provider configured")

    with pytest.raises(AssertionError_, match="llm-rubric cannot get a grading provider"):
        grade({"type": "llm-rubric", "value": "x"}, "o", none)
    with pytest.raises(AssertionError_, match="needs a grading provider"):
        grade({"type": "llm-rubric", "value": "x"}, "o", None)


def test_unparseable_grader_answer_fails() -> None:
    grader = ScriptedGrader(["I think it is fine"])
    result = grade({"type": "llm-rubric", "value": "x"}, "o", lambda _: grader)
    assert (result.passed, result.reason) == (
        False,
        "Could not extract JSON from llm-rubric response",
    )


def test_closed_qa_reads_the_final_letter() -> None:
    grader = ScriptedGrader(["Reasoning...\nY\nY", "Reasoning...\nN"])
    ok = grade(
        {"type": "model-graded-closedqa", "value": "Names a city"}, "Paris", lambda _: grader
    )
    no = grade(
        {"type": "model-graded-closedqa", "value": "Names a city"}, "Paris", lambda _: grader
    )
    assert (ok.passed, no.passed) == (True, False)
    assert "[Task]: What is the capital of France?" in grader.prompts[0]


@pytest.mark.parametrize(
    ("answer", "passed"),
    [('{"category": "A", "reason": "subset"}', True), ('{"category": "D", "reason": "no"}', False),
     ("(C) same details", True)],
)  # fmt: skip
def test_factuality_categories(answer: str, passed: bool) -> None:
    grader = ScriptedGrader([answer])
    result = grade(
        {"type": "factuality", "value": "Paris is the capital"}, "Paris", lambda _: grader
    )
    assert result.passed is passed


def test_similar_through_the_grader_embeddings() -> None:
    grader = ScriptedGrader([], {"Paris": [1.0, 0.0], "The capital is Paris": [0.8, 0.6]})
    result = grade(
        {"type": "similar", "value": "The capital is Paris", "threshold": 0.75},
        "Paris",
        lambda _: grader,
    )
    assert result.passed
    assert result.score == pytest.approx(0.8)
    assert result.reason == "Similarity 0.80 is greater than or equal to threshold 0.75"
    far = grade({"type": "similar:euclidean", "value": "The capital is Paris", "threshold": 0.1},
                "Paris", lambda _: grader)  # fmt: skip
    assert not far.passed


def test_similar_with_a_failing_embedder_fails() -> None:
    grader = ScriptedGrader([], {})
    result = grade({"type": "similar", "value": "x"}, "y", lambda _: grader)
    assert (result.passed, result.score) == (False, 0.0)
    assert "no vector" in result.reason


def test_answer_relevance_compares_generated_questions_with_the_query() -> None:
    q = "What is the capital of France?"
    grader = ScriptedGrader(
        [q, q, "Where is Paris?"], {q: [1.0, 0.0], "Where is Paris?": [0.0, 1.0]}
    )
    result = grade({"type": "answer-relevance", "threshold": 0.5}, "Paris", lambda _: grader)
    assert result.score == pytest.approx(2 / 3)
    assert result.passed


# --- webhook ------------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Hook.received.append(body)
        if self.path == "/broken":
            self.send_response(500)
            self.end_headers()
            return
        answer = {"pass": "good" in body["output"], "score": 0.75, "reason": "hooked"}
        if self.path == "/nopass":
            answer = {"verdict": "yes"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture()
def hook_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_webhook_verdict_and_payload(hook_url: str) -> None:
    result = grade({"type": "webhook", "value": f"{hook_url}/grade"}, "good answer", None)
    assert (result.passed, result.score, result.reason) == (True, 0.75, "hooked")
    assert _Hook.received[-1] == {
        "output": "good answer",
        "context": {"prompt": "What is the capital of France?", "vars": {"topic": "geo"}},
    }
    inverted = grade({"type": "not-webhook", "value": f"{hook_url}/grade"}, "good", None)
    assert (inverted.passed, inverted.score) == (False, 0.25)


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/broken", "Webhook error: Webhook response status: 500"),
     ("/nopass", 'Webhook error: Invariant failed: Webhook response must be a JSON object')],
)  # fmt: skip
def test_webhook_failures(hook_url: str, path: str, reason: str) -> None:
    result = grade({"type": "webhook", "value": hook_url + path}, "x", None)
    assert not result.passed and result.reason.startswith(reason)
