"""Structured-output assertions: is-json / contains-json with JSON Schema, XML, SQL."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from ..js._jsvalue import json_parse, json_stringify
from ._schema import compile_schema, errors_text
from ._text import output_string, verdict
from .interface import AssertionContext, AssertionError_, GradingResult

# --- YAML 1.2 core schema (js-yaml), for schema strings and contains-json candidates ------


class _Yaml12Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's fast safe loader with YAML 1.2 core-schema scalars, as js-yaml resolves them."""


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    return float(text)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def load_yaml(text: str) -> Any:
    """js-yaml's ``load``: one document (more is an error), YAML 1.2 core scalars.

    Raises:
        yaml.YAMLError: the text is not YAML, or holds several documents.
    """
    docs = list(yaml.load_all(text, Loader=_Yaml12Loader))  # noqa: S506 - safe loader subclass
    if len(docs) > 1:
        raise yaml.YAMLError("expected a single document in the stream, but found more")
    return docs[0] if docs else None


# --- JSON ---------------------------------------------------------------------------------


def _schema_from_value(value: Any, name: str) -> Any:
    """The schema an is-json/contains-json value stands for (a YAML/JSON string or a mapping)."""
    if isinstance(value, str):
        try:
            return load_yaml(value)
        except yaml.YAMLError as exc:
            raise AssertionError_(f"{name} schema is not valid YAML: {exc}") from None
    if isinstance(value, dict | list) or value is None or isinstance(value, bool | int | float):
        return value
    raise AssertionError_(f"{name} assertion must have a string or object value")


def handle_is_json(ctx: AssertionContext) -> GradingResult:
    """``is-json``: the whole output parses as JSON, and matches the schema when one is given."""
    out = output_string(ctx)
    inverse = ctx.spec.negated
    try:
        parsed = json_parse(out)
        ok = True
    except ValueError:
        ok = False
    passed = ok != inverse
    value = ctx.spec.value
    if ok and _js_truthy_value(value):
        validate = compile_schema(_freeze(_schema_from_value(value, "is-json")))
        errors = validate(parsed)
        valid = not errors
        passed = valid != inverse
        if not passed:
            reason = (
                "Output is JSON that conforms to the provided schema"
                if inverse
                else f"JSON does not conform to the provided schema. Errors: {errors_text(errors)}"
            )
            return GradingResult(passed=False, score=0.0, reason=reason)
    return verdict(passed, f"Expected output to {'not ' if inverse else ''}be valid JSON")


def _js_truthy_value(value: Any) -> bool:
    return value not in (None, "", 0, False) and not (isinstance(value, float) and value != value)


def _freeze(schema: Any) -> str:
    """A hashable key for the compile cache (schemas are JSON values)."""
    return json.dumps(schema, sort_keys=True, default=str)


