"""JavaScript value semantics (String(), JSON.stringify/parse, deep equality) for promptfoo."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

#: JavaScript's ``\s`` class (ECMAScript WhiteSpace + LineTerminator), which differs from Python's.
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_WS_RUN = re.compile("[" + re.escape(JS_WHITESPACE) + "]+")

#: Integers beyond this lose precision in a JavaScript number.
_MAX_SAFE = 2**53


def js_number(value: float | int) -> str:
    """Format a number as JavaScript's ``String(n)``: ``1`` not ``1.0``, ``1e-7``, ``1e+21``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) < 10**21:
            return str(value)
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    # repr() gives the shortest round-trip digits, as JavaScript does; only the layout differs.
    _, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped or "0"
    point = len(digits) + exponent
    sign = "-" if value < 0 else ""
    k = len(digits)
    n = point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    if k == 1:
        return sign + digits + exp
    return sign + digits[0] + "." + digits[1:] + exp


def js_string(value: Any) -> str:
    """JavaScript's ``String(value)``: what template literals and ``String()`` print."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return js_number(value)
    if isinstance(value, list | tuple):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def json_stringify(value: Any, indent: int | None = None) -> str:
    """JavaScript's ``JSON.stringify``: compact, non-ASCII kept, numbers formatted as in JS."""
    return _JsonEncoder(indent).encode(value)


def coerce_string(value: Any) -> str:
    """promptfoo's ``coerceString``: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        # JSON.stringify(undefined) is undefined; promptfoo then prints "undefined" in templates,
        # but a null output serialises as "null".
        return "null"
    return json_stringify(value)


class _JsonEncoder:
    """A tiny JSON writer with JavaScript's number and separator conventions."""

    def __init__(self, indent: int | None) -> None:
        self._indent = indent

    def encode(self, value: Any, level: int = 0) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
                return "null"
            return js_number(value)
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, dict):
            items = [(k, v) for k, v in value.items()]
            if not items:
                return "{}"
            parts = [
                json.dumps(str(k), ensure_ascii=False)
                + ":"
                + self._sep()
                + self.encode(v, level + 1)
                for k, v in items
            ]
            return self._wrap("{", "}", parts, level)
        if isinstance(value, list | tuple):
            if not value:
                return "[]"
            return self._wrap("[", "]", [self.encode(v, level + 1) for v in value], level)
        return json.dumps(str(value), ensure_ascii=False)

    def _sep(self) -> str:
        return " " if self._indent else ""

    def _wrap(self, open_: str, close: str, parts: list[str], level: int) -> str:
        if not self._indent:
            return open_ + ",".join(parts) + close
        pad = " " * (self._indent * (level + 1))
        end = " " * (self._indent * level)
        return open_ + "\n" + ",\n".join(pad + p for p in parts) + "\n" + end + close


def _parse_int(text: str) -> int | float:
    value = int(text)
    return value if abs(value) <= _MAX_SAFE else float(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Unexpected token {name} in JSON")


def json_parse(text: str) -> Any:
    """JavaScript's ``JSON.parse``: no NaN/Infinity, big integers become doubles.

    Raises:
        ValueError: the text is not JSON.
    """
    return json.loads(text, parse_int=_parse_int, parse_constant=_reject_constant)


def deep_equal(a: Any, b: Any) -> bool:
    """Node's ``util.isDeepStrictEqual`` over JSON values: booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    return bool(a == b)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness (``[]`` and ``{}`` are truthy, ``0`` and ``""`` are not)."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, str):
        return value != ""
    return True


def split_js_whitespace(text: str) -> list[str]:
    """``text.trim().split(/\\s+/)`` without the empty strings."""
    return [w for w in _JS_WS_RUN.split(text) if w]


def js_trim(text: str) -> str:
    """JavaScript's ``String.prototype.trim``."""
    return text.strip(JS_WHITESPACE)


def to_utf16_units(text: str) -> str:
    """Represent astral characters as surrogate pairs, as JavaScript strings hold them."""
    if not text or max(text) <= "\uffff":
        return text
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(chr(0xD800 + (code >> 10)))
            out.append(chr(0xDC00 + (code & 0x3FF)))
        else:
            out.append(ch)
    return "".join(out)


_DECIMAL_LITERAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX_LITERAL = {"0x": 16, "0o": 8, "0b": 2}


def js_number_of(value: Any) -> float:
    """JavaScript's ``Number(value)``: null 0, booleans 0/1, text as a numeric literal, else NaN.

    The one implementation of ``Number()`` the engine uses (Nunjucks filters, word-count
    bounds). Text follows ``StringToNumber``: JS whitespace trimmed, empty is 0, ``0x``/``0o``/
    ``0b`` literals, ``Infinity`` with a sign; Python-only spellings (``inf``, ``nan``,
    ``1_000``) are NaN. Arrays go through ``String()`` first (``[5]`` is 5), objects are NaN.
    """
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return js_number_of(js_string(value))
    if not isinstance(value, str):
        return math.nan
    text = js_trim(value)
    if text == "":
        return 0.0
    if text in ("Infinity", "+Infinity"):
        return math.inf
    if text == "-Infinity":
        return -math.inf
    radix = _RADIX_LITERAL.get(text[:2].lower())
    if radix is not None:
        try:
            return float(int(text[2:], radix)) if "_" not in text else math.nan
        except ValueError:
            return math.nan
    if _DECIMAL_LITERAL.fullmatch(text):
        return float(text)
    return math.nan
