"""The v3 JSON and CSV files are promptfoo's: the same config through real promptfoo 0.123.1
and through promptgov, compared field by field and cell by cell in one test run.

Values that differ between any two runs (ids, timestamps, durations, versions) are compared
by format; everything else by value. The provenance keys name the tool that wrote the file:
promptfoo's ``promptfooVersion``/``nodeVersion`` are promptgov's
``promptgovVersion``/``pythonVersion``, and promptgov adds the ``engine`` that ran.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real_promptfoo import Promptfoo, promptfoo  # noqa: F401

PY_OK = """\
def call_api(prompt, options, context):
    return {"output": "py " + prompt, "tokenUsage": {"total": 5, "prompt": 2, "completion": 3}}
"""
PY_ERROR = """\
def call_api(prompt, options, context):
    return {"error": "upstream failed"}
"""
PY_META = """\
def call_api(prompt, options, context):
    return {"output": "m " + prompt, "metadata": {"k": 1}, "cost": 0.5}
"""

#: Config shapes: (files beside the config, the config).
CASES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "prompts-providers-csv": (
        {
            "prov.py": PY_OK,
            "boom.py": PY_ERROR,
            "tests.csv": "name,__expected\nAnn,contains:Ann\nBo,contains:zz\n",
        },
        {
            "description": "shapes",
            "prompts": ["Hi {{name}}", {"id": "p2", "label": "second", "raw": "Bye {{name}}"}],
            "providers": ["echo", "file://prov.py", {"id": "file://boom.py", "label": "boom"}],
            "tests": [
                "file://tests.csv",
                {
                    "description": "inline",
                    "vars": {"name": "Cy", "extra": [1, 2]},
                    "assert": [{"type": "contains", "value": "Cy", "metric": "m1"}],
                },
            ],
        },
    ),
    "default-test-threshold-metadata": (
        {"meta.py": PY_META},
        {
            "prompts": ["Q {{q}}"],
            "providers": ["file://meta.py", "echo"],
            "defaultTest": {"assert": [{"type": "icontains", "value": "q"}]},
            "tests": [
                {
                    "vars": {"q": "one"},
                    "threshold": 0.5,
                    "assert": [{"type": "equals", "value": "nope", "weight": 2}],
                },
                {"vars": {"q": "=two", "n": 3}, "description": "second"},
                {"vars": {"q": "-3"}, "assert": [{"type": "python", "value": "0.25"}]},
            ],
        },
    ),
    "repeat-concurrency-metrics": (
        {},
        {
            "description": "repeat",
            "evaluateOptions": {"maxConcurrency": 2, "repeat": 2},
            "prompts": ["Say {{w}}", "Echo {{w}}"],
            "providers": ["echo"],
            "tests": [
                {
                    "vars": {"w": 'hello, "world"'},
                    "assert": [
                        {"type": "contains", "value": "hello", "metric": "greet"},
                        {"type": "icontains", "value": "WORLD", "metric": "Accuracy"},
                    ],
                },
                {
                    "vars": {"w": "+1"},
                    "assert": [{"type": "equals", "value": "Say +1", "metric": "exact"}],
                },
            ],
        },
    ),
}

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
VERSION = r"v?\d+\.\d+\.\d+\S*"
#: Paths (``[]`` for any list item) whose values differ between runs, with their format.
BY_FORMAT = {
    ".evalId": r"eval-[\w-]{3}-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d",
    ".results.timestamp": ISO,
    ".metadata.exportedAt": ISO,
    ".metadata.evaluationCreatedAt": ISO,
    ".results.results[].id": UUID,
    ".results.results[].latencyMs": r"\d+",
    ".results.prompts[].metrics.totalLatencyMs": r"\d+",
    ".results.stats.durationMs": r"\d+",
    ".results.stats.evaluationDurationMs": r"\d+",
}
#: promptfoo's provenance key → promptgov's, both versions.
RENAMED = {"promptfooVersion": "promptgovVersion", "nodeVersion": "pythonVersion"}
PROMPTGOV_ONLY = {".metadata.engine"}


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _differences(pf: Any, pg: Any, path: str = "") -> list[str]:
    """Every place the two documents differ, as ``path: promptfoo vs promptgov``."""
    shape = re.sub(r"\[\d+\]", "[]", path)
    if shape in BY_FORMAT:
        pattern = BY_FORMAT[shape]
        ok = all(re.fullmatch(pattern, str(v)) for v in (pf, pg)) and _kind(pf) == _kind(pg)
        return [] if ok else [f"{path}: {pf!r} vs {pg!r} (format {pattern})"]
    if isinstance(pf, dict) and isinstance(pg, dict):
        out = []
        if path == ".metadata":
            pf = {RENAMED.get(k, k): v for k, v in pf.items()}
            for key in RENAMED.values():
                if not all(re.fullmatch(VERSION, str(d.get(key))) for d in (pf, pg)):
                    out.append(f"{path}.{key}: {pf.get(key)!r} vs {pg.get(key)!r}")
                pf.pop(key, None), pg.pop(key, None)
        for key in sorted(set(pf) | set(pg)):
            sub = f"{path}.{key}"
            if key not in pg:
                out.append(f"{sub}: only in promptfoo's ({json.dumps(pf[key])[:80]})")
            elif key not in pf:
                if sub not in PROMPTGOV_ONLY:
                    out.append(f"{sub}: only in promptgov's ({json.dumps(pg[key])[:80]})")
            else:
                out += _differences(pf[key], pg[key], sub)
        return out
    if isinstance(pf, list) and isinstance(pg, list):
        if len(pf) != len(pg):
            return [f"{path}: {len(pf)} items vs {len(pg)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(pf, pg, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    same = _kind(pf) == _kind(pg) and (
        pf == pg or (_kind(pf) == "number" and math.isclose(pf, pg, rel_tol=1e-12))
    )
    return [] if same else [f"{path}: {pf!r} vs {pg!r}"]


def _write_case(root: Path, name: str) -> Path:
    files, config = CASES[name]
    for rel, text in files.items():
        (root / rel).write_text(text, encoding="utf-8")
    path = root / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode in (0, 100), done.stdout + done.stderr


def _outputs(tmp_path: Path, pf: Promptfoo, name: str) -> dict[str, tuple[Any, str]]:
    """(v3 JSON, CSV text) of the case from each tool, each run with ``--no-cache``."""
    env = {**pf.env, "PROMPTFOO_CONFIG_DIR": str(tmp_path / "promptfoo-home")}
    out: dict[str, tuple[Any, str]] = {}
    for tool, argv in {
        "promptfoo": ["promptfoo", "eval", "-c", "promptfooconfig.yaml", "--no-table"],
        "promptgov": [sys.executable, "-m", "promptgov", "eval", "-c", "promptfooconfig.yaml"],
    }.items():
        root = tmp_path / tool
        root.mkdir()
        _write_case(root, name)
        _run([*argv, "--no-cache", "-o", "out.json", "-o", "out.csv"], root, env)
        doc = json.loads((root / "out.json").read_text(encoding="utf-8"))
        doc["results"]["results"].sort(key=lambda r: (r["testIdx"], r["promptIdx"]))
        out[tool] = (doc, (root / "out.csv").read_text(encoding="utf-8"))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_v3_json_and_csv_are_promptfoos(
    tmp_path: Path,
    promptfoo: Promptfoo,  # noqa: F811
    name: str,
) -> None:
    outputs = _outputs(tmp_path, promptfoo, name)
    (pf_json, pf_csv), (pg_json, pg_csv) = outputs["promptfoo"], outputs["promptgov"]
    assert _differences(pf_json, pg_json) == []
    pf_rows = list(csv.reader(io.StringIO(pf_csv)))
    pg_rows = list(csv.reader(io.StringIO(pg_csv)))
    assert pg_rows[0] == pf_rows[0]
    # promptfoo writes a batch's rows in the order their first result finished.
    assert sorted(pg_rows[1:]) == sorted(pf_rows[1:])
    assert pg_csv.endswith("\n") and pg_csv.count("\n") == pf_csv.count("\n")


def test_promptfoo_imports_the_v3_json_and_exports_it_unchanged(
    tmp_path: Path,
    promptfoo: Promptfoo,  # noqa: F811
) -> None:
    """``promptfoo import`` takes promptgov's file; ``promptfoo export`` gives it back
    unchanged, but for promptfoo's own provenance and the result ids its database assigns."""
    env = {**promptfoo.env, "PROMPTFOO_CONFIG_DIR": str(tmp_path / "promptfoo-home")}
    config = _write_case(tmp_path, "prompts-providers-csv")
    _run(
        [sys.executable, "-m", "promptgov", "eval", "-c", config.name, "-o", "out.json"],
        tmp_path,
        env,
    )
    ours = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    _run(["promptfoo", "import", "out.json"], tmp_path, env)
    _run(["promptfoo", "export", "eval", ours["evalId"], "-o", "back.json"], tmp_path, env)
    back = json.loads((tmp_path / "back.json").read_text(encoding="utf-8"))
    assert back.pop("metadata")["promptfooVersion"] == "0.123.1"
    ours.pop("metadata")
    for doc in (back, ours):
        doc["results"]["results"].sort(key=lambda r: (r["testIdx"], r["promptIdx"]))
        for r in doc["results"]["results"]:
            assert re.fullmatch(UUID, r.pop("id"))
    assert back == ours
