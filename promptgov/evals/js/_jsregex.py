"""Translate a JavaScript ``RegExp`` source (no flags, Annex B syntax) into a Python ``re``.

promptfoo's ``regex`` assertion is ``new RegExp(value).test(output)``. The two dialects look
alike but differ in ways that change verdicts: in JavaScript ``\\d``/``\\w``/``\\b`` are ASCII-only,
``$`` matches only at the very end, ``.`` stops at ``\\r``/``\\u2028`` too, ``\\Z`` and ``\\A`` are
the letters Z and A, ``[^]`` matches anything, ``{,5}`` is literal text, ``(?i)`` and possessive
quantifiers are syntax errors, named groups are ``(?<x>…)``/``\\k<x>``, a back-reference to a group
that did not participate matches the empty string, and strings are sequences of UTF-16 code
units. This translator reproduces each of those rules.

The translation is compiled with the ``regex`` package rather than ``re``: it accepts the
same syntax, and a match can be given a time limit, so a catastrophic pattern (``(a|aa)+$``
on a long run of ``a``) ends with :class:`TimeoutError` instead of hanging the eval.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import regex

from ..errors import JsRegexError
from ._jsvalue import JS_WHITESPACE, to_utf16_units

__all__ = ["JsRegexError", "compile_js_regex", "js_regex_test", "to_utf16_units"]

_WORD = "A-Za-z0-9_"
_DIGIT = "0-9"
_SPACE = "".join(f"\\u{ord(c):04x}" for c in JS_WHITESPACE)
_LINE_TERMINATORS = "\\n\\r\\u2028\\u2029"
_CLASS_SHORTHANDS = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
_CONTROL_ESCAPES = {"f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_HEX = set("0123456789abcdefABCDEF")
_QUANTIFIER_RE = re.compile(r"\{(\d+)(,(\d*))?\}")
_WORD_BEHIND, _WORD_AHEAD = f"(?<=[{_WORD}])", f"(?=[{_WORD}])"
_NOWORD_BEHIND, _NOWORD_AHEAD = f"(?<![{_WORD}])", f"(?![{_WORD}])"


@dataclass
class _Atom:
    """What the last emitted piece was, to validate quantifiers the way V8 does."""

    quantifiable: bool


def _literal(ch: str) -> str:
    """A Python-safe literal for one character (inside or outside a class)."""
    if ch.isalnum() or ch == "_":
        return ch
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class _Translator:
    """One pass over the JavaScript source, emitting Python syntax."""

    def __init__(self, source: str) -> None:
        self.src = to_utf16_units(source)
        self.pos = 0
        self.out: list[str] = []
        self.group_count, self.names = self._scan_groups()
        self.group_index = 0
        #: Python group names for JavaScript ones (which may hold ``$`` or non-ASCII letters).
        self.py_names = {name: f"g{i}_" for name, i in self.names.items()}
        #: Kinds of the groups still open: "group", "lookahead" or "lookbehind".
        self._open_kinds: list[str] = []
        #: Numbers of the capturing groups still open.
        self._open_groups: list[int] = []

    def fail(self, message: str) -> JsRegexError:
        return JsRegexError(f"Invalid regular expression: /{self.src}/: {message}")

    def _scan_groups(self) -> tuple[int, dict[str, int]]:
        """Count capturing groups and map names to numbers (back-references need both)."""
        count, names, i, in_class = 0, {}, 0, False
        src = self.src
        while i < len(src):
            ch = src[i]
            if ch == "\\":
                i += 2
                continue
            if in_class:
                if ch == "]":
                    in_class = False
            elif ch == "[":
                in_class = True
            elif ch == "(":
                if not src.startswith("?", i + 1):
                    count += 1
                elif src.startswith("?<", i + 1) and not src.startswith(("?<=", "?<!"), i + 1):
                    count += 1
                    end = src.find(">", i + 3)
                    if end != -1:
                        name = src[i + 3 : end]
                        if name in names:
                            raise self.fail("Duplicate capture group name")
                        names[name] = count
            i += 1
        return count, names

    def translate(self) -> str:
        last: _Atom | None = None
        depth = 0
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            if ch in "*+?{":
                quant = self._quantifier()
                if quant is not None:
                    if last is None or not last.quantifiable:
                        raise self.fail("Nothing to repeat")
                    self.out.append(quant)
                    last = _Atom(quantifiable=False)
                    continue
                # A brace that does not form a quantifier is literal text (Annex B).
                self.pos += 1
                self.out.append(_literal(ch))
                last = _Atom(quantifiable=True)
                continue
            self.pos += 1
            if ch == "\\":
                last = self._escape()
            elif ch == "[":
                self.out.append(self._class())
                last = _Atom(quantifiable=True)
            elif ch == "(":
                self._group_open()
                depth += 1
                last = None
            elif ch == ")":
                if depth == 0:
                    raise self.fail("Unmatched ')'")
                depth -= 1
                kind = self._open_kinds.pop()
                if kind.startswith("capture"):
                    self._open_groups.pop()
                self.out.append(")")
                # V8 refuses quantifiers on lookbehinds; lookaheads stay quantifiable (Annex B).
                last = _Atom(quantifiable=kind != "lookbehind")
            elif ch == "|":
                self.out.append("|")
                last = None
            elif ch == "^":
                self.out.append("^")
                last = _Atom(quantifiable=False)
            elif ch == "$":
                self.out.append(r"\Z")
                last = _Atom(quantifiable=False)
            elif ch == ".":
                self.out.append(f"[^{_LINE_TERMINATORS}]")
                last = _Atom(quantifiable=True)
            else:
                self.out.append(_literal(ch))
                last = _Atom(quantifiable=True)
        if depth:
            raise self.fail("Unterminated group")
        return "".join(self.out)

    def _quantifier(self) -> str | None:
        src, pos = self.src, self.pos
        ch = src[pos]
        if ch == "{":
            m = _QUANTIFIER_RE.match(src, pos)
            if not m:
                return None
            lo = int(m.group(1))
            hi = m.group(3)
            if hi and int(hi) < lo:
                raise self.fail("numbers out of order in {} quantifier")
            text = m.group(0)
            pos = m.end()
        else:
            text = ch
            pos += 1
        if pos < len(src) and src[pos] == "?":
            text += "?"
            pos += 1
        self.pos = pos
        return text

    def _group_open(self) -> None:
        src, pos = self.src, self.pos
        if not src.startswith("?", pos):
            self.group_index += 1
            self.out.append("(")
            self._open_kinds.append("capture")
            self._open_groups.append(self.group_index)
            return
        if src.startswith("?:", pos):
            self.out.append("(?:")
            self.pos += 2
            self._open_kinds.append("group")
        elif src.startswith(("?=", "?!"), pos):
            self.out.append("(" + src[pos : pos + 2])
            self.pos += 2
            self._open_kinds.append("lookahead")
        elif src.startswith(("?<=", "?<!"), pos):
            self.out.append("(" + src[pos : pos + 3])
            self.pos += 3
            self._open_kinds.append("lookbehind")
        elif src.startswith("?<", pos):
            end = src.find(">", pos + 2)
            name = src[pos + 2 : end] if end != -1 else ""
            if end == -1 or not _valid_group_name(name):
                raise self.fail("Invalid capture group name")
            self.group_index += 1
            self.out.append(f"(?P<{self.py_names[name]}>")
            self.pos = end + 1
            self._open_kinds.append("capture")
            self._open_groups.append(self.group_index)
        else:
            raise self.fail("Invalid group")

    def _escape(self) -> _Atom:
        src = self.src
        if self.pos >= len(src):
            raise self.fail("\\ at end of pattern")
        ch = src[self.pos]
        self.pos += 1
        if ch in "dDwWsS":
            body = _CLASS_SHORTHANDS[ch.lower()]
            self.out.append(f"[{'^' if ch.isupper() else ''}{body}]")
            return _Atom(quantifiable=True)
        if ch == "b":
            self.out.append(f"(?:{_WORD_BEHIND}{_NOWORD_AHEAD}|{_NOWORD_BEHIND}{_WORD_AHEAD})")
            return _Atom(quantifiable=False)
        if ch == "B":
            self.out.append(f"(?:{_WORD_BEHIND}{_WORD_AHEAD}|{_NOWORD_BEHIND}{_NOWORD_AHEAD})")
            return _Atom(quantifiable=False)
        if ch.isdigit() and ch != "0":
            return self._backref_or_octal(ch)
        if ch == "k" and self.names:
            if not src.startswith("<", self.pos):
                raise self.fail("Invalid named reference")
            end = src.find(">", self.pos)
            name = src[self.pos + 1 : end] if end != -1 else ""
            if name not in self.names:
                raise self.fail("Invalid named capture referenced")
            self.pos = end + 1
            self.out.append(self._backref(self.names[name], self.py_names[name]))
            return _Atom(quantifiable=True)
        self.out.append(_literal(self._char_escape(ch)))
        return _Atom(quantifiable=True)

    def _backref(self, number: int, py_name: str | None = None) -> str:
        # A reference to a group that did not take part matches empty in JavaScript; one that
        # is not closed yet (forward or self reference) can never have taken part.
        if number > self.group_index or number in self._open_groups:
            return "(?:)"
        ref = f"(?P={py_name})" if py_name else f"\\{number}"
        return f"(?({py_name or number}){ref})"

    def _backref_or_octal(self, first: str) -> _Atom:
        src = self.src
        digits = first
        while self.pos < len(src) and src[self.pos].isdigit():
            digits += src[self.pos]
            self.pos += 1
        number = int(digits)
        if number <= self.group_count:
            name = next((n for n, i in self.names.items() if i == number), None)
            self.out.append(self._backref(number, self.py_names.get(name) if name else None))
            return _Atom(quantifiable=True)
        # Not a group: a legacy octal escape, or the digits themselves (\8, \9).
        self.pos -= len(digits) - 1
        self.out.append(self._octal_or_digit(first))
        return _Atom(quantifiable=True)

    def _octal_or_digit(self, first: str) -> str:
        if first in "89":
            return _literal(first)
        value = first
        src = self.src
        while len(value) < 3 and self.pos < len(src) and src[self.pos] in "01234567":
            if int(value + src[self.pos], 8) > 0o377:
                break
            value += src[self.pos]
            self.pos += 1
        return _literal(chr(int(value, 8)))

    def _char_escape(self, ch: str) -> str:
        """The character an escape stands for (identity escapes included, as in Annex B)."""
        src = self.src
        if ch in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[ch]
        if ch == "0":
            if self.pos < len(src) and src[self.pos] in "01234567":
                return chr(int(self._read_octal("0"), 8))
            return "\0"
        if ch == "c":
            if self.pos < len(src) and src[self.pos].isascii() and src[self.pos].isalpha():
                self.pos += 1
                return chr(ord(src[self.pos - 1]) % 32)
            self.pos -= 1  # "\c" not followed by a letter is a backslash, then "c".
            return "\\"
        if ch == "x":
            hexa = src[self.pos : self.pos + 2]
            if len(hexa) == 2 and set(hexa) <= _HEX:
                self.pos += 2
                return chr(int(hexa, 16))
            return "x"
        if ch == "u":
            hexa = src[self.pos : self.pos + 4]
            if len(hexa) == 4 and set(hexa) <= _HEX:
                self.pos += 4
                return chr(int(hexa, 16))
            return "u"
        return ch

    def _read_octal(self, first: str) -> str:
        value = first
        src = self.src
        while len(value) < 3 and self.pos < len(src) and src[self.pos] in "01234567":
            if int(value + src[self.pos], 8) > 0o377:
                break
            value += src[self.pos]
            self.pos += 1
        return value

    def _class(self) -> str:
        """Translate ``[...]``; negated shorthands inside need an alternation in Python."""
        src = self.src
        negated = src.startswith("^", self.pos)
        if negated:
            self.pos += 1
        items: list[str] = []  # pieces of a Python class body
        extra: list[str] = []  # whole alternatives (complemented shorthands)
        while True:
            if self.pos >= len(src):
                raise self.fail("Unterminated character class")
            ch = src[self.pos]
            self.pos += 1
            if ch == "]":
                break
            start, start_is_char = self._class_atom(ch, items, extra)
            if (
                start_is_char
                and src.startswith("-", self.pos)
                and self.pos + 1 < len(src)
                and src[self.pos + 1] != "]"
            ):
                save = self.pos
                self.pos += 2
                end, end_is_char = self._class_atom(src[self.pos - 1], [], [])
                if end_is_char:
                    assert start is not None and end is not None
                    if ord(end) < ord(start):
                        raise self.fail("Range out of order in character class")
                    items.append(f"{_literal(start)}-{_literal(end)}")
                    continue
                # "[a-\d]": the dash is literal, and the shorthand is re-read below.
                self.pos = save
            if start_is_char:
                assert start is not None
                items.append(_literal(start))
        body = "".join(items)
        if not extra:
            if not body:
                return r"[\s\S]" if negated else "(?!)"
            return f"[{'^' if negated else ''}{body}]"
        alternatives = ([f"[{body}]"] if body else []) + extra
        union = "(?:" + "|".join(alternatives) + ")"
        return f"(?:(?!{union})[\\s\\S])" if negated else union

    def _class_atom(self, ch: str, items: list[str], extra: list[str]) -> tuple[str | None, bool]:
        """Read one class member; returns (character, True) or (None, False) for a shorthand."""
        if ch != "\\":
            return ch, True
        src = self.src
        if self.pos >= len(src):
            raise self.fail("\\ at end of pattern")
        esc = src[self.pos]
        self.pos += 1
        if esc in "dws":
            items.append(_CLASS_SHORTHANDS[esc])
            return None, False
        if esc in "DWS":
            extra.append(f"[^{_CLASS_SHORTHANDS[esc.lower()]}]")
            return None, False
        if esc == "b":
            return "\b", True
        if esc == "-":
            return "-", True
        if esc.isdigit() and esc != "0":
            if esc in "89":
                return esc, True
            return chr(int(self._read_octal(esc), 8)), True
        if esc == "c":
            # Inside a class, \c also accepts digits and underscore (Annex B).
            if self.pos < len(src) and (
                src[self.pos].isascii() and (src[self.pos].isalnum() or src[self.pos] == "_")
            ):
                self.pos += 1
                return chr(ord(src[self.pos - 1]) % 32), True
            self.pos -= 1
            return "\\", True
        return self._char_escape(esc), True


def _valid_group_name(name: str) -> bool:
    if not name:
        return False
    first, rest = name[0], name[1:]
    if not (first.isidentifier() or first == "$"):
        return False
    return all(("a" + c).isidentifier() or c in "$\u200c\u200d" for c in rest)


@functools.lru_cache(maxsize=1024)
def compile_js_regex(source: str) -> regex.Pattern[str]:
    """Compile a JavaScript regex source (no flags) once; raises :class:`JsRegexError`."""
    translated = _Translator(source).translate()
    try:
        return regex.compile(translated)
    except regex.error as exc:
        reason = getattr(exc, "msg", None) or str(exc)  # the stubs do not declare .msg
        raise JsRegexError(f"Invalid regular expression: /{source}/: {reason}") from None
    except (OverflowError, RecursionError) as exc:
        raise JsRegexError(f"Invalid regular expression: /{source}/: {exc}") from None


def js_regex_test(source: str, text: str, *, timeout_s: float | None = None) -> bool:
    """``new RegExp(source).test(text)``, giving up after ``timeout_s`` seconds (None: never).

    Raises:
        JsRegexError: the source is not a valid JavaScript regular expression.
        TimeoutError: the match ran past ``timeout_s`` (catastrophic backtracking).
    """
    pattern = compile_js_regex(source)
    return pattern.search(to_utf16_units(text), timeout=timeout_s) is not None
