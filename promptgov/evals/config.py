"""Loading promptfoo configs: prompts, providers, tests, defaultTest, scenarios and options.

The loader follows promptfoo 0.123's ``resolveConfigs``/``readPrompts``/``readTests`` so the
same file yields the same prompts (labels and ids included), the same tests in the same order,
and the same errors. Every problem is an :class:`~promptgov.errors.InvalidFile` (or
``NotFound``) naming the file and the key; nothing is run here except test generators and the
provider constructors that validate provider ids.
"""

from __future__ import annotations

import csv
import glob as _glob
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidFile, NotFound, PromptGovError
from . import _scripts
from .assertions.interface import AssertionSpec
from .providers.interface import Provider, ProviderError

__all__ = [
    "EvalConfig",
    "Prompt",
    "PromptResolver",
    "ProviderEntry",
    "TestCase",
    "assertion_from_string",
    "load_config",
]

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


def _read_text(path: Path, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise NotFound(f"{key}: file not found: {path}") from exc
    except OSError as exc:
        raise InvalidFile(f"{key}: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidFile(f"{key}: {path} is not UTF-8 text") from exc


# --------------------------------------------------------------------------- data model


@dataclass
class Prompt:
    """One prompt column source: its template text, label and optional function."""

    raw: str
    label: str
    #: The ``id:`` the config gave, if any (used by prompt filters).
    id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: A prompt function: called with ``{vars, provider, config}``, returns the prompt.
    function: Callable[[dict[str, Any]], Any] | None = None

    @property
    def prompt_id(self) -> str:
        """promptfoo's prompt id: sha256 of the label, else of the id, else of the raw text."""
        key = self.label or self.id or self.raw
        return hashlib.sha256(key.encode("utf-8")).hexdigest()


#: Resolves a ``prompts:`` entry the engine does not know (``promptgov://greet@1.2.0``) to
#: prompts, or returns None when the reference is not its own.
PromptResolver = Callable[[str], "list[Prompt] | None"]


@dataclass
class ProviderEntry:
    """One ``providers:`` entry: what the config wrote, plus a ready provider for library use."""

    spec: Any
    id: str
    #: The configured ``label:`` (empty when none, as promptfoo prints it).
    label: str = ""
    #: ``prompts:`` filter of this provider, None for all.
    prompts: list[str] | None = None
    #: A provider object given directly (library callers and tests); else built from ``spec``.
    instance: Provider | None = None

    @property
    def key(self) -> str:
        """promptfoo's ``getProviderIdentifier``: the label, else the id."""
        return self.label or self.id


@dataclass
class TestCase:
    """One test as written (before defaultTest merging and variable expansion)."""

    vars: dict[str, Any] = field(default_factory=dict)
    asserts: list[AssertionSpec] = field(default_factory=list)
    description: str | None = None
    threshold: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: A provider that replaces the column's provider for this test.
    provider: Any = None
    provider_output: Any = None
    prompts: list[str] | None = None
    providers: list[str] | None = None
    #: The mapping as written, echoed into results' ``testCase``.
    raw: dict[str, Any] = field(default_factory=dict)
    #: Where the test came from, for error messages.
    where: str = ""


@dataclass
class Scenario:
    """One ``scenarios:`` entry: data rows crossed with tests."""

    config: list[dict[str, Any]]
    tests: list[TestCase]


@dataclass
class EvalConfig:
    """A loaded promptfoo config, ready for :func:`~promptgov.evals.runner.run_eval`."""

    prompts: list[Prompt]
    providers: list[ProviderEntry]
    tests: list[TestCase]
    default_test: TestCase | None = None
    scenarios: list[Scenario] = field(default_factory=list)
    description: str | None = None
    evaluate_options: dict[str, Any] = field(default_factory=dict)
    #: The config's ``env:`` mapping, as strings.
    env: dict[str, str] = field(default_factory=dict)
    output_path: list[str] = field(default_factory=list)
    derived_metrics: list[dict[str, Any]] = field(default_factory=list)
    #: Directory ``file://`` references resolve against.
    base_dir: Path = field(default_factory=Path.cwd)
    #: The config file, when loaded from one.
    path: Path | None = None
    #: The config mapping as read (for the output's ``config``).
    raw: dict[str, Any] = field(default_factory=dict)

    def merged_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment overlaid with the config's ``env:`` (promptfoo's ``env``)."""
        merged = dict(os.environ if environ is None else environ)
        merged.update(self.env)
        return merged


# --------------------------------------------------------------------------- entry point


def load_config(
    source: str | Path | Mapping[str, Any],
    base_dir: str | Path | None = None,
    prompt_resolver: PromptResolver | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    validate_providers: bool = True,
) -> EvalConfig:
    """Read a promptfoo config file (or mapping) into an :class:`EvalConfig`.

    ``prompt_resolver`` sees every ``prompts:`` string first; the prompts it returns are used
    as they are. Providers are constructed once to validate their ids and configs.

    Raises:
        InvalidFile: malformed YAML/JSON, an unknown assertion type, provider or prompt file,
            or a malformed entry; the message names the file and the key.
        NotFound: the config or a file it references does not exist.
    """
    env_in = dict(os.environ if environ is None else environ)
    if isinstance(source, Mapping):
        data: Any = dict(source)
        label_base = str(base_dir) if base_dir is not None else "."
        cfg_path: Path | None = None
        where = "config"
    else:
        cfg_path = Path(source)
        where = str(cfg_path)
        if not cfg_path.is_file():
            raise NotFound(f"config file not found: {cfg_path}")
        data = load_yaml(_read_text(cfg_path, where), where)
        label_base = str(base_dir) if base_dir is not None else os.path.dirname(str(source)) or "."
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise InvalidFile(f"{where}: a promptfoo config must be a mapping of keys")
    data = _dereference(data, data, where)
    data = _render_config_env(data, env_in)
    loader = _Loader(where=where, label_base=label_base, resolver=prompt_resolver)
    env = {str(k): _env_str(v) for k, v in (data.get("env") or {}).items()}
    if "providers" in data and "targets" in data:
        raise InvalidFile(f"{where}: use either 'providers' or 'targets', not both")
    provider_specs = data.get("providers", data.get("targets"))
    if not provider_specs:
        raise InvalidFile(f"{where}: providers: specify at least one provider (e.g. 'echo')")
    prompt_specs = data.get("prompts")
    if not prompt_specs:
        raise InvalidFile(f"{where}: prompts: provide at least one prompt")
    prompts = loader.prompts(prompt_specs)
    providers = loader.providers(provider_specs)
    if validate_providers:
        _validate_providers(providers, loader, {**env_in, **env})
    tests = loader.tests(data.get("tests"), "tests")
    default_test = None
    if data.get("defaultTest") is not None:
        raw_default = data["defaultTest"]
        if isinstance(raw_default, str) and raw_default.startswith("file://"):
            raw_default = loader.external(raw_default, "defaultTest")
        default_test = loader.test(raw_default, "defaultTest", loader.base, is_default=True)
    scenarios = loader.scenarios(data.get("scenarios"))
    options = data.get("evaluateOptions") or {}
    if not isinstance(options, dict):
        raise InvalidFile(f"{where}: evaluateOptions: must be a mapping")
    output_path = data.get("outputPath") or []
    derived = data.get("derivedMetrics") or []
    if not isinstance(derived, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("value"), str)
        for d in derived
    ):
        raise InvalidFile(f"{where}: derivedMetrics: a list of {{name, value}} with a formula")
    return EvalConfig(
        prompts=prompts,
        providers=providers,
        tests=tests,
        default_test=default_test,
        scenarios=scenarios,
        description=data.get("description"),
        evaluate_options=dict(options),
        env=env,
        output_path=[output_path] if isinstance(output_path, str) else list(output_path),
        derived_metrics=list(derived),
        base_dir=loader.base,
        path=cfg_path,
        raw=data,
    )


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _validate_providers(
    providers: list[ProviderEntry], loader: _Loader, env: Mapping[str, str]
) -> None:
    from .providers import load_provider

    for i, entry in enumerate(providers):
        if entry.instance is not None:
            continue
        try:
            provider = load_provider(entry.spec, base_dir=loader.base, env=env)
        except ProviderError as exc:
            raise InvalidFile(f"{loader.where}: providers[{i}] ({entry.id}): {exc}") from exc
        except PromptGovError as exc:
            raise InvalidFile(
                f"{loader.where}: providers[{i}] ({entry.id}): {exc.message}"
            ) from exc
        if entry.prompts is None and provider.prompts is not None:
            entry.prompts = list(provider.prompts)


# --------------------------------------------------------------------------- $ref and env


def _dereference(node: Any, root: Mapping[str, Any], where: str, depth: int = 0) -> Any:
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
            return _dereference(target, root, where, depth + 1)
        return {k: _dereference(v, root, where, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_dereference(v, root, where, depth) for v in node]
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
                from .templating import TemplateError, render

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


def _render_config_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    raw_env = data.get("env")
    overlay: dict[str, str] = {}
    if isinstance(raw_env, dict):
        rendered = _render_env_only(raw_env, environ)
        overlay = {str(k): _env_str(v) for k, v in rendered.items() if v is not None}
    out = _render_env_only(data, {**environ, **overlay})
    assert isinstance(out, dict)
    return out


# --------------------------------------------------------------------------- CSV mini-syntax

_BASE_ASSERTION_TYPES = (
    "agent-rubric answer-relevance bleu classifier contains contains-all contains-any "
    "contains-html contains-json contains-sql contains-xml context-faithfulness context-recall "
    "context-relevance conversation-relevance cost equals factuality finish-reason g-eval gleu "
    "guardrails icontains icontains-all icontains-any is-html is-json is-refusal is-sql "
    "is-valid-function-call is-valid-openai-function-call is-valid-openai-tools-call is-xml "
    "javascript latency levenshtein llm-rubric pi meteor model-graded-closedqa "
    "model-graded-factuality moderation perplexity perplexity-score python regex rouge-n ruby "
    "similar similar:cosine similar:dot similar:euclidean starts-with tool-call-f1 skill-used "
    "trajectory:goal-success trajectory:tool-args-match trajectory:step-count "
    "trajectory:tool-sequence trajectory:tool-used trace-error-spans trace-span-count "
    "trace-span-duration search-rubric webhook word-count"
).split()
_ASSERTION_RE = re.compile(
    r"^(not-)?("
    + "|".join(re.escape(t) for t in _BASE_ASSERTION_TYPES)
    + r")(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_THRESHOLD_TYPES = {
    "answer-relevance",
    "classifier",
    "context-faithfulness",
    "context-recall",
    "context-relevance",
    "cost",
    "latency",
    "levenshtein",
    "perplexity-score",
    "perplexity",
    "rouge-n",
    "similar",
    "starts-with",
}
_JS_EXTS = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")
_FINITE_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def _finite(value: str | None) -> float | None:
    text = (value or "").strip()
    return float(text) if _FINITE_RE.match(text) else None


def _split_csv_values(value: str) -> list[str]:
    """promptfoo's comma-separated list parser for ``contains-any:a,"b,c"``."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            break
        if value[i] == '"':
            i += 1
            buf = []
            closed = False
            while i < n:
                if value[i] == "\\" and i + 1 < n and value[i + 1] in '"\\':
                    buf.append(value[i + 1])
                    i += 2
                elif value[i] == '"' and i + 1 < n and value[i + 1] == '"':
                    buf.append('"')
                    i += 2
                elif value[i] == '"':
                    i += 1
                    closed = True
                    break
                else:
                    buf.append(value[i])
                    i += 1
            if not closed:
                raise InvalidFile("Unterminated quoted field in contains assertion value")
            out.append("".join(buf))
            while i < n and value[i].isspace():
                i += 1
        else:
            start = i
            while i < n and value[i] != ",":
                i += 1
            out.append(value[start:i].strip())
    return out


def assertion_from_string(expected: str) -> dict[str, Any]:
    """An ``__expected`` CSV cell (``contains:foo``, ``python:…``) as an assertion mapping."""
    if (
        expected.startswith(("javascript:", "fn:", "eval:"))
        or expected.startswith("file://")
        and expected[7:].endswith(_JS_EXTS)
    ):
        cut = next((len(p) for p in ("javascript:", "fn:", "eval:") if expected.startswith(p)), 0)
        return {"type": "javascript", "value": expected[cut:].strip()}
    if expected.startswith(("grade:", "llm-rubric:")):
        cut = 6 if expected.startswith("grade:") else 11
        return {"type": "llm-rubric", "value": expected[cut:]}
    if expected.startswith("python:") or (
        expected.startswith("file://") and (expected.endswith(".py") or ".py:" in expected)
    ):
        return {"type": "python", "value": expected[7:].strip()}
    match = _ASSERTION_RE.match(expected)
    if match:
        negated, kind, threshold_s, value = match.groups()
        full = f"not-{kind}" if negated else kind
        threshold = _finite(threshold_s)
        if kind in ("contains-all", "contains-any", "icontains-all", "icontains-any"):
            return {"type": full, "value": _split_csv_values(value) if value else value}
        if kind in ("contains-json", "is-json"):
            return {"type": full, "value": value}
        if kind in _THRESHOLD_TYPES:
            default = 0.8 if kind == "similar" else 0.75
            return {
                "type": full,
                "value": value.strip() if value is not None else None,
                "threshold": threshold if threshold is not None else default,
            }
        return {"type": full, "value": value.strip() if value is not None else None}
    return {"type": "equals", "value": expected}


def _test_from_row(row: Mapping[str, str]) -> dict[str, Any]:
    """promptfoo's ``testCaseFromCsvRow``: special ``__`` columns, the rest are vars."""
    vars_: dict[str, Any] = {}
    asserts: list[dict[str, Any]] = []
    options: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    configs: dict[int, dict[str, float]] = {}
    description = provider_output = metric = None
    threshold: float | None = None
    for key_raw, value in row.items():
        key = (key_raw or "").strip()
        value = value if value is not None else ""
        if key.startswith("__expected"):
            if value.strip():
                asserts.append(assertion_from_string(value.strip()))
        elif key == "__prefix":
            options["prefix"] = value
        elif key == "__suffix":
            options["suffix"] = value
        elif key == "__description":
            description = value
        elif key == "__providerOutput":
            provider_output = value
        elif key == "__metric":
            metric = value
        elif key == "__threshold":
            threshold = _finite(value)
        elif key.startswith("__metadata:"):
            mkey = key[len("__metadata:") :]
            if mkey.endswith("[]"):
                if value.strip():
                    parts = re.split(r"(?<!\\),", value)
                    metadata[mkey[:-2]] = [p.strip().replace("\\,", ",") for p in parts]
            elif value.strip():
                metadata[mkey] = value
        elif key == "__metadata":
            continue
        elif key.startswith("__config:"):
            parts = key[len("__config:") :].split(":")
            if len(parts) != 2:
                continue
            expected_key, config_key = parts
            m = re.match(r"^__expected(\d*)$", expected_key)
            index = (int(m.group(1)) - 1 if m.group(1) else 0) if m else -1
            if index < 0 or config_key != "threshold":
                raise InvalidFile(f"invalid __config column {key!r}")
            number = _finite(value)
            if number is None:
                raise InvalidFile(f"invalid numeric value {value!r} in column {key!r}")
            configs.setdefault(index, {})[config_key] = number
        else:
            vars_[key] = value
    for i, item in enumerate(asserts):
        item["metric"] = metric
        for ck, cv in configs.get(i, {}).items():
            item[ck] = cv
            metadata[ck] = cv
    test: dict[str, Any] = {"vars": vars_, "assert": asserts, "options": options}
    if description:
        test["description"] = description
    if provider_output:
        test["providerOutput"] = provider_output
    if threshold is not None:
        test["threshold"] = threshold
    if metadata:
        test["metadata"] = metadata
    return test


def _parse_csv(text: str, where: str) -> list[dict[str, str]]:
    delimiter = os.environ.get("PROMPTFOO_CSV_DELIMITER", ",")
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
        return [dict(r) for r in reader]
    except csv.Error as exc:
        raise InvalidFile(f"{where}: malformed CSV: {exc}") from exc


# --------------------------------------------------------------------------- the loader

_PROMPT_EXTS = (".cjs", ".cts", ".j2", ".js", ".json", ".jsonl", ".md", ".mjs", ".mts", ".py")
_PROMPT_EXTS_ALL = (*_PROMPT_EXTS, ".ts", ".txt", ".yml", ".yaml")
_GLOB_MAGIC = re.compile(r"[*?\[\]{}]")


def _maybe_file_path(text: str) -> bool:
    """promptfoo's heuristic for "this prompt string names a file"."""
    if any(s in text for s in ("\n", "portkey://", "langfuse://", "helicone://")):
        return False
    if text.startswith("file://"):
        return True
    tokens = text.split(":")
    last = tokens[-1]
    before = tokens[-2] if len(tokens) > 1 else ""
    if any(last.endswith(ext) or before.endswith(ext) for ext in _PROMPT_EXTS_ALL):
        return True
    return (
        (len(text) >= 3 and text[-3] == ".")
        or (len(text) >= 4 and text[-4] == ".")
        or "*" in text
        or "/" in text
        or "\\" in text
    )


class _Loader:
    """Reads the parts of one config relative to its directory."""

    def __init__(self, *, where: str, label_base: str, resolver: PromptResolver | None) -> None:
        self.where = where
        self.label_base = label_base
        self.base = Path(label_base).resolve()
        self.resolver = resolver

    # ---- helpers

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
        return load_yaml(_read_text(path, f"{self.where}: {key}"), f"{path}")

    # ---- prompts

    def prompts(self, specs: Any) -> list[Prompt]:
        if isinstance(specs, str):
            partials: list[dict[str, Any]] = [{"raw": specs}]
        elif isinstance(specs, list):
            partials = []
            for i, item in enumerate(specs):
                if isinstance(item, str):
                    partials.append({"raw": item})
                elif isinstance(item, dict):
                    partials.append({"raw": item.get("raw") or item.get("id"), **item})
                else:
                    raise InvalidFile(f"{self.where}: prompts[{i}]: a string or {{id, label, raw}}")
        elif isinstance(specs, dict):
            partials = [{"raw": raw, "label": label} for raw, label in specs.items()]
        else:
            raise InvalidFile(f"{self.where}: prompts: a string, a list or a mapping")
        out: list[Prompt] = []
        for i, partial in enumerate(partials):
            key = f"prompts[{i}]"
            raw = partial.get("raw")
            if isinstance(raw, list | dict):
                raw = json.dumps(raw, ensure_ascii=False)
            if not isinstance(raw, str):
                raise InvalidFile(f"{self.where}: {key}: a prompt needs 'raw' text or a file")
            if self.resolver is not None:
                resolved = self.resolver(raw)
                if resolved is not None:
                    out.extend(resolved)
                    continue
            batch = self._process_prompt(partial, raw, key, depth=1)
            if not batch:
                raise InvalidFile(f"{self.where}: {key}: there are no prompts in {raw!r}")
            out.extend(batch)
        return out

    def _process_prompt(
        self, partial: Mapping[str, Any], raw: str, key: str, depth: int
    ) -> list[Prompt]:
        label = partial.get("label")
        config = dict(partial.get("config") or {})
        if raw.startswith("exec:"):
            raise InvalidFile(
                f"{self.where}: {key}: executable prompts ({raw}) are not supported; "
                "use a file://x.py:fn prompt function"
            )
        if not _maybe_file_path(raw):
            return [
                Prompt(
                    raw=raw,
                    label=label if label is not None else raw,
                    id=partial.get("id"),
                    config=config,
                )
            ]
        path_s = raw[len("file://") :] if raw.startswith("file://") else raw
        function_name: str | None = None
        head, sep, tail = path_s.rpartition(":")
        if sep and len(head) > 1 and head.endswith((*_JS_EXTS, ".py", ".go", ".rb")):
            path_s, function_name = head, tail
        if _GLOB_MAGIC.search(path_s) or self._abs(path_s).is_dir():
            if depth <= 0:
                return []
            pattern = path_s if not self._abs(path_s).is_dir() else os.path.join(path_s, "*")
            found: list[Prompt] = []
            for match in self._glob(pattern):
                rel = os.path.relpath(match, self.base)
                sub = f"{rel}:{function_name}" if function_name else rel
                found.extend(self._process_prompt({"raw": sub}, sub, key, depth - 1))
            if not found:
                return [
                    Prompt(
                        raw=raw,
                        label=label if label is not None else raw,
                        id=partial.get("id"),
                        config=config,
                    )
                ]
            return found
        path = self._abs(path_s)
        shown = self._label_path(path_s)
        ext = path.suffix.lower()
        if ext in _JS_EXTS:
            raise InvalidFile(
                f"{self.where}: {key}: JavaScript prompt functions ({raw}) need Node; "
                "run with --engine promptfoo or port it to a file://x.py:fn function"
            )
        if ext == ".py":
            return [self._python_prompt(path, shown, function_name, label, config, key)]
        if ext not in (".txt", ".md", ".j2", ".json", ".jsonl", ".yml", ".yaml", ".csv"):
            if not path.exists():
                return []
            raise InvalidFile(f"{self.where}: {key}: unsupported prompt file type {path.name!r}")
        text = _read_text(path, f"{self.where}: {key}")
        if ext == ".txt":
            return self._txt_prompts(text, shown, label)
        if ext in (".md", ".j2"):
            return [Prompt(raw=text, label=label or f"{shown}: {text[:50]}...", config=config)]
        if ext == ".json":
            try:
                content = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
            except ValueError:
                content = text
            return [Prompt(raw=content, label=label or f"{shown}: {content}", config=config)]
        if ext == ".jsonl":
            lines = [ln for ln in re.split(r"\r?\n", text) if ln]
            many = len(lines) > 1
            return [
                Prompt(
                    raw=ln,
                    label=(f"{label}: {ln}" if label else f"{shown}: {ln}")
                    if many
                    else (label or shown),
                    config=config,
                )
                for ln in lines
            ]
        if ext in (".yml", ".yaml"):
            try:
                content = json.dumps(
                    load_yaml(text, str(path)), ensure_ascii=False, separators=(",", ":")
                )
            except InvalidFile:
                content = text
            return [Prompt(raw=content, label=label or f"{shown}: {content[:80]}", config=config)]
        return self._csv_prompts(text, label, partial.get("id"), config)

    def _txt_prompts(self, text: str, shown: str, label: str | None) -> list[Prompt]:
        delimiter = os.environ.get("PROMPTFOO_PROMPT_SEPARATOR") or "---"
        out: list[Prompt] = []
        buffer: list[str] = []

        def flush() -> None:
            body = "\n".join(buffer).strip()
            if body:
                shown_label = f"{label}: {shown}: {body}" if label else f"{shown}: {body}"
                out.append(Prompt(raw=body, label=shown_label))
            buffer.clear()

        for line in re.split(r"\r?\n", text):
            if line.strip() == delimiter:
                flush()
            else:
                buffer.append(line)
        flush()
        return out

    def _csv_prompts(
        self, text: str, label: str | None, pid: str | None, config: dict[str, Any]
    ) -> list[Prompt]:
        if "," in text:
            rows = [
                {"raw": (r.get("prompt") or "").strip(), "label": (r.get("label") or "").strip()}
                for r in _parse_csv(text, self.where)
                if (r.get("prompt") or "").strip()
            ]
        else:
            lines = [ln for ln in re.split(r"\r?\n", text) if ln.strip()]
            if lines and lines[0].strip().lower() == "prompt":
                lines = lines[1:]
            rows = [{"raw": ln, "label": ""} for ln in lines]
        many = len(rows) > 1
        out = []
        for i, row in enumerate(rows):
            if row["label"]:
                shown = row["label"]
            elif label:
                shown = f"{label} - {row['raw'][:50]}" if many else label
            else:
                shown = row["raw"]
            prompt_id = f"{pid}:{i + 1}" if many and pid else pid
            out.append(Prompt(raw=row["raw"], label=shown, id=prompt_id, config=config))
        return out

    def _python_prompt(
        self,
        path: Path,
        shown: str,
        function_name: str | None,
        label: str | None,
        config: dict[str, Any],
        key: str,
    ) -> Prompt:
        text = _read_text(path, f"{self.where}: {key}")
        if function_name is not None:
            try:
                _scripts.get_function(path, function_name)
            except _scripts.ScriptError as exc:
                raise InvalidFile(f"{self.where}: {key}: {exc}") from exc

            def _call(context: dict[str, Any], _p: Path = path, _f: str = function_name) -> Any:
                return _scripts.call(_p, _f, {**context, "config": config})

            return Prompt(
                raw=text,
                label=label if label is not None else f"{shown}:{function_name}",
                config=config,
                function=_call,
            )

        def _run(context: dict[str, Any], _p: Path = path) -> str:
            arg = json.dumps({**context, "config": config}, ensure_ascii=False, default=str)
            done = subprocess.run(
                [sys.executable, str(_p), arg], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise _scripts.ScriptError(f"{_p} exited {done.returncode}: {done.stderr.strip()}")
            return done.stdout.rstrip("\n")

        return Prompt(
            raw=text,
            label=label if label is not None else f"{shown}: {text}",
            config=config,
            function=_run,
        )

    # ---- providers

    def providers(self, specs: Any) -> list[ProviderEntry]:
        items = specs if isinstance(specs, list) else [specs]
        out: list[ProviderEntry] = []
        for i, spec in enumerate(items):
            if isinstance(spec, Provider):
                out.append(
                    ProviderEntry(
                        spec=spec.id,
                        id=spec.id,
                        label=spec.label,
                        prompts=spec.prompts,
                        instance=spec,
                    )
                )
            elif isinstance(spec, str):
                out.append(ProviderEntry(spec=spec, id=spec))
            elif isinstance(spec, dict) and isinstance(spec.get("id"), str):
                prompts = spec.get("prompts")
                out.append(
                    ProviderEntry(
                        spec=spec,
                        id=spec["id"],
                        label=str(spec.get("label") or ""),
                        prompts=[prompts] if isinstance(prompts, str) else prompts,
                    )
                )
            elif isinstance(spec, dict) and len(spec) == 1:
                ((pid, body),) = spec.items()
                body = body if isinstance(body, dict) else {}
                real_id = str(body.get("id") or pid)
                prompts = body.get("prompts")
                out.append(
                    ProviderEntry(
                        spec={**body, "id": real_id},
                        id=real_id,
                        label=str(body.get("label") or ""),
                        prompts=[prompts] if isinstance(prompts, str) else prompts,
                    )
                )
            else:
                raise InvalidFile(f"{self.where}: providers[{i}]: a provider id or {{id, config}}")
        return out

    # ---- tests

    def tests(self, spec: Any, key: str, base: Path | None = None) -> list[TestCase]:
        base = base or self.base
        if spec is None:
            return []
        if isinstance(spec, str):
            if spec.endswith(("yaml", "yml")):
                return self._tests_from_glob(spec, key, base)
            return self._standalone(spec, key, base, None)
        if isinstance(spec, dict) and isinstance(spec.get("path"), str):
            return self._standalone(spec["path"], key, base, spec.get("config"))
        if not isinstance(spec, list):
            raise InvalidFile(f"{self.where}: {key}: a list of tests or a file:// path")
        out: list[TestCase] = []
        for i, item in enumerate(spec):
            sub = f"{key}[{i}]"
            if isinstance(item, str):
                bare = item[len("file://") :] if item.startswith("file://") else item
                head = bare.rpartition(":")[0]
                if (
                    bare.endswith((".py", *_JS_EXTS))
                    or head.endswith((".py", *_JS_EXTS))
                    or ":" in bare
                ):
                    out.extend(self._standalone(item, sub, base, None))
                else:
                    out.extend(self._tests_from_glob(item, sub, base))
            elif (
                isinstance(item, dict) and isinstance(item.get("path"), str) and "vars" not in item
            ):
                out.extend(self._standalone(item["path"], sub, base, item.get("config")))
            else:
                out.append(self.test(item, sub, base))
        return out

    def _tests_from_glob(self, pattern: str, key: str, base: Path) -> list[TestCase]:
        bare = pattern[len("file://") :] if pattern.startswith("file://") else pattern
        files = self._glob(bare, base)
        if not files:
            raise NotFound(f"{self.where}: {key}: no test files match {pattern!r}")
        out: list[TestCase] = []
        for path in files:
            text = _read_text(path, f"{self.where}: {key}")
            name = path.name.lower()
            if name.endswith(".csv"):
                out.extend(self._csv_tests(text, str(path)))
                continue
            if name.endswith((".yaml", ".yml")):
                data = load_yaml(text, str(path))
            elif name.endswith(".jsonl"):
                data = self._jsonl(text, str(path))
            elif name.endswith(".json"):
                try:
                    data = json.loads(text)
                except ValueError as exc:
                    raise InvalidFile(f"{path}: invalid JSON: {exc}") from exc
            else:
                raise InvalidFile(f"{self.where}: {key}: unsupported test file type {path.name}")
            data = _dereference(data, data if isinstance(data, dict) else {}, str(path))
            items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
            for j, item in enumerate(items):
                out.append(self.test(item, f"{path}[{j}]", path.parent))
        return out

    def _jsonl(self, text: str, where: str) -> list[Any]:
        rows = []
        for n, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise InvalidFile(f"{where}: line {n}: invalid JSON: {exc}") from exc
        return rows

    def _csv_tests(self, text: str, where: str) -> list[TestCase]:
        out = []
        for idx, row in enumerate(_parse_csv(text, where)):
            try:
                raw = _test_from_row(row)
            except InvalidFile as exc:
                raise InvalidFile(f"{where}: row {idx + 2}: {exc.message}") from exc
            raw["description"] = raw.get("description") or f"Row #{idx + 1}"
            out.append(self.test(raw, f"{where}: row {idx + 2}", self.base))
        return out

    def _standalone(self, ref: str, key: str, base: Path, gen_config: Any) -> list[TestCase]:
        path_s, function_name = _scripts.split_ref(ref)
        path = base / path_s
        ext = path.suffix.lower()
        where = f"{self.where}: {key}"
        if ext in _JS_EXTS:
            raise InvalidFile(f"{where}: JavaScript test generators ({ref}) need Node")
        if ext == ".py":
            if not path.is_file():
                raise NotFound(f"{where}: file not found: {path}")
            try:
                args = () if gen_config is None else (gen_config,)
                result = _scripts.call(path, function_name or "generate_tests", *args)
            except _scripts.ScriptError as exc:
                raise InvalidFile(f"{where}: {exc}") from exc
            if not isinstance(result, list):
                raise InvalidFile(f"{where}: {ref} must return a list of test cases")
            return [self.test(t, f"{ref}[{i}]", base) for i, t in enumerate(result)]
        text = _read_text(path, where)
        if ext == ".csv":
            return self._csv_tests(text, str(path))
        if ext == ".jsonl":
            items = self._jsonl(text, str(path))
        elif ext in (".json", ".yaml", ".yml"):
            data = load_yaml(text, str(path))
            items = data if isinstance(data, list) else [data]
        else:
            raise InvalidFile(f"{where}: unsupported test file type {path.name!r}")
        out = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and not item.get("description"):
                item = {**item, "description": f"Row #{i + 1}"}
            out.append(self.test(item, f"{path}[{i}]", base))
        return out

    def test(self, item: Any, key: str, base: Path, *, is_default: bool = False) -> TestCase:
        """One test mapping (or a ``file://`` test file) as a :class:`TestCase`."""
        where = key if key.startswith(str(self.base)) or ".csv" in key else f"{self.where}: {key}"
        if isinstance(item, str):
            path = base / (item[len("file://") :] if item.startswith("file://") else item)
            base = path.parent
            item = load_yaml(_read_text(path, where), str(path))
        if not isinstance(item, dict):
            raise InvalidFile(f"{where}: a test must be a mapping (vars, assert, …)")
        raw = dict(item)
        vars_ = raw.get("vars")
        if isinstance(vars_, str | list):
            merged: dict[str, Any] = {}
            for pattern in [vars_] if isinstance(vars_, str) else vars_:
                bare = pattern[len("file://") :] if pattern.startswith("file://") else pattern
                for path in self._glob(bare, base):
                    loaded = load_yaml(_read_text(path, where), str(path))
                    if isinstance(loaded, dict):
                        merged.update(loaded)
            vars_ = merged
        if vars_ is not None and not isinstance(vars_, dict):
            raise InvalidFile(f"{where}.vars: must be a mapping of variable names to values")
        if (
            not is_default
            and not any(
                k in raw
                for k in ("assert", "vars", "options", "metadata", "provider", "providerOutput")
            )
            and not isinstance(raw.get("threshold"), int | float)
        ):
            raise InvalidFile(
                f"{where}: a test needs one of assert, vars, options, metadata, provider, "
                "providerOutput or threshold"
            )
        asserts_raw = raw.get("assert") or []
        if isinstance(asserts_raw, str) and asserts_raw.startswith("file://"):
            asserts_raw = self.external(asserts_raw, f"{key}.assert", base)
        if not isinstance(asserts_raw, list):
            raise InvalidFile(f"{where}.assert: must be a list of assertions")
        from .assertions import assertion_from_config

        asserts = [
            assertion_from_config(a, where=f"{where}.assert[{j}]")
            for j, a in enumerate(asserts_raw)
        ]
        threshold = raw.get("threshold")
        if threshold is not None and not isinstance(threshold, int | float):
            raise InvalidFile(f"{where}.threshold: must be a number")
        options = raw.get("options") or {}
        if not isinstance(options, dict):
            raise InvalidFile(f"{where}.options: must be a mapping")
        prompts = raw.get("prompts")
        providers = raw.get("providers")
        return TestCase(
            vars=dict(vars_ or {}),
            asserts=asserts,
            description=raw.get("description"),
            threshold=float(threshold) if threshold is not None else None,
            options=dict(options),
            metadata=dict(raw.get("metadata") or {}),
            provider=raw.get("provider"),
            provider_output=raw.get("providerOutput"),
            prompts=[prompts] if isinstance(prompts, str) else prompts,
            providers=[providers] if isinstance(providers, str) else providers,
            raw=raw,
            where=where,
        )

    # ---- scenarios

    def scenarios(self, spec: Any) -> list[Scenario]:
        if not spec:
            return []
        if isinstance(spec, str) and spec.startswith("file://"):
            spec = self.external(spec, "scenarios")
        if not isinstance(spec, list):
            raise InvalidFile(f"{self.where}: scenarios: must be a list")
        flat: list[Any] = []
        for item in spec:
            if isinstance(item, str) and item.startswith("file://"):
                loaded = self.external(item, "scenarios")
                flat.extend(loaded if isinstance(loaded, list) else [loaded])
            else:
                flat.append(item)
        out: list[Scenario] = []
        for i, item in enumerate(flat):
            key = f"scenarios[{i}]"
            if not isinstance(item, dict):
                raise InvalidFile(f"{self.where}: {key}: must be a mapping with config and tests")
            config = item.get("config") or []
            if isinstance(config, str) and config.startswith("file://"):
                config = self.external(config, f"{key}.config")
            if not isinstance(config, list) or not all(isinstance(c, dict) for c in config):
                raise InvalidFile(f"{self.where}: {key}.config: a list of mappings")
            tests_spec = item.get("tests")
            if isinstance(tests_spec, str) and tests_spec.startswith("file://"):
                tests_spec = self.external(tests_spec, f"{key}.tests")
            tests = self.tests(tests_spec, f"{key}.tests") if tests_spec is not None else []
            for j, data in enumerate(config):
                if data.get("assert"):
                    from .assertions import assertion_from_config

                    for k, a in enumerate(data["assert"]):
                        assertion_from_config(
                            a, where=f"{self.where}: {key}.config[{j}].assert[{k}]"
                        )
            out.append(Scenario(config=[dict(c) for c in config], tests=tests))
        return out
