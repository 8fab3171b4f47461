"""Reading config files: js-yaml's YAML, UTF-8 text, ``file://`` references, ``$ref``, ``env``.

Everything here translates a file-system or YAML problem into
:class:`~promptgov.errors.InvalidFile`/``NotFound`` naming the file and the key, the one
boundary where ``OSError`` and ``yaml.YAMLError`` are caught for configs.
"""

from __future__ import annotations

import csv
import glob as _glob
import io
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ...errors import InvalidFile, NotFound
from .. import js
from ..errors import EvalError
from .model import PromptResolver

__all__ = [
    "JS_EXTS",
    "dereference",
    "env_str",
    "load_yaml",
    "parse_csv",
    "read_text",
    "render_config_env",
]

#: File suffixes promptfoo runs as JavaScript (prompt functions, test generators).
JS_EXTS = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")

try:
    _BaseLoader: type[Any] = yaml.CSafeLoader
except AttributeError:  # libyaml not compiled in
    _BaseLoader = yaml.SafeLoader


class _JsYamlLoader(_BaseLoader):  # type: ignore[misc]
    """js-yaml's reading of YAML: only true/false are booleans, dates stay strings."""


_JsYamlLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":timestamp"))]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_JsYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(text: str, where: str) -> Any:
    """Parse YAML (or JSON) the way promptfoo's ``loadYaml`` does; errors name ``where``."""
    try:
        return yaml.load(text, Loader=_JsYamlLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidFile(f"{where}: invalid YAML{at}: {problem}") from exc


def read_text(path: Path, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise NotFound(f"{key}: file not found: {path}") from exc
    except OSError as exc:
        raise InvalidFile(f"{key}: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidFile(f"{key}: {path} is not UTF-8 text") from exc


# --------------------------------------------------------------------------- $ref and env


def dereference(node: Any, root: Mapping[str, Any], where: str, depth: int = 0) -> Any:
    """Resolve local JSON references (``$ref: '#/path'``) as promptfoo's ref parser does."""
    if depth > 50:
        raise InvalidFile(f"{where}: $ref nesting is too deep (a reference cycle?)")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and len(node) == 1:
            target: Any = root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    raise InvalidFile(f"{where}: $ref {ref!r} points nowhere")
            return dereference(target, root, where, depth + 1)
        return {k: dereference(v, root, where, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [dereference(v, root, where, depth) for v in node]
    return node


_TEMPLATE_RE = re.compile(r"\{\{(?:[^}]|\}(?!\}))*\}\}")
_ENV_REF_RE = re.compile(r"env\.(\w+)|env\[['\"]([^'\"]+)['\"]\]")


def _render_env_only(node: Any, env: Mapping[str, str]) -> Any:
    """Render ``{{ env.X }}`` templates anywhere in the config, leaving all others alone."""
    if isinstance(node, str):
        if "{{" not in node:
            return node

        def _sub(match: re.Match[str]) -> str:
            text = match.group(0)
            if not re.search(r"\benv\.|env\[", text):
                return text
            ref = _ENV_REF_RE.search(text)
            name = ref and (ref.group(1) or ref.group(2))
            if "|" in text or (name and env.get(name) is not None):
                from ..templating import TemplateError, render

                try:
                    return render(text, {}, env)
                except TemplateError:
                    return text
            return text

        return _TEMPLATE_RE.sub(_sub, node)
    if isinstance(node, list):
        return [_render_env_only(v, env) for v in node]
    if isinstance(node, dict):
        return {k: v if k == "_conversation" else _render_env_only(v, env) for k, v in node.items()}
    return node


def env_str(value: Any) -> str:
    """An ``env:`` value as a string, as promptfoo stringifies it (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def render_config_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    raw_env = data.get("env")
    overlay: dict[str, str] = {}
    if isinstance(raw_env, dict):
        rendered = _render_env_only(raw_env, environ)
        overlay = {str(k): env_str(v) for k, v in rendered.items() if v is not None}
    out = _render_env_only(data, {**environ, **overlay})
    assert isinstance(out, dict)
    return out


def parse_csv(text: str, where: str) -> list[dict[str, str]]:
    delimiter = os.environ.get("PROMPTFOO_CSV_DELIMITER", ",")
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
        return [dict(r) for r in reader]
    except csv.Error as exc:
        raise InvalidFile(f"{where}: malformed CSV: {exc}") from exc


class _FileReader:
    """Reads the parts of one config relative to its directory."""

    def __init__(
        self,
        *,
        where: str,
        label_base: str,
        resolver: PromptResolver | None,
        code_timeout_s: float | None = None,
    ) -> None:
        self.where = where
        #: The deadline of user code run while the config loads (``REQUEST_TIMEOUT_MS``).
        self.code_timeout_s = code_timeout_s
        self.label_base = label_base
        self.base = Path(label_base).resolve()
        self.resolver = resolver

    # ---- helpers

    def js_reply(self, where: str, call: Callable[[], js.Reply], failed: str) -> js.Reply:
        """Run one call on the Node worker while loading; what fails is a config error.

        Raises:
            InvalidFile: Node is missing or timed out, or the code threw (``where: failed: …``).
        """
        try:
            reply = call()
        except EvalError as exc:
            raise InvalidFile(f"{where}: {exc}") from exc
        if not reply.ok:
            raise InvalidFile(f"{where}: {failed}: {reply.error}")
        return reply

    def _label_path(self, rel: str) -> str:
        return os.path.normpath(os.path.join(self.label_base, rel))

    def _abs(self, rel: str, base: Path | None = None) -> Path:
        return (base or self.base) / rel

    def _glob(self, pattern: str, base: Path | None = None) -> list[Path]:
        root = base or self.base
        matches = _glob.glob(pattern, root_dir=str(root), recursive=True)
        return [root / m for m in sorted(matches)]

    def external(self, ref: str, key: str, base: Path | None = None) -> Any:
        """The parsed content of a ``file://`` YAML/JSON reference."""
        path = self._abs(ref[len("file://") :], base)
        return load_yaml(read_text(path, f"{self.where}: {key}"), f"{path}")

    # ---- prompts
