"""``tests:``, ``defaultTest`` and ``scenarios``: inline, files, globs, CSV, JSONL, generators.

Follows promptfoo 0.123's ``readTests``/``readStandaloneTestsFile``, including the CSV
``__expected`` mini-syntax (``contains:x``, ``levenshtein:…`` with its 0.75 default threshold)
and the order of scenario tests after plain ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import InvalidFile, NotFound
from .. import _scripts, js
from .loader import JS_EXTS, _FileReader, dereference, load_yaml, parse_csv, read_text
from .model import Scenario, TestCase

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
        and expected[7:].endswith(JS_EXTS)
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
        if metric is not None:  # promptfoo's ``metric: undefined`` is no key at all
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


class _TestReader(_FileReader):
    """``tests:``/``defaultTest``/``scenarios`` entries, read relative to the config."""

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
                    bare.endswith((".py", *JS_EXTS))
                    or head.endswith((".py", *JS_EXTS))
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
            text = read_text(path, f"{self.where}: {key}")
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
            data = dereference(data, data if isinstance(data, dict) else {}, str(path))
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
        for idx, row in enumerate(parse_csv(text, where)):
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
        if ext in JS_EXTS:
            result = self._js_tests(path, function_name, gen_config, ref, where)
            return [self.test(t, f"{ref}[{i}]", base) for i, t in enumerate(result)]
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
        text = read_text(path, where)
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

    def _js_tests(
        self, path: Path, function_name: str | None, gen_config: Any, ref: str, where: str
    ) -> list[Any]:
        """promptfoo's ``readJavascriptTestCases``: the export, called with the config if a function.

        The generator runs on the Node worker while the config loads (sync or async, within
        ``REQUEST_TIMEOUT_MS``, else 300 s); what it returns must be a list of tests.
        """
        if not path.is_file():
            raise NotFound(f"{where}: file not found: {path}")
        reply = self.js_reply(
            where,
            lambda: js.invoke_export_sync(
                path,
                function_name,
                [] if gen_config is None else [gen_config],
                purpose="JavaScript test generators",
                what=function_name or "the test generator",
                or_value=True,
                timeout_s=self.code_timeout_s,
            ),
            f"{ref} failed",
        )
        if not isinstance(reply.value, list):
            raise InvalidFile(
                f"{where}: {ref} must give a list of test cases, got {js.js_type(reply)}"
            )
        return reply.value

    def test(self, item: Any, key: str, base: Path, *, is_default: bool = False) -> TestCase:
        """One test mapping (or a ``file://`` test file) as a :class:`TestCase`."""
        where = key if key.startswith(str(self.base)) or ".csv" in key else f"{self.where}: {key}"
        if isinstance(item, str):
            path = base / (item[len("file://") :] if item.startswith("file://") else item)
            base = path.parent
            item = load_yaml(read_text(path, where), str(path))
        if not isinstance(item, dict):
            raise InvalidFile(f"{where}: a test must be a mapping (vars, assert, …)")
        raw = dict(item)
        vars_ = raw.get("vars")
        if isinstance(vars_, str | list):
            merged: dict[str, Any] = {}
            for pattern in [vars_] if isinstance(vars_, str) else vars_:
                bare = pattern[len("file://") :] if pattern.startswith("file://") else pattern
                for path in self._glob(bare, base):
                    loaded = load_yaml(read_text(path, where), str(path))
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
        from ..assertions import assertion_from_config

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
                    from ..assertions import assertion_from_config

                    for k, a in enumerate(data["assert"]):
                        assertion_from_config(
                            a, where=f"{self.where}: {key}.config[{j}].assert[{k}]"
                        )
            out.append(Scenario(config=[dict(c) for c in config], tests=tests))
        return out
