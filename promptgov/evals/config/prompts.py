"""The two axes of the eval grid: ``prompts:`` (text, files, globs, CSV, Python) and ``providers:``.

Follows promptfoo 0.123's ``readPrompts``/``processPrompt``, so the same entries give the same
prompts with the same labels and ids, and its provider-entry spellings.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import InvalidFile, NotFound
from .. import _scripts, js, pyworker
from ..errors import PythonTimeout
from ..providers.interface import Provider
from ..templating import js_str
from .loader import JS_EXTS, _FileReader, load_yaml, parse_csv, read_text
from .model import JsFunction, Prompt, ProviderEntry

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


class _PromptReader(_FileReader):
    """``prompts:`` and ``providers:`` entries, read relative to the config."""

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
        if sep and len(head) > 1 and head.endswith((*JS_EXTS, ".py", ".go", ".rb")):
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
        if ext in JS_EXTS:
            return [self._js_prompt(path, shown, function_name, label, config, key)]
        if ext == ".py":
            return [self._python_prompt(path, shown, function_name, label, config, key)]
        if ext not in (".txt", ".md", ".j2", ".json", ".jsonl", ".yml", ".yaml", ".csv"):
            if not path.exists():
                return []
            raise InvalidFile(f"{self.where}: {key}: unsupported prompt file type {path.name!r}")
        text = read_text(path, f"{self.where}: {key}")
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
                for r in parse_csv(text, self.where)
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

    def _js_prompt(
        self,
        path: Path,
        shown: str,
        function_name: str | None,
        label: str | None,
        config: dict[str, Any],
        key: str,
    ) -> Prompt:
        """promptfoo's ``processJsFile``: the module loads now; the export is called per test.

        Its raw text is the function's source, its label the path (with ``:name``).
        """
        if not path.is_file():
            raise NotFound(f"{self.where}: {key}: file not found: {path}")
        reply = self.js_reply(
            f"{self.where}: {key}",
            lambda: js.describe_export(
                path,
                function_name,
                purpose="JavaScript prompt functions",
                timeout_s=self.code_timeout_s,
            ),
            f"cannot load {path.name}",
        )
        described = reply.value if isinstance(reply.value, dict) else {}
        source = described.get("source")
        default_label = f"{shown}:{function_name}" if function_name else shown
        if isinstance(source, str):
            raw = source
        elif described.get("type") == "undefined":
            raw = "undefined"
        else:
            raw = js_str(described.get("value"))
        return Prompt(
            raw=raw,
            label=label or default_label,
            config=config,
            js_function=JsFunction(path, function_name),
        )

    def _python_prompt(
        self,
        path: Path,
        shown: str,
        function_name: str | None,
        label: str | None,
        config: dict[str, Any],
        key: str,
    ) -> Prompt:
        text = read_text(path, f"{self.where}: {key}")
        if function_name is not None:
            try:
                _scripts.get_function(path, function_name)
            except _scripts.ScriptError as exc:
                raise InvalidFile(f"{self.where}: {key}: {exc}") from exc

            def _call(context: dict[str, Any], _p: Path = path, _f: str = function_name) -> Any:
                # In the run's Python workers, within the run's deadline for user code.
                arg = {**context, "config": config}
                return _scripts.call_in_worker_sync(_p, _f, arg, timeout_s=None)

            return Prompt(
                raw=text,
                label=label if label is not None else f"{shown}:{function_name}",
                config=config,
                function=_call,
            )

        def _run(context: dict[str, Any], _p: Path = path) -> str:
            arg = json.dumps({**context, "config": config}, ensure_ascii=False, default=str)
            limit = pyworker.current().limit()
            try:
                done = subprocess.run(
                    [sys.executable, str(_p), arg],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=limit,
                )
            except subprocess.TimeoutExpired:
                raise PythonTimeout(
                    f"{_p.name} did not print a prompt within {limit:g}s and was stopped."
                ) from None
            if done.returncode != 0:
                raise _scripts.ScriptError(f"{_p} exited {done.returncode}: {done.stderr.strip()}")
            return done.stdout.rstrip("\n")

        return Prompt(
            raw=text,
            label=label if label is not None else f"{shown}: {text}",
            config=config,
            function=_run,
        )

    # ---- nunjucksFilters

    def nunjucks_filters(self, spec: Any) -> dict[str, JsFunction]:
        """promptfoo's ``readFilters``: each name's path globbed from the config's folder.

        Every matching module loads now (the last match wins, as in promptfoo); its default
        export is called per use. A path that matches nothing (``file://…`` included, which
        promptfoo does not strip here) registers no filter.
        """
        if not spec:
            return {}
        if not isinstance(spec, dict) or not all(isinstance(v, str) for v in spec.values()):
            raise InvalidFile(f"{self.where}: nunjucksFilters: a mapping of filter names to paths")
        out: dict[str, JsFunction] = {}
        for name, rel in spec.items():
            for path in self._glob(rel):
                self.js_reply(
                    f"{self.where}: nunjucksFilters.{name}",
                    lambda path=path: js.describe_export(  # type: ignore[misc]
                        path, None, purpose="Nunjucks filters", timeout_s=self.code_timeout_s
                    ),
                    f"cannot load {path.name}",
                )
                out[str(name)] = JsFunction(path.resolve(), None)
        return out

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
                out.append(
                    ProviderEntry(spec=spec, id=spec, shown_id=_python_id(spec, self.label_base))
                )
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


#: ``file://x.py``, ``file://x.py:fn``, ``python:x.py``, ``python:x.py:fn``.
_PYTHON_SPEC = re.compile(r"^(?:file://|python:)(?P<path>.+?\.py)(?::(?P<fn>[A-Za-z_]\w*))?$")


def _python_id(spec: str, base: str) -> str | None:
    """The id promptfoo's ``PythonProvider`` reports for a python provider given as a string:
    ``python:<script relative to the config>:<function or default>``; None for other ids."""
    m = _PYTHON_SPEC.match(spec.strip())
    if m is None:
        return None
    script = os.path.normpath(os.path.join(base, m["path"]))
    rel = os.path.relpath(script, base) if base else m["path"]
    return f"python:{rel}:{m['fn'] or 'default'}"
