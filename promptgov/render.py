"""Strict Jinja2 rendering of prompt templates, and the variable checks behind ``add``.

Unlike promptfoo's Nunjucks (a missing variable renders empty), serving a prompt with a
missing variable is an error here: a blank in production is a silent bug.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .errors import InputError, InvalidFile
from .model import PromptContent

if TYPE_CHECKING:
    import jinja2


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2  # imported on first render: most commands never render

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


@lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _env().from_string(text)


def template_variables(content: PromptContent, label: str) -> set[str]:
    """Every variable the templates reference."""
    import jinja2
    import jinja2.meta

    used: set[str] = set()
    for text in content.template_texts:
        try:
            ast = _env().parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidFile(
                f"{label}: template syntax error at line {exc.lineno}: {exc.message}."
            ) from exc
        used |= jinja2.meta.find_undeclared_variables(ast)
    return used


def check_variables(content: PromptContent, label: str) -> None:
    """Refuse templates whose variables differ from the declared ones."""
    used = template_variables(content, label)
    declared = {v.name for v in content.variables}
    undeclared, unused = sorted(used - declared), sorted(declared - used)
    if undeclared:
        raise InvalidFile(
            f"{label}: the template uses undeclared variable(s) {', '.join(undeclared)}; "
            "declare them under 'variables:' or remove them from the template."
        )
    if unused:
        raise InvalidFile(
            f"{label}: declared variable(s) {', '.join(unused)} are not used by the template; "
            "use them or remove them from 'variables:'."
        )


def render(
    content: PromptContent, variables: dict[str, Any], label: str
) -> str | list[dict[str, str]]:
    """Render text (a string) or chat (a list of role/content messages) with ``variables``.

    Raises:
        InputError: a required variable is missing, or an undeclared one is given.
    """
    declared = {v.name: v for v in content.variables}
    extra = sorted(set(variables) - set(declared))
    if extra:
        raise InputError(
            f"{label} does not declare variable(s) {', '.join(extra)}; "
            f"it takes: {', '.join(declared) or 'none'}."
        )
    values: dict[str, Any] = {}
    missing: list[str] = []
    for name, spec in declared.items():
        if name in variables:
            values[name] = variables[name]
        elif spec.default is not None:
            values[name] = spec.default
        elif spec.required:
            missing.append(name)
        else:
            values[name] = ""
    if missing:
        raise InputError(
            f"{label} requires variable(s) {', '.join(missing)}, not given; give each a value.",
            cli_hint="Pass " + " ".join(f"--var {n}=…" for n in missing),
            missing=", ".join(missing),
        )
    import jinja2

    try:
        if content.template is not None:
            return _compile(content.template).render(values)
        return [
            {"role": m.role, "content": _compile(m.content).render(values)}
            for m in content.messages or []
        ]
    except jinja2.TemplateError as exc:
        raise InputError(f"cannot render {label}: {exc}.") from exc
