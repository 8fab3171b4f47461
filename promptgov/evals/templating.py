"""Nunjucks semantics on Jinja2: how promptfoo renders prompts, variables and assertion values.

promptfoo renders with Nunjucks, whose output rules differ from Jinja2's: a missing variable or
``null`` renders empty, booleans render ``true``/``false``, numbers print as JavaScript prints
them, an object prints ``[object Object]``, ``round`` rounds half up, ``dump`` is
``JSON.stringify``, nothing is autoescaped and the trailing newline is kept. This module
configures one Jinja2 environment with those rules and adds promptfoo's prompt pipeline
(:func:`render_prompt`): ``file://`` variable values, string variables rendered themselves, and
JSON (chat) prompts rendered value by value so the variables end up JSON-escaped.
"""

from __future__ import annotations

import base64
import functools
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from .errors import TemplateError
from .js._jsvalue import js_number, js_number_of, json_parse, json_stringify

__all__ = [
    "Filters",
    "TemplateError",
    "extract_variables",
    "finish_prompt",
    "js_str",
    "load_prompt_vars",
    "load_file_var",
    "render",
    "render_prompt",
    "strip_trailing_newlines",
]


class _Undefined(jinja2.ChainableUndefined):
    """Nunjucks' ``undefined``: renders empty, and ``a.b`` on it is undefined too."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""


def js_str(value: Any) -> str:
    """What Nunjucks prints for ``{{ value }}`` (JavaScript's ``String()``, null → empty)."""
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, list | tuple):
        return ",".join(js_str(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _normalize(value: Any) -> str:
    """Nunjucks' ``normalize(value, '')`` used by its string filters."""
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return js_str(value)


def _js_number_of(value: Any) -> float:
    """``Number(value)`` where a template's undefined (a missing variable) is NaN."""
    return math.nan if isinstance(value, jinja2.Undefined) else js_number_of(value)


def _filter_round(value: Any, precision: int = 0, method: str = "common") -> float | int:
    """Nunjucks ``round``: ``Math.round`` (half up), or floor/ceil, at ``precision`` digits."""
    factor = 10 ** int(precision)
    number: float = _js_number_of(value) * factor
    if not math.isfinite(number):
        return number
    if method == "ceil":
        out = math.ceil(number)
    elif method == "floor":
        out = math.floor(number)
    else:
        out = math.floor(number + 0.5)
    result = out / factor
    return int(result) if result.is_integer() and precision <= 0 else result


def _filter_dump(value: Any, spaces: int | str | None = None) -> str:
    """Nunjucks ``dump``: ``JSON.stringify(value, null, spaces)``."""
    if isinstance(value, jinja2.Undefined):
        return ""
    indent = int(spaces) if isinstance(spaces, int | str) and str(spaces).isdigit() else None
    return json_stringify(value, indent=indent or None)


def _filter_trim(value: Any) -> str:
    """Nunjucks ``trim``: a TypeError on null or undefined, as in JavaScript."""
    if value is None or isinstance(value, jinja2.Undefined):
        raise TemplateError(
            "Template render error: trim of undefined (Cannot read properties of undefined)"
        )
    return js_str(value).strip()


def _filter_join(value: Any, delimiter: str = "", attribute: str | None = None) -> str:
    """Nunjucks ``join``: elements printed as JavaScript prints them; a TypeError on null."""
    _require_value(value, "join")
    items = list(value)
    if attribute is not None:
        items = [item.get(attribute) if isinstance(item, Mapping) else None for item in items]
    return delimiter.join(js_str(v) for v in items)


def _require_value(value: Any, name: str) -> None:
    """Nunjucks' list filters dereference their input: null or undefined is a TypeError."""
    if value is None or isinstance(value, jinja2.Undefined):
        raise TemplateError(f"Template render error: cannot apply '{name}' to undefined")


def _strict(name: str) -> Any:
    """Jinja2's own filter ``name``, made to fail on null/undefined as Nunjucks' does."""
    from jinja2.filters import FILTERS

    base = FILTERS[name]
    if getattr(base, "jinja_pass_arg", None) is not None:

        @jinja2.pass_environment
        def run_env(environment: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
            _require_value(value, name)
            return base(environment, value, *args, **kwargs)

        return run_env

    def run(value: Any, *args: Any, **kwargs: Any) -> Any:
        _require_value(value, name)
        return base(value, *args, **kwargs)

    return run


def _filter_default(value: Any, default: Any = "", boolean: bool = False) -> Any:
    """Nunjucks ``default``: only ``undefined`` is replaced unless ``boolean`` is set."""
    if boolean:
        return value if value and not isinstance(value, jinja2.Undefined) else default
    return default if isinstance(value, jinja2.Undefined) else value


def _filter_length(value: Any) -> int:
    """Nunjucks ``length``: 0 for undefined, key count for objects."""
    if value is None or isinstance(value, jinja2.Undefined):
        return 0
    try:
        return len(value)
    except TypeError:
        return 0


def _filter_replace(value: Any, old: Any, new: Any, maxcount: int | None = None) -> str:
    """Nunjucks ``replace`` on the JavaScript string form of its operands."""
    text, old_s, new_s = _normalize(value), js_str(old), js_str(new)
    return text.replace(old_s, new_s, -1 if maxcount is None else int(maxcount))


def _filter_nl2br(value: Any) -> str:
    return _normalize(value).replace("\r\n", "<br />\n").replace("\n", "<br />\n")


def _filter_load(value: Any) -> Any:
    """promptfoo's ``load`` filter: ``JSON.parse``."""
    try:
        return json_parse(js_str(value))
    except ValueError as exc:
        raise TemplateError(f"load filter: {exc}") from exc


class _Environment(jinja2.Environment):
    """Member lookup as in Nunjucks: ``obj.key`` reads the key of a mapping first."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        if attribute == "length" and isinstance(obj, str | list | tuple):
            return len(obj)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, list | tuple | str) and isinstance(argument, str):
            if argument == "length":
                return len(obj)
            if argument.isdigit():
                argument = int(argument)
        return super().getitem(obj, argument)


def _finalize(value: Any) -> str:
    return js_str(value)


#: Nunjucks filters a config registers (``nunjucksFilters``): name → a callable taking the
#: filtered value and the filter's arguments.
Filters = Mapping[str, Callable[..., Any]]
_FilterKey = tuple[tuple[str, Callable[..., Any]], ...]


@functools.cache
def _environment() -> _Environment:
    return _new_environment()


@functools.lru_cache(maxsize=16)
def _filtered_environment(filters: _FilterKey) -> _Environment:
    """An environment with a config's own filters beside promptfoo's (one per run's set)."""
    env = _new_environment()
    env.filters.update({name: _user_filter(fn) for name, fn in filters})
    return env


def _user_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(value: Any, *args: Any) -> Any:
        plain = [None if isinstance(v, jinja2.Undefined) else v for v in (value, *args)]
        return fn(*plain)

    return run


def _new_environment() -> _Environment:
    env = _Environment(
        autoescape=False,
        keep_trailing_newline=True,
        undefined=_Undefined,
        finalize=_finalize,
        cache_size=0,
    )
    env.filters.update(
        {
            "round": _filter_round,
            "dump": _filter_dump,
            "trim": _filter_trim,
            "join": _filter_join,
            "default": _filter_default,
            "d": _filter_default,
            "length": _filter_length,
            "replace": _filter_replace,
            "nl2br": _filter_nl2br,
            "load": _filter_load,
            "upper": lambda v: _normalize(v).upper(),
            "lower": lambda v: _normalize(v).lower(),
            "capitalize": lambda v: _normalize(v).capitalize(),
            "title": lambda v: _normalize(v).title(),
            "string": js_str,
            **{name: _strict(name) for name in ("first", "last", "sort", "reverse", "sum")},
        }
    )
    return env


@functools.lru_cache(maxsize=4096)
def _compile(source: str, filters: _FilterKey = ()) -> jinja2.Template:
    environment = _filtered_environment(filters) if filters else _environment()
    try:
        return environment.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"Template render error: (line {exc.lineno}) {exc.message}") from exc


def render(
    template: str,
    variables: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    filters: Filters | None = None,
) -> str:
    """Render ``template`` as Nunjucks' ``renderString`` would, with ``env`` as ``env.X``.

    ``filters`` are the config's ``nunjucksFilters``, which promptfoo adds to the engine it
    renders prompts with (and to no other).

    Raises:
        TemplateError: the template does not parse, or a filter fails while rendering.
    """
    if "{" not in template:
        return template
    key: _FilterKey = tuple(sorted(filters.items(), key=lambda item: item[0])) if filters else ()
    compiled = _compile(template, key)
    context: dict[str, Any] = {"env": env if env is not None else os.environ}
    context.update(variables)
    try:
        return compiled.render(context)
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"Template render error: {exc}") from exc
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
        raise TemplateError(f"Template render error: {exc}") from exc


_VARIABLE_RE = re.compile(
    r"\{\{[\s]*([^{}\s|]+)[\s]*(?:\|[^}]+)?\}\}|\{%[\s]*(?:if|for)[\s]+([^{}\s]+)[\s]*.*?%\}"
)
_FOR_RE = re.compile(r"\{%[\s]*for[\s]+(\w+)[\s]+in[\s]+(\w+)[\s]*%\}")
_COMMENT_RE = re.compile(r"\{#[\s\S]*?#\}")
_PARTIAL_TAG_RE = re.compile(r"({%[^%]*$|{{[^}]*$|{#[^#]*$)", re.M)
_RAW_RE = re.compile(r"{%\s*raw\s*%}")
_ENDRAW_RE = re.compile(r"{%\s*endraw\s*%}")
_SIMPLE_VAR_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def extract_variables(template: str) -> list[str]:
    """The variable names a template uses, found the way promptfoo finds them (by regex)."""
    found: dict[str, None] = {}
    text = _COMMENT_RE.sub("", template)
    for match in _VARIABLE_RE.finditer(text):
        name = match.group(1) or match.group(2)
        if name:
            found[name] = None
    for match in _FOR_RE.finditer(text):
        found.pop(match.group(1), None)
        found[match.group(2)] = None
    return list(found)


def _auto_wrap_raw(text: str) -> str:
    """An unfinished tag (``{{`` with no ``}}``) is literal text, as promptfoo wraps it in raw."""
    if _PARTIAL_TAG_RE.search(text) and not (_RAW_RE.search(text) and _ENDRAW_RE.search(text)):
        return "{% raw %}" + text + "{% endraw %}"
    return text


def _references_undefined(template: str, variables: Mapping[str, Any]) -> bool:
    for name in extract_variables(template):
        root = re.match(r"[A-Za-z_]\w*", name)
        if root and root.group(0) != "env" and root.group(0) not in variables:
            return True
    return False


def strip_trailing_newlines(variables: dict[str, Any]) -> None:
    """promptfoo drops one trailing newline from every string variable before rendering."""
    for key, value in variables.items():
        if isinstance(value, str) and value.endswith("\n"):
            variables[key] = value[:-1]


def _resolve_simple_references(variables: dict[str, Any]) -> None:
    """promptfoo's ``resolveVariables``: ``{{ other }}`` inside a string var, up to 5 passes."""
    for _ in range(5):
        changed = False
        for key in list(variables):
            value = variables[key]
            if not isinstance(value, str):
                continue
            match = _SIMPLE_VAR_RE.search(value)
            if match and variables.get(match.group(1)) is not None:
                variables[key] = value.replace(match.group(0), js_str(variables[match.group(1)]), 1)
                changed = True
        if not changed:
            return


_IMAGE_MIME = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "ico": "image/x-icon",
    "avif": "image/avif",
    "heic": "image/heic",
    "heif": "image/heif",
}
_MEDIA_EXTS = {"mp3", "wav", "ogg", "flac", "m4a", "aac", "mp4", "webm", "mov", "mkv", "avi"}

#: Calls ``get_var(var_name, prompt, vars)`` in a ``file://x.py`` variable script.
VarScriptRunner = Callable[[Path, str, str, dict[str, Any]], Any]


def load_file_var(
    name: str,
    value: str,
    *,
    base_dir: Path,
    prompt: str,
    variables: dict[str, Any],
    run_script: VarScriptRunner | None = None,
    run_js: VarScriptRunner | None = None,
) -> Any:
    """The value of a ``file://`` variable, as promptfoo loads it.

    ``.yaml``/``.yml`` files are parsed and inserted as compact JSON; images become data URLs,
    audio/video base64; ``.py`` scripts run their ``get_var``; anything else is read as text
    and trimmed (so ``.json`` files are inserted as written). A JavaScript module's default
    export is called ``(name, prompt, vars)`` through ``run_js`` and its ``output`` taken as
    it is, as promptfoo takes it.

    Raises:
        TemplateError: the file is missing or unreadable, or its script fails.
    """
    path = base_dir / value[len("file://") :]
    ext = path.suffix.lower().lstrip(".")
    try:
        if ext == "py":
            if run_script is None:
                raise TemplateError(f"cannot run {path}: no script runner configured")
            out = run_script(path, name, prompt, variables)
            if isinstance(out, Mapping):
                if out.get("error"):
                    raise TemplateError(f"Error running Python script {path}: {out['error']}")
                out = out.get("output")
            if not out:
                raise TemplateError(f"Python script {path} did not return any output")
            return js_str(out).strip()
        if ext in ("yaml", "yml"):
            import yaml

            return json_stringify(yaml.safe_load(path.read_text(encoding="utf-8")))
        if ext in ("js", "cjs", "mjs", "ts", "mts", "cts"):
            if run_js is None:
                raise TemplateError(f"cannot run {path}: no JavaScript runner configured")
            result = run_js(path, name, prompt, variables)
            if isinstance(result, Mapping) and result.get("error"):
                raise TemplateError(f"Error running {path}: {result['error']}")
            if not isinstance(result, Mapping) or not result.get("output"):
                raise TemplateError(
                    f"Expected {path} to return {{ output: string }} but got {js_str(result)}"
                )
            return result["output"]
        if ext in _IMAGE_MIME:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return f"data:{_IMAGE_MIME[ext]};base64,{data}"
        if ext in _MEDIA_EXTS:
            return base64.b64encode(path.read_bytes()).decode("ascii")
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TemplateError(f"cannot load variable {name} from {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TemplateError(f"cannot load variable {name} from {path}: {exc}") from exc


def _render_in_object(
    obj: Any, variables: Mapping[str, Any], env: Mapping[str, str], filters: Filters | None
) -> Any:
    """promptfoo's ``renderVarsInObject``: every string inside a JSON value is a template."""
    if isinstance(obj, str):
        return render(obj, variables, env, filters)
    if isinstance(obj, list):
        return [_render_in_object(v, variables, env, filters) for v in obj]
    if isinstance(obj, dict):
        return {k: _render_in_object(v, variables, env, filters) for k, v in obj.items()}
    return obj


_NOT_JSON = object()


def render_prompt(
    raw: str,
    variables: dict[str, Any],
    *,
    env: Mapping[str, str],
    base_dir: Path,
    prompt_function: Callable[[dict[str, Any]], Any] | None = None,
    run_script: VarScriptRunner | None = None,
    filters: Filters | None = None,
    run_js: VarScriptRunner | None = None,
) -> str:
    """Render one prompt for one test, as promptfoo's ``renderPrompt`` does.

    ``variables`` is updated in place the way promptfoo updates them (``file://`` values
    loaded, one trailing newline dropped, ``{{ other }}`` references resolved): the caller
    records these as the result's ``vars`` and grades assertions with them.

    Raises:
        TemplateError: a variable file cannot be loaded or the template cannot be rendered.
    """
    load_prompt_vars(raw, variables, base_dir=base_dir, run_script=run_script, run_js=run_js)
    base = raw
    if prompt_function is not None:
        result = prompt_function(variables)
        if isinstance(result, str):
            base = result
        elif isinstance(result, Mapping) and "prompt" in result:
            inner = result["prompt"]
            base = inner if isinstance(inner, str) else json_stringify(inner)
        elif isinstance(result, Mapping | list | int | float | bool):
            base = json_stringify(result)
        else:
            raise TemplateError(
                f"Prompt function must return a string or object, got {type(result).__name__}"
            )
    return finish_prompt(base, variables, env, filters)


def load_prompt_vars(
    raw: str,
    variables: dict[str, Any],
    *,
    base_dir: Path,
    run_script: VarScriptRunner | None = None,
    run_js: VarScriptRunner | None = None,
) -> None:
    """The first stage of :func:`render_prompt`: ``file://`` variables loaded in place.

    Raises:
        TemplateError: a variable file cannot be loaded.
    """
    for name, value in list(variables.items()):
        if isinstance(value, str) and value.startswith("file://"):
            variables[name] = load_file_var(
                name,
                value,
                base_dir=base_dir,
                prompt=raw,
                variables=variables,
                run_script=run_script,
                run_js=run_js,
            )


def finish_prompt(
    base: str,
    variables: dict[str, Any],
    env: Mapping[str, str],
    filters: Filters | None = None,
) -> str:
    """The last stage of :func:`render_prompt`: ``base`` (the template, or what a prompt
    function returned) rendered with the variables, which are tidied in place first.

    Raises:
        TemplateError: the template cannot be rendered.
    """
    strip_trailing_newlines(variables)
    _resolve_simple_references(variables)
    head = base.lstrip(" \t\r\n")[:1]
    if head and (head in '[{"-tfn' or head.isdigit()):
        try:
            parsed = json_parse(base)
        except ValueError:
            parsed = _NOT_JSON
        if parsed is not _NOT_JSON:
            return json_stringify(_render_in_object(parsed, variables, env, filters), indent=2)
    rendered_vars: dict[str, Any] = {}
    for key, value in variables.items():
        if isinstance(value, str) and "{" in value and not _references_undefined(value, variables):
            rendered_vars[key] = render(_auto_wrap_raw(value), variables, env, filters)
        else:
            rendered_vars[key] = value
    return render(_auto_wrap_raw(base), rendered_vars, env, filters)
