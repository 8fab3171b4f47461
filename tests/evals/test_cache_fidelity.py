"""The response cache serves what promptfoo's serves: two runs of one config, each engine.

promptfoo 0.123.1 keys a python provider's cache on the call's vars, which carry the
per-run ``__evalId`` and per-call ``__evalStepId``: a second run calls the script again.
HTTP providers are keyed on the request, so a second run is answered from the cache, and
a ``latency`` assertion judges the latency the cached answer carries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.real_promptfoo import Promptfoo, promptfoo  # noqa: F401
from tests.stub_servers import openai_stub

SCRIPT = """\
def call_api(prompt, options, context):
    assert context["vars"]["__evalStepId"].startswith("test-")
    return {"output": "echo " + prompt, "tokenUsage": {"total": 5, "prompt": 2, "completion": 3}}
"""


def _config(provider: Any) -> dict[str, Any]:
    return {
        "prompts": ["Say {{word}}"],
        "providers": [provider],
        "tests": [
            {
                "vars": {"word": w},
                "assert": [{"type": "latency", "threshold": 60000}, {"type": "icontains", "value": "say"}],
            }
            for w in ("hi", "yo")
        ],
    }  # fmt: skip


def _outcomes(out: Path) -> list[tuple[Any, ...]]:
    results = json.loads(out.read_text())["results"]["results"]
    return sorted(
        (r["testIdx"], r["success"], r.get("failureReason"), bool((r.get("response") or {}).get("cached")))
        for r in results
    )  # fmt: skip


def _promptgov(config: Path, out: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "promptgov", "eval", "-c", config.name, "-o", str(out)],
        cwd=config.parent, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 100) and out.is_file(), done.stdout + done.stderr


def _promptfoo(pf: Promptfoo, config: Path, out: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["promptfoo", "eval", "-c", config.name, "-o", str(out), "--no-table", "--no-progress-bar"],
        cwd=config.parent, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 100) and out.is_file(), done.stdout + done.stderr


@pytest.mark.parametrize("kind", ["python", "openai"])
def test_two_cached_runs_match_promptfoo(
    tmp_path: Path,
    promptfoo: Promptfoo,  # noqa: F811
    kind: str,
) -> None:
    with openai_stub() as stub:
        if kind == "python":
            (tmp_path / "prov.py").write_text(SCRIPT)
            provider: Any = "file://prov.py"
        else:
            provider = {"id": "openai:chat:stub-model", "config": {"apiBaseUrl": stub.openai_url}}
        config = tmp_path / "promptfooconfig.yaml"
        config.write_text(yaml.safe_dump(_config(provider)))
        runs: dict[str, list[list[tuple[Any, ...]]]] = {}
        for engine in ("promptfoo", "promptgov"):
            env = {
                **promptfoo.env,
                "PROMPTFOO_CACHE_ENABLED": "true",
                "PROMPTFOO_CACHE_PATH": str(tmp_path / f"cache-{engine}"),
                "PROMPTFOO_CONFIG_DIR": str(tmp_path / f"home-{engine}"),
                "OPENAI_API_KEY": "sk-test",
            }
            env.pop("PROMPTFOO_CACHE_TYPE", None)
            for i in (1, 2):
                out = tmp_path / f"{engine}-{i}.json"
                if engine == "promptfoo":
                    _promptfoo(promptfoo, config, out, env)
                else:
                    _promptgov(config, out, env)
                runs.setdefault(engine, []).append(_outcomes(out))
    assert runs["promptgov"] == runs["promptfoo"]
    first, second = runs["promptfoo"]
    assert all(success for _, success, _, _ in first + second)  # no latency ERROR on a cached run
    cached_second = [cached for *_, cached in second]
    assert cached_second == ([False, False] if kind == "python" else [True, True])
