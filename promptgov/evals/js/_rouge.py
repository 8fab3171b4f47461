"""js-rouge's tokenizer with ROUGE-N, promptfoo's sentence BLEU, and ``Number.toFixed``.

promptfoo scores ``rouge-n`` with the js-rouge package, whose tokenizer splits punctuation off
words by Unicode category rules of its own (``exec:`` is two tokens), and ``bleu`` with its
own whitespace split; both print through ``toFixed``. No Python library tokenises or rounds
the same way, so these reproduce the JavaScript, step for step.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

from ._jsvalue import JS_WHITESPACE, js_trim

__all__ = ["bleu", "f_measure", "js_to_fixed", "rouge_n", "tree_bank_tokenize"]

_JS_WS = "[" + re.escape(JS_WHITESPACE) + "]"


def js_to_fixed(value: float, digits: int) -> str:
    """JavaScript's ``Number.prototype.toFixed``: half-up on the exact binary value."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    quantum = Decimal(1).scaleb(-digits)
    text = format(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _cat(ch: str) -> str:
    return unicodedata.category(ch) if ch else ""


def _is_ps(ch: str) -> bool:
    return _cat(ch) == "Ps"


def _is_punct(ch: str) -> bool:
    return _cat(ch).startswith("P")


def _is_letter_number_sc_ps(ch: str) -> bool:
    cat = _cat(ch)
    return cat.startswith(("L", "N")) or cat in ("Sc", "Ps")


def _is_js_space(ch: str) -> bool:
    return ch != "" and ch in JS_WHITESPACE


def _follows_quoted_modifier(text: str, index: int) -> bool:
    """js-rouge's footnote-marker rule: a modifier letter after a closed sentence quote."""
    window = text[max(0, index - 2) : index]
    if not window or _cat(window[-1]) != "Lm":
        return False
    modifier = window[-1]
    if not _is_alphabetic_footnote(text, index - len(modifier) - 1):
        return False
    start = index - len(modifier)
    while start > 0:
        prev = text[max(0, start - 2) : start]
        if not prev or not _cat(prev[-1]).startswith("N"):
            break
        start -= 1
    return re.search(r"[.!?][\"'\u201d\u2019]\Z", text[max(0, start - 2) : start]) is not None


def _is_alphabetic_footnote(text: str, index: int) -> bool:
    following = text[index + 1 : index + 2]
    if not following or following == unicodedata.normalize("NFKC", following):
        return False
    chunk = text[index + 1 : index + 5]
    return _cat(chunk[0]) == "Lm" and (
        len(chunk) == 1 or chunk[1] in " \t\n.,;:!?\"'\u201c\u2018\u201d\u2019])}>"
    )


def _quote_opening_context(text: str, index: int) -> bool:
    if index == 0:
        return True
    prev = text[index - 1]
    return (
        _is_js_space(prev)
        or _is_punct(prev)
        or prev == "<"
        or text[max(0, index - 2) : index] == "``"
        or _follows_quoted_modifier(text, index)
    )


_QUOTE_RE = re.compile(r"``|''|\"")
_CONTRACTIONS = [
    ("can", "not"),
    ("d", "'ye"),
    ("gim", "me"),
    ("gon", "na"),
    ("got", "ta"),
    ("lem", "me"),
    ("more", "'n"),
    ("wan", "na"),
    ("'t", "is"),
    ("'t", "was"),
]
# js-rouge guards each contraction with \p{ID_Continue} look-arounds (approximated by \w + marks).
_ID_CONTINUE = r"[\w\u0300-\u036f\u200c\u200d]"
_CONTRACTION_RES = [
    re.compile(
        rf"(?<!{_ID_CONTINUE})({re.escape(a)})({re.escape(b)})"
        + (r"(?= )" if a == "wan" else "")
        + rf"(?!{_ID_CONTINUE})",
        re.IGNORECASE,
    )
    for a, b in _CONTRACTIONS
]


def tree_bank_tokenize(sentence: str) -> list[str]:
    """js-rouge 3.2's ``treeBankTokenize``: Penn Treebank tokens, punctuation split off."""
    text = re.sub(f"(?:{_JS_WS}|\u0085)+", " ", sentence).strip(" ")
    if not text:
        return []
    inside = False

    def quote(match: re.Match[str]) -> str:
        nonlocal inside
        q, index = match.group(0), match.start()
        prev = text[index - 1] if index > 0 else ""
        if q == "``":
            inside = True
        else:
            following = _QUOTE_RE.search(text, index + 2)
            inside = (
                (
                    index + len(q) < len(text)
                    or index == 0
                    or _is_js_space(prev)
                    or _is_ps(prev)
                    or prev == "<"
                )
                and (not inside and _quote_opening_context(text, index))
                and prev not in (".", "!", "?")
                and (
                    q == '"'
                    or (
                        index > 0
                        and _is_letter_number_sc_ps(text[index + 2 : index + 3])
                        and following is not None
                        and following.group(0) == "''"
                    )
                )
            )
        return " `` " if inside else " '' "

    parse = _QUOTE_RE.sub(quote, text)
    parse = parse.replace("...", " ... ")
    parse = re.sub(r"[:,](?!\d)", lambda m: f" {m.group(0)} ", parse)
    parse = re.sub(r"[;@#$%&]", lambda m: f" {m.group(0)} ", parse)
    parse = re.sub(
        r"([^.])(?<!\b[A-Za-z]\.[A-Za-z])(\.)([\])}>'\s]*)\Z", r"\1 \2\3 ", parse, flags=re.ASCII
    )
    parse = re.sub(r"[?!]", lambda m: f" {m.group(0)} ", parse)
    parse = re.sub(r"[\][(){}<>]", lambda m: f" {m.group(0)} ", parse)
    parse = parse.replace("--", " -- ")
    parse = f" {parse} "
    parse = re.sub(r"([^'])' ", r"\1 ' ", parse)
    parse = re.sub(r"'([sSmMdD]) ", r" '\1 ", parse)
    parse = re.sub(r"('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r" \1 ", parse)
    for pattern in _CONTRACTION_RES:
        parse = pattern.sub(r" \1 \2 ", parse)
    parse = re.sub(r" {2,}", " ", parse)
    parse = re.sub(r"^ | \Z", "", parse)
    return parse.split(" ")


def f_measure(p: float, r: float, beta: float = 1.0) -> float:
    """js-rouge's ``fMeasure``, including its overshoot-safe formulation."""
    if p == r:
        return p
    if p == 0 or r == 0:
        return 0.0
    if beta < 1:
        return f_measure(r, p, 1 / beta)
    if p > r:
        inverse_beta = 1 / beta
        weight = inverse_beta * inverse_beta
        return min(p, r * ((1 + weight) / (1 + weight * (r / p))))
    beta_sq = beta * beta
    return min(r, p * ((1 + beta_sq) / (1 + beta_sq * (p / r))))


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    """promptfoo's clipped-count ROUGE-N F-score over Treebank tokens."""
    cand = tree_bank_tokenize(candidate)
    ref = tree_bank_tokenize(reference)
    if len(cand) < n or len(ref) < n:
        return 0.0
    cand_grams = [" ".join(cand[i : i + n]) for i in range(len(cand) - n + 1)]
    ref_grams = [" ".join(ref[i : i + n]) for i in range(len(ref) - n + 1)]
    ref_counts = Counter(ref_grams)
    overlap = sum(min(c, ref_counts.get(g, 0)) for g, c in Counter(cand_grams).items())
    if overlap == 0:
        return 0.0
    return f_measure(overlap / len(cand_grams), overlap / len(ref_grams))


def _bleu_tokens(text: str) -> list[str]:
    return re.split(f"{_JS_WS}+", js_trim(text.lower()))


def _ngrams(words: list[str], n: int) -> list[str]:
    if n <= 0 or n > len(words):
        return []
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def bleu(candidate: str, references: list[str]) -> float:
    """promptfoo's sentence BLEU: clipped 1-4-gram precisions, 1e-7 smoothing, brevity penalty."""
    weights = (0.25, 0.25, 0.25, 0.25)
    if js_trim(candidate) == "":
        return 0.0
    words = _bleu_tokens(candidate)
    ref_words = [_bleu_tokens(r) for r in references]
    closest = ref_words[0].__len__()
    for ref in ref_words[1:]:
        cur = len(ref)
        if abs(cur - len(words)) < abs(closest - len(words)) or (
            abs(cur - len(words)) == abs(closest - len(words)) and cur < closest
        ):
            closest = cur
    orders: list[tuple[float, float]] = []
    for n in range(1, 5):
        grams = _ngrams(words, n)
        if not grams:
            continue
        counts = Counter(grams)
        best = 0
        for ref in ref_words:
            ref_counts = Counter(_ngrams(ref, n))
            best = max(best, sum(min(c, ref_counts.get(g, 0)) for g, c in counts.items()))
        orders.append((best / len(grams), weights[n - 1]))
    bp = 1.0 if len(words) > closest else math.exp(1 - closest / len(words))
    weight_sum = sum(w for _, w in orders)
    if weight_sum == 0:
        return 0.0
    total = 0.0
    for precision, weight in orders:
        total += weight / weight_sum * math.log(precision if precision != 0 else 1e-7)
    return bp * math.exp(total)
