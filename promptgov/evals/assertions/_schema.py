"""JSON Schema checks as promptfoo's ajv makes them: draft-07, strict mode, ajv-formats."""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from .interface import AssertionError_

#: Keywords ajv (draft-07 vocabularies) knows; strict mode rejects any other.
_KNOWN_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$comment", "$defs", "$vocabulary", "definitions", "id",
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
        "uniqueItems", "maxProperties", "minProperties", "required", "properties",
        "patternProperties", "additionalProperties", "propertyNames", "dependencies", "items",
        "additionalItems", "contains", "not", "anyOf", "oneOf", "allOf", "if", "then", "else",
        "format", "title", "description", "default", "deprecated", "readOnly", "writeOnly",
        "examples", "contentMediaType", "contentEncoding", "contentSchema", "nullable",
    }
)  # fmt: skip
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SCHEMA_ONE = (
    "additionalProperties", "propertyNames", "additionalItems", "contains", "not", "if", "then",
    "else", "contentSchema",
)  # fmt: skip
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")

_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?$", re.I)
_DATE = re.compile(r"^(\d\d\d\d)-(\d\d)-(\d\d)$")
_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _date(s: str) -> bool:
    m = _DATE.match(s)
    if not m:
        return False
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 and leap else _DAYS[month])


def _time(strict_tz: bool) -> Callable[[str], bool]:
    def check(s: str) -> bool:
        m = _TIME.match(s)
        if not m:
            return False
        hr, mi, sec = int(m[1]), int(m[2]), float(m[3])
        tz = m[4]
        sign = -1 if m[5] == "-" else 1
        tz_h, tz_m = int(m[6] or 0), int(m[7] or 0)
        if tz_h > 23 or tz_m > 59 or (strict_tz and not tz):
            return False
        if hr <= 23 and mi <= 59 and sec < 60:
            return True
        utc_min = mi - tz_m * sign
        utc_hr = hr - tz_h * sign - (1 if utc_min < 0 else 0)
        return utc_hr in (23, -1) and utc_min in (59, -1) and sec < 61

    return check


def _date_time(strict_tz: bool) -> Callable[[str], bool]:
    time = _time(strict_tz)

    def check(s: str) -> bool:
        parts = re.split(r"t|\s", s, flags=re.I)
        return len(parts) == 2 and _date(parts[0]) and time(parts[1])

    return check


def _regex(s: str) -> bool:
    from ..js._jsregex import JsRegexError, compile_js_regex

    try:
        compile_js_regex(s)
        return True
    except JsRegexError:
        return False