def convert_slash_comments(text: str) -> str:
    """promptfoo's ``convertSlashCommentsToHash``: ``// x`` becomes ``# x`` outside strings."""
    lines = []
    for line in text.split("\n"):
        state = "normal"
        result: list[str] = []
        i = 0
        converted = None
        while i < len(line):
            ch = line[i]
            nxt = line[i + 1] if i + 1 < len(line) else ""
            prev = line[i - 1] if i > 0 else ""
            if state == "normal":
                if ch == "'" and not re.match(r"[a-zA-Z]", prev):
                    state = "single"
                    result.append(ch)
                elif ch == '"':
                    state = "double"
                    result.append(ch)
                elif ch == "/" and nxt == "/":
                    token_start = 0
                    for j in range(i - 1, -1, -1):
                        if line[j].isspace():
                            token_start = j + 1
                            break
                    if "://" in line[token_start : i + 2]:
                        result.append(ch)
                        break
                    slashes = 2
                    while i + slashes < len(line) and line[i + slashes] == "/":
                        slashes += 1
                    converted = "".join(result) + "#" * (slashes // 2) + line[i + slashes :]
                    break
                else:
                    result.append(ch)
            elif state == "single":
                result.append(ch)
                if ch == "'" and not _escaped(line, i) and not re.match(r"[a-zA-Z]", nxt):
                    state = "normal"
            else:
                result.append(ch)
                if ch == '"' and not _escaped(line, i):
                    state = "normal"
            i += 1
        lines.append(converted if converted is not None else "".join(result))
    return "\n".join(lines)


def _escaped(line: str, index: int) -> bool:
    count = 0
    i = index - 1
    while i >= 0 and line[i] == "\\":
        count += 1
        i -= 1
    return count % 2 == 1


def extract_json_objects(text: str) -> list[Any]:
    """promptfoo's ``extractJsonObjects``: every ``{…}`` that YAML-parses to a mapping.

    Candidates are parsed with a YAML parser, so unquoted keys count, and an object cut off at
    the end of the output is closed with the missing braces.
    """
    found: list[Any] = []
    max_len = 100_000
    n = len(text)
    i = 0
    while i < n:
        if text[i] != "{":
            i += 1
            continue
        opened, closed = 1, 0
        j = i + 1
        limit = min(i + max_len, n)
        next_i = i + 1
        while j < limit and opened > closed:
            if text[j] == "{":
                opened += 1
            elif text[j] == "}":
                closed += 1
            j += 1
            if opened == closed or j == n or j == i + max_len:
                candidate = text[i:j]
                if opened > closed:
                    candidate += "}" * (opened - closed)
                try:
                    parsed = load_yaml(convert_slash_comments(candidate))
                except (yaml.YAMLError, ValueError, RecursionError):
                    if opened == closed:
                        break
                    continue
                if isinstance(parsed, dict | list):
                    found.append(parsed)
                    next_i = j
                    break
                if opened == closed:
                    break
        i = next_i
    return found


def handle_contains_json(ctx: AssertionContext) -> GradingResult:
    """``contains-json``: some ``{…}`` in the output is JSON (or YAML), matching any schema."""
    inverse = ctx.spec.negated
    message = f"Expected output to {'not ' if inverse else ''}contain valid JSON"
    objects = extract_json_objects(output_string(ctx))
    passed = (len(objects) == 0) if inverse else (len(objects) > 0)
    value = ctx.spec.value
    for obj in objects:
        if not _js_truthy_value(value):
            continue
        validate = compile_schema(_freeze(_schema_from_value(value, "contains-json")))
        errors = validate(_plain(obj))
        valid = not errors
        passed = (not valid) if inverse else valid
        if valid:
            if inverse:
                message = "Output contains JSON conforming to the provided schema"
            break
        message = f"JSON does not conform to the provided schema. Errors: {errors_text(errors)}"
    return verdict(passed, message)


def _plain(value: Any) -> Any:
    """YAML may produce dates; ajv sees them as Date objects, which no JSON type matches."""
    try:
        return json_parse(json_stringify(value))
    except ValueError:
        return value


# --- XML ----------------------------------------------------------------------------------


def _xml_tree(text: str, *, strict: bool) -> Any:
    """Parse XML into fast-xml-parser's object shape (``@_attr``, ``#text``, repeated → list)."""
    import xml.parsers.expat as expat

    parser = expat.ParserCreate(namespace_separator=" " if strict else None)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[tuple[str, dict[str, Any], list[str]]] = [("", {}, [])]

    def start(name: str, attrs: dict[str, str]) -> None:
        node: dict[str, Any] = {f"@_{k.split(' ')[-1]}": _scalar(v) for k, v in attrs.items()}
        stack.append((name.split(" ")[-1], node, []))

    def end(_name: str) -> None:
        name, node, texts = stack.pop()
        text = "".join(texts).strip()
        value: Any
        if node:
            if text:
                node["#text"] = _scalar(text)
            value = node
        else:
            value = _scalar(text) if text else ""
        parent = stack[-1][1]
        if name in parent:
            if not isinstance(parent[name], list):
                parent[name] = [parent[name]]
            parent[name].append(value)
        else:
            parent[name] = value

    def chars(data: str) -> None:
        stack[-1][2].append(data)

    def no_entities(*_args: Any) -> None:
        raise ValueError("entity declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.EntityDeclHandler = no_entities
    parser.Parse(text, True)
    return stack[0][1]


def _scalar(text: str) -> Any:
    """fast-xml-parser's ``parseTagValue``: numbers and booleans become values."""
    if text in ("true", "false"):
        return text == "true"
    try:
        return json_parse(text) if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text) else text
    except ValueError:
        return text


def _has_path(tree: Any, path: list[str]) -> bool:
    current = tree
    for key in path:
        if isinstance(current, list):
            if not key.isdigit() or str(int(key)) != key or int(key) >= len(current):
                return False
            current = current[int(key)]
        elif isinstance(current, dict):
            if key not in current:
                return False
            current = current[key]
        else:
            return False
    return True


def _check_xml(text: str, required: list[str] | None, *, strict: bool) -> tuple[bool, str, bool]:
    """(valid, reason, well_formed) for one XML document."""
    import xml.parsers.expat as expat

    try:
        tree = _xml_tree(text, strict=strict)
    except (expat.ExpatError, ValueError) as exc:
        return False, f"XML parsing failed: {exc}", False
    missing = [r for r in (required or []) if not _has_path(tree, r.split("."))]
    if missing:
        return False, f"XML is missing required elements: {', '.join(missing)}", True
    return True, "XML is valid and contains all required elements", True


_TAG_RE = re.compile(r"<(/?)([A-Za-z_:][\w.\-:]*)[^<>]*?(/?)>")


def _xml_candidates(text: str) -> Iterator[tuple[int, int]]:
    """Balanced element spans in free text, outermost first (promptfoo's candidate scan)."""
    stack: list[tuple[str, int]] = []
    spans: list[tuple[int, int, int | None]] = []
    for m in _TAG_RE.finditer(text):
        closing, name, self_closing = m.group(1), m.group(2), m.group(3)
        parent = stack[-1][1] if stack else None
        if closing:
            if stack and stack[-1][0] == name:
                _, start = stack.pop()
                spans.append((start, m.end(), stack[-1][1] if stack else None))
            else:
                stack.clear()
        elif self_closing:
            spans.append((m.start(), m.end(), parent))
        else:
            stack.append((name, m.start()))
    starts = {s for s, _, _ in spans}
    ordered: list[tuple[int, int]] = []
    by_parent: dict[int | None, list[tuple[int, int]]] = {}
    for s, e, p in spans:
        by_parent.setdefault(p, []).append((s, e))
    for parent, siblings in by_parent.items():
        if len(siblings) > 1 and (parent is None or parent not in starts):
            siblings.sort()
            ordered.append((siblings[0][0], siblings[-1][1]))
    maximal = sorted(
        ((s, e) for s, e, p in spans if p is None or p not in starts), key=lambda t: (t[0], -t[1])
    )
    for span in maximal:
        if span not in ordered:
            ordered.append(span)
    yield from ordered


def handle_xml(ctx: AssertionContext) -> GradingResult:
    """``is-xml`` (the whole output) and ``contains-xml`` (some element in it), with paths."""
    value = ctx.spec.value
    required: list[str] | None = None
    if isinstance(value, str):
        required = [v.strip() for v in value.split(",")]
    elif isinstance(value, list) and value:
        required = [str(v) for v in value]
    elif isinstance(value, dict) and value:
        if isinstance(value.get("requiredElements"), list):
            required = [str(v) for v in value["requiredElements"]]
        else:
            raise AssertionError_("xml assertion must contain a string, array value, or no value")
    out = output_string(ctx)
    if ctx.spec.base_type == "is-xml":
        valid, reason, _ = _check_xml(out, required, strict=True)
    else:
        valid, reason = False, "No XML content found in the output"
        containers: list[tuple[int, int]] = []
        seen_any = False
        for start, end in _xml_candidates(out):
            seen_any = True
            if any(start >= s and end <= e for s, e in containers):
                continue
            ok, why, well_formed = _check_xml(out[start:end], required, strict=False)
            if ok:
                valid, reason = True, why
                break
            if well_formed:
                containers.append((start, end))
        if seen_any and not valid:
            reason = "No valid XML content found matching the requirements"
    passed = valid != ctx.spec.negated
    return verdict(passed, reason)


# --- SQL ----------------------------------------------------------------------------------

_DIALECTS = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgres",
    "postgres": "postgres",
    "sqlite": "sqlite",
    "bigquery": "bigquery",
    "db2": None,
    "hive": "hive",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "transactsql": "tsql",
    "flinksql": None,
    "athena": "athena",
    "trino": "trino",
}


