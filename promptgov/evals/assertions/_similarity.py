"""Reference-similarity assertions: levenshtein (rapidfuzz), rouge-n and bleu (``js._rouge``)."""

from __future__ import annotations

from ..js._jsvalue import js_number, to_utf16_units
from ..js._rouge import bleu, js_to_fixed, rouge_n
from ._text import invariant, output_string, verdict
from .interface import AssertionContext, AssertionError_, GradingResult


def levenshtein(a: str, b: str) -> int:
    """Edit distance over UTF-16 code units, as ``fastest-levenshtein`` counts it.

    rapidfuzz computes it; feeding it the strings as JavaScript holds them (an emoji is two
    surrogate units) makes its count promptfoo's.
    """
    # Imported on first use: a run without levenshtein assertions never loads its ~50 modules.
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(to_utf16_units(a), to_utf16_units(b)))


def handle_levenshtein(ctx: AssertionContext) -> GradingResult:
    """``levenshtein``: edit distance to the value at most ``threshold`` (default 5)."""
    value = ctx.spec.value
    invariant(isinstance(value, str), '"levenshtein" assertion type must have a string value')
    distance = levenshtein(output_string(ctx), value)
    threshold = ctx.spec.threshold if ctx.spec.threshold is not None else 5
    inverse = ctx.spec.negated
    passed = (distance <= threshold) != inverse
    relation = "less than or equal to" if inverse else "greater than"
    return verdict(
        passed, f"Levenshtein distance {distance} is {relation} threshold {js_number(threshold)}"
    )


# --- rouge-n ------------------------------------------------------------------------------


def handle_rouge_n(ctx: AssertionContext) -> GradingResult:
    """``rouge-n``: unigram ROUGE F-score against the value, at least ``threshold`` (0.75)."""
    value = ctx.spec.value
    invariant(isinstance(value, str), '"rouge" assertion type must be a string value')
    score = rouge_n(output_string(ctx).lower(), value.lower())
    threshold = ctx.spec.threshold if ctx.spec.threshold is not None else 0.75
    inverse = ctx.spec.negated
    relation = "greater than or equal to" if score >= threshold else "less than"
    return GradingResult(
        passed=(score >= threshold) != inverse,
        score=1 - score if inverse else score,
        reason=f"ROUGE-N score {js_to_fixed(score, 2)} is {relation} threshold "
        f"{js_number(threshold)}",
    )


# --- bleu ---------------------------------------------------------------------------------


def handle_bleu(ctx: AssertionContext) -> GradingResult:
    """``bleu``: BLEU against one reference or the best of several, at least ``threshold`` (0.5)."""
    value = ctx.spec.value
    invariant(
        isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value)),
        '"bleu" assertion type must have a string or array of strings value',
    )
    references = value if isinstance(value, list) else [value]
    if not references:
        raise AssertionError_("Invalid inputs")
    threshold = ctx.spec.threshold if ctx.spec.threshold is not None else 0.5
    score = bleu(output_string(ctx), references)
    inverse = ctx.spec.negated
    passed = (score >= threshold) != inverse
    relation = "greater" if inverse else "less"
    return GradingResult(
        passed=passed,
        score=1 - score if inverse else score,
        reason="Assertion passed"
        if passed
        else f"BLEU score {js_to_fixed(score, 4)} is {relation} than threshold "
        f"{js_number(threshold)}",
    )