def _byte(s: str) -> bool:
    if not re.fullmatch(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", s):
        return False
    try:
        base64.b64decode(s, validate=True)
        return True
    except ValueError:
        return False


def _ip(version: int) -> Callable[[str], bool]:
    def check(s: str) -> bool:
        try:
            return ipaddress.ip_address(s).version == version and "%" not in s
        except ValueError:
            return False

    return check


def _pattern(rx: str, flags: int = re.I) -> Callable[[str], bool]:
    compiled = re.compile(rx, flags)
    return lambda s: compiled.search(s) is not None


_HOST = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: ajv-formats "full" string formats.
_STRING_FORMATS: dict[str, Callable[[str], bool]] = {
    "date": _date,
    "time": _time(True),
    "date-time": _date_time(True),
    "iso-time": _time(False),
    "iso-date-time": _date_time(False),
    "duration": _pattern(
        r"^P(?!$)((\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?|(\d+W)?)$", 0
    ),
    "uri": _pattern(r"^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/)?[^\s]*$"),
    "uri-reference": _pattern(
        r"^(?:(?:[a-z][a-z0-9+\-.]*:)?\/?\/)?(?:[^\\\s#][^\s#]*)?(?:#[^\\\s]*)?$"
    ),
    "uri-template": _pattern(
        r"^(?:(?:[^\x00-\x20\"'<>%\\^`{|}]|%[0-9a-f]{2})|\{[+#./;?&=,!@|]?(?:[a-z0-9_]|%[0-9a-f]{2})+"
        r"(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[a-z0-9_]|%[0-9a-f]{2})+(?::[1-9][0-9]{0,3}|\*)?)*\})*$"
    ),
    "url": _pattern(
        r"^(?:https?|ftp):\/\/(?:\S+(?::\S*)?@)?[^\s/?#]+\.[^\s/?#]+(?::\d{2,5})?(?:\/[^\s]*)?$"
    ),
    "email": _pattern(
        r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
        r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
    ),
    "hostname": _pattern(rf"^(?=.{{1,253}}\.?$){_HOST}(?:\.{_HOST})*\.?$"),
    "ipv4": _pattern(
        r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$", 0
    ),
    "ipv6": _ip(6),
    "regex": _regex,
    "uuid": _pattern(r"^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$"),
    "json-pointer": _pattern(r"^(?:\/(?:[^~/]|~0|~1)*)*$", 0),
    "json-pointer-uri-fragment": _pattern(
        r"^#(?:\/(?:[a-z0-9_\-.!$&'()*+,;:=@]|%[0-9a-f]{2}|~0|~1)*)*$"
    ),
    "relative-json-pointer": _pattern(r"^(?:0|[1-9][0-9]*)(?:#|(?:\/(?:[^~/]|~0|~1)*)*)$", 0),
    "byte": _byte,
    "password": lambda s: True,
    "binary": lambda s: True,
}
_NUMBER_FORMATS: dict[str, Callable[[float], bool]] = {
    "int32": lambda n: float(n).is_integer() and -(2**31) <= n <= 2**31 - 1,
    "int64": lambda n: float(n).is_integer(),
    "float": lambda n: True,
    "double": lambda n: True,
}


def _strict_check(schema: Any, path: str) -> None:
    """ajv strict mode: unknown keywords and unknown formats are compile errors."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise AssertionError_("schema must be object or boolean")
    for key, sub in schema.items():
        if key not in _KNOWN_KEYWORDS:
            raise AssertionError_(f'strict mode: unknown keyword: "{key}"')
        if key == "format" and isinstance(sub, str):
            if sub not in _STRING_FORMATS and sub not in _NUMBER_FORMATS:
                raise AssertionError_(f'unknown format "{sub}" ignored in schema at path "{path}"')
        elif key in _SCHEMA_MAPS and isinstance(sub, dict):
            for name, child in sub.items():
                _strict_check(child, f"{path}/{key}/{name}")
        elif key in _SCHEMA_ONE:
            _strict_check(sub, f"{path}/{key}")
        elif key in _SCHEMA_LISTS and isinstance(sub, list):
            for i, child in enumerate(sub):
                _strict_check(child, f"{path}/{key}/{i}")
        elif key == "items":
            for i, child in enumerate(sub if isinstance(sub, list) else [sub]):
                _strict_check(
                    child, f"{path}/items/{i}" if isinstance(sub, list) else path + "/items"
                )
        elif key == "dependencies" and isinstance(sub, dict):
            for name, child in sub.items():
                if not isinstance(child, list):
                    _strict_check(child, f"{path}/dependencies/{name}")


def _format_checker() -> Any:
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    for name, check in _STRING_FORMATS.items():
        checker.checks(name)(_only(str, check))
    for name, num_check in _NUMBER_FORMATS.items():
        checker.checks(name)(_only((int, float), num_check))
    return checker


def _only(kinds: Any, check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def wrapped(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, kinds):
            return True
        return bool(check(value))

    return wrapped


@functools.lru_cache(maxsize=256)
def compile_schema(schema_json: str) -> Callable[[Any], list[Any]]:
    """Compile a schema (given as canonical JSON) once; the validator returns ajv-style errors.

    Raises:
        AssertionError_: the schema does not compile under ajv's strict rules (promptfoo: the
            assertion throws and the result is an ERROR).
    """
    import jsonschema

    schema = json.loads(schema_json)
    _strict_check(schema, "#")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise AssertionError_(f"schema is invalid: {exc.message}") from None
    validator = jsonschema.Draft7Validator(schema, format_checker=_format_checker())

    def validate(instance: Any) -> list[Any]:
        # ajv stops at the first error (allErrors: false).
        first = next(iter(validator.iter_errors(instance)), None)
        return [first] if first is not None else []

    return validate


def _ajv_message(error: Any) -> str:
    kind = error.validator
    value = error.validator_value
    if kind == "type":
        kinds = value if isinstance(value, list) else [value]
        return f"must be {','.join(kinds)}"
    if kind == "required":
        missing = next((r for r in value if r not in (error.instance or {})), value[0])
        return f"must have required property '{missing}'"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"must be {op[kind]} {value}"
    if kind in ("minLength", "maxLength"):
        word = "fewer" if kind == "minLength" else "more"
        return f"must NOT have {word} than {value} characters"
    if kind in ("minItems", "maxItems"):
        word = "fewer" if kind == "minItems" else "more"
        return f"must NOT have {word} than {value} items"
    if kind == "additionalProperties":
        return "must NOT have additional properties"
    if kind == "enum":
        return "must be equal to one of the allowed values"
    if kind == "const":
        return "must be equal to constant"
    if kind == "pattern":
        return f'must match pattern "{value}"'
    if kind == "format":
        return f'must match format "{value}"'
    return str(error.message)


def errors_text(errors: list[Any]) -> str:
    """ajv's ``errorsText``: ``data/path message`` joined with commas."""
    if not errors:
        return "No errors"
    parts = []
    for error in errors:
        pointer = "".join(f"/{p}" for p in error.absolute_path)
        parts.append(f"data{pointer} {_ajv_message(error)}")
    return ", ".join(parts)
