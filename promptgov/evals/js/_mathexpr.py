"""A small, safe evaluator for the mathjs formulas of promptfoo's ``derivedMetrics``.

Supports numbers, metric names, ``+ - * / % ^``, unary signs, parentheses, comparisons,
``a ? b : c`` and the common mathjs functions. Division by zero gives ``Infinity``/``NaN`` as
in mathjs; an unknown name is an error (promptfoo then leaves the metric at 0).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ExpressionError

__all__ = ["ExpressionError", "evaluate"]


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_$][\w$]*)"
    r"|(?P<op>==|!=|<=|>=|and|or|[-+*/%^(),<>?:!]))"
)


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * (math.copysign(1, b))
    return a / b


def _mod(a: float, b: float) -> float:
    if b == 0:
        return a
    return a - b * math.floor(a / b)


def _pow(a: float, b: float) -> float:
    try:
        return float(a**b)
    except (OverflowError, ZeroDivisionError):
        return math.inf


def _log(x: float, base: float | None = None) -> float:
    if x == 0:
        return -math.inf
    return math.log(x) if base is None else math.log(x) / math.log(base)


def _mean(*xs: float) -> float:
    return sum(xs) / len(xs) if xs else math.nan


_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
    "min": min,
    "max": max,
    "log": _log,
    "log10": lambda x: _log(x, 10),
    "log2": lambda x: _log(x, 2),
    "exp": math.exp,
    "pow": _pow,
    "round": lambda x, n=0: math.floor(x * 10**n + 0.5) / 10**n,
    "floor": math.floor,
    "ceil": math.ceil,
    "mean": _mean,
    "sum": lambda *xs: float(sum(xs)),
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "Infinity": math.inf, "NaN": math.nan}


class _Parser:
    def __init__(self, text: str, scope: Mapping[str, Any]) -> None:
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.scope = scope

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if not m or m.end() == pos:
                raise ExpressionError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
            kind = m.lastgroup
            assert kind is not None
            tokens.append((kind, m.group(kind)))
            pos = m.end()
        return tokens

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError("unexpected end of formula")
        tok = self.tokens[self.pos]
        if expected is not None and tok[1] != expected:
            raise ExpressionError(f"expected {expected!r}, got {tok[1]!r}")
        self.pos += 1
        return tok

    def parse(self) -> float:
        value = self.conditional()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")
        return value

    def conditional(self) -> float:
        cond = self.logical()
        if self.peek() == "?":
            self.take()
            yes = self.conditional()
            self.take(":")
            no = self.conditional()
            return yes if cond else no
        return cond

    def logical(self) -> float:
        left = self.comparison()
        while self.peek() in ("and", "or"):
            op = self.take()[1]
            right = self.comparison()
            left = (
                float(bool(left) and bool(right))
                if op == "and"
                else float(bool(left) or bool(right))
            )
        return left

    def comparison(self) -> float:
        left = self.additive()
        ops: dict[str, Callable[[float, float], bool]] = {
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        while self.peek() in ops:
            op = self.take()[1]
            left = float(ops[op](left, self.additive()))
        return left

    def additive(self) -> float:
        left = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.multiplicative()
            left = left + right if op == "+" else left - right
        return left

    def multiplicative(self) -> float:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()[1]
            right = self.unary()
            left = (
                left * right if op == "*" else _div(left, right) if op == "/" else _mod(left, right)
            )
        return left

    def unary(self) -> float:
        if self.peek() in ("-", "+"):
            op = self.take()[1]
            value = self.unary()
            return -value if op == "-" else value
        if self.peek() == "!":
            self.take()
            return float(not self.unary())
        return self.power()

    def power(self) -> float:
        base = self.primary()
        if self.peek() == "^":
            self.take()
            return _pow(base, self.unary())
        return base

    def primary(self) -> float:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.conditional()
            self.take(")")
            return value
        if kind == "name":
            if self.peek() == "(":
                self.take()
                args: list[float] = []
                if self.peek() != ")":
                    args.append(self.conditional())
                    while self.peek() == ",":
                        self.take()
                        args.append(self.conditional())
                self.take(")")
                func = _FUNCTIONS.get(text)
                if func is None:
                    raise ExpressionError(f"Undefined function {text}")
                return float(func(*args))
            if text in self.scope:
                value = self.scope[text]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ExpressionError(f"{text} is not a number")
                return float(value)
            if text in _CONSTANTS:
                return _CONSTANTS[text]
            raise ExpressionError(f"Undefined symbol {text}")
        raise ExpressionError(f"unexpected {text!r}")


def evaluate(formula: str, scope: Mapping[str, Any]) -> float:
    """The value of ``formula`` with ``scope``'s numbers bound to their names.

    Raises:
        ExpressionError: the formula is malformed or names an unknown symbol or function.
    """
    try:
        return _Parser(formula, scope).parse()
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, ExpressionError):
            raise
        raise ExpressionError(str(exc)) from exc