@functools.lru_cache(maxsize=256)
def _parse_sql(sql: str, dialect: str | None) -> list[Any]:
    import sqlglot

    return [s for s in sqlglot.parse(sql, read=dialect) if s is not None]


def _sql_tables(statements: list[Any]) -> set[str]:
    from sqlglot import exp

    return {t.name.lower() for s in statements for t in s.find_all(exp.Table)}


def _sql_columns(statements: list[Any]) -> set[str]:
    from sqlglot import exp

    return {c.name.lower() for s in statements for c in s.find_all(exp.Column)}


def handle_is_sql(ctx: AssertionContext) -> GradingResult:
    """``is-sql``: the output parses as SQL of the dialect, using only allowed tables/columns."""
    value = ctx.spec.value
    database = "MySQL"
    allowed_tables: list[str] | None = None
    allowed_columns: list[str] | None = None
    if value and isinstance(value, dict):
        database = value.get("databaseType") or "MySQL"
        allowed_tables = value.get("allowedTables")
        allowed_columns = value.get("allowedColumns")
    elif value:
        raise AssertionError_("is-sql assertion must have a object value.")
    inverse = ctx.spec.negated
    out = output_string(ctx)
    syntax = f"SQL statement does not conform to the provided {database} database syntax."
    reasons: list[str] = []
    statements: list[Any] = []
    sql = out.strip()
    if not sql or sql.count("`") % 2:
        reasons.append(syntax)
    else:
        import sqlglot.errors

        try:
            statements = _parse_sql(sql, _DIALECTS.get(str(database).lower(), "mysql"))
            if not statements:
                reasons.append(syntax)
        except sqlglot.errors.SqlglotError:
            reasons.append(syntax)
    if statements and allowed_tables is not None:
        allowed = {_last_part(t) for t in allowed_tables}
        found = _sql_tables(statements)
        if not found <= allowed:
            reasons.append(
                f"SQL references unauthorized table(s). Found: [{', '.join(sorted(found))}]. "
                f"Allowed: [{', '.join(allowed_tables)}]."
            )
    if statements and allowed_columns is not None:
        allowed = {_last_part(c) for c in allowed_columns}
        found = _sql_columns(statements)
        if not found <= allowed:
            reasons.append(
                f"SQL references unauthorized column(s). Found: [{', '.join(sorted(found))}]. "
                f"Allowed: [{', '.join(allowed_columns)}]."
            )
    passed = (not reasons) != inverse
    if not passed and inverse and not reasons:
        reasons.append("The output SQL statement is valid")
    return verdict(passed, " ".join(reasons))


def _last_part(entry: str) -> str:
    """``select::null::users`` → ``users``: node-sql-parser's whitelist entries end in the name."""
    return entry.split("::")[-1].lower()
