"""YAML in and out: a fast safe loader, a fast block emitter for machine-written files,
and ruamel round-trip editing for user-owned files (comments and key order kept)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

from .errors import InvalidFile

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9 _./@+-]*$")
#: Characters to escape in YAML strings: non-printables, and YAML 1.1's extra line breaks.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidFile(
            f"{label} is not valid UTF-8 (byte {exc.start}); save it as UTF-8 and retry."
        ) from exc


def loads(data: bytes | str, label: str) -> Any:
    """Parse YAML safely; errors become :class:`InvalidFile` naming ``label`` and the line."""
    import yaml  # only parsing needs it: cached registry reads never do

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C-accelerated with libyaml
    text = _decode(data, label) if isinstance(data, bytes) else data
    try:
        parser = loader(text)
        try:
            node = parser.get_single_node()
            if node is None:
                return None
            _refuse_aliases(node, label)
            return parser.construct_document(node)
        finally:
            parser.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidFile(
            f"{label}: malformed YAML{where}: {problem}. Fix the file and retry."
        ) from exc


def _refuse_aliases(root: Any, label: str) -> None:
    """Refuse a document in which a list or mapping is reached twice (an ``*alias``).

    Governed files never need anchors, and an alias "bomb" expands to billions of
    nodes in whatever walks the parsed data next (validation, hashing, dumping).
    """
    import yaml

    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.ScalarNode):
            continue
        if id(node) in seen:
            raise InvalidFile(
                f"{label} uses YAML aliases (*name) at line {node.start_mark.line + 1}; "
                "governed files must spell every value out. Remove the anchors and aliases."
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            todo.extend(part for pair in node.value for part in pair)
        else:
            todo.extend(node.value)


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        # YAML 1.1 reads "1e-12" as a string: its floats need a dot in the mantissa.
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e", 1)
        return text
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED and not value.endswith(" "):
            return value
        return _NON_PRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))
    raise TypeError(f"cannot emit {type(value).__name__} as YAML")


def _emit(obj: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(obj, dict):
        for key, value in obj.items():
            k = _scalar(str(key))
            if isinstance(value, dict) and value:
                out.append(f"{pad}{k}:")
                _emit(value, indent + 2, out)
            elif isinstance(value, list) and value:
                out.append(f"{pad}{k}:")
                _emit(value, indent, out)
            else:
                out.append(f"{pad}{k}: {_flow_empty(value)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict | list) and item:
                start = len(out)
                _emit(item, indent + 2, out)
                out[start] = f"{pad}- " + out[start][indent + 2 :]
            else:
                out.append(f"{pad}- {_flow_empty(item)}")
    else:
        out.append(pad + _scalar(obj))


def _flow_empty(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump_block(obj: Any, header: str = "") -> str:
    """Block-style YAML for JSON-like data, fast enough for a 10,000-version registry.

    Strings that could be misread (numbers, dates, booleans, special characters) are
    emitted as JSON strings, which YAML reads back unchanged.
    """
    out: list[str] = [header.rstrip("\n")] if header else []
    if isinstance(obj, dict | list) and obj:
        _emit(obj, 0, out)
    else:
        out.append(_flow_empty(obj))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- round trip


def _rt() -> Any:
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def edit_roundtrip(data: bytes, label: str, edit: Callable[[Any], None]) -> bytes:
    """Apply ``edit`` to the parsed document and re-emit it with comments and key order kept."""
    text = _decode(data, label)
    rt = _rt()
    try:
        doc = rt.load(text)
    except Exception as exc:  # ruamel raises many YAMLError subclasses
        raise InvalidFile(f"{label}: malformed YAML: {exc}. Fix the file and retry.") from exc
    edit(doc)
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue().encode("utf-8")


def dump_document(obj: Any, header: str = "") -> bytes:
    """YAML for a file people edit (a working copy): block style, multi-line strings as
    ``|`` blocks, ``header`` as its leading comment."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    def literal(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: literal(v) for k, v in node.items()}
        if isinstance(node, list):
            return [literal(v) for v in node]
        if isinstance(node, str) and "\n" in node:
            return LiteralScalarString(node)
        return node

    buf = io.StringIO()
    buf.write(header)
    _rt().dump(literal(obj), buf)
    return buf.getvalue().encode("utf-8")
