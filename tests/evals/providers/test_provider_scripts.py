"""The python and exec providers against real script files and real subprocesses."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from promptgov.evals.providers import load_provider
from promptgov.evals.providers.interface import CallContext, ProviderError

ENV = {"PROMPTFOO_CACHE_ENABLED": "false"}


def _write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def _call(provider, prompt: str = "hi", **ctx):
    return asyncio.run(provider.call(prompt, CallContext(**ctx)))


def test_python_provider_receives_promptfoo_arguments(tmp_path: Path) -> None:
    _write(
        tmp_path / "prov.py",
        """
        import json
        def call_api(prompt, options, context):
            return {"output": json.dumps([prompt, options, context], sort_keys=True)}
        """,
    )
    provider = load_provider(
        {"id": "python:prov.py", "config": {"temperature": 0.5}}, base_dir=tmp_path, env=ENV
    )
    response = _call(
        provider,
        "the prompt",
        vars={"name": "Ada"},
        prompt_label="p",
        prompt_raw="the {{name}}",
        repeat_index=2,
        test_idx=7,
        evaluation_id="eval-1",
    )
    prompt, options, context = json.loads(response.output)
    assert prompt == "the prompt"
    assert options["config"] == {"temperature": 0.5, "basePath": str(tmp_path)}
    assert options["id"] == "python:prov.py"
    # promptfoo 0.123's runtime vars, derived from the call as its evaluator does.
    assert context["vars"] == {
        "name": "Ada",
        "__evalId": "eval-1",
        "__evalStepId": "test-7-prompt-0-repeat-2",
        "__repeatIndex": 2,
    }
    assert context["prompt"] == {"raw": "the {{name}}", "label": "p"}
    assert (context["repeatIndex"], context["testIdx"], context["evaluationId"]) == (2, 7, "eval-1")


def test_python_string_id_and_named_async_function(tmp_path: Path) -> None:
    _write(
        tmp_path / "prov.py",
        """
        async def respond(prompt, options, context):
            usage = {"total": 5, "prompt": 2, "completion": 3}
            return {"output": prompt[::-1], "tokenUsage": usage, "cost": 0.25}
        """,
    )
    provider = load_provider("file://prov.py:respond", base_dir=tmp_path, env=ENV)
    response = _call(provider, "abc")
    assert provider.id == "python:prov.py:respond"
    assert response.output == "cba"
    assert response.cost == 0.25
    assert response.token_usage.to_dict() == {
        "total": 5,
        "prompt": 2,
        "completion": 3,
        "cached": 0,
        "numRequests": 1,
    }


def test_python_module_is_imported_once(tmp_path: Path) -> None:
    _write(
        tmp_path / "counted.py",
        """
        IMPORTS = []
        IMPORTS.append(1)
        def call_api(prompt, options, context):
            return {"output": len(IMPORTS)}
        """,
    )
    provider = load_provider("python:counted.py", base_dir=tmp_path, env=ENV)
    assert [_call(provider).output for _ in range(3)] == [1, 1, 1]


def test_sync_python_functions_run_concurrently(tmp_path: Path) -> None:
    _write(
        tmp_path / "slow.py",
        """
        import time
        def call_api(prompt, options, context):
            time.sleep(0.2)
            return {"output": prompt}
        """,
    )
    provider = load_provider("python:slow.py", base_dir=tmp_path, env=ENV, max_concurrency=16)

    async def run() -> list[str]:
        results = await asyncio.gather(*(provider.call(str(i), CallContext()) for i in range(16)))
        await provider.aclose()
        return [r.output for r in results]

    start = time.perf_counter()
    outputs = asyncio.run(run())
    elapsed = time.perf_counter() - start
    assert outputs == [str(i) for i in range(16)]
    assert elapsed < 1.6  # serially it would take 3.2 s


def test_python_error_result_exception_and_bad_return(tmp_path: Path) -> None:
    _write(
        tmp_path / "bad.py",
        """
        def errs(prompt, options, context):
            return {"error": "quota exceeded"}
        def raises(prompt, options, context):
            raise ValueError("boom")
        def shapeless(prompt, options, context):
            return "just a string"
        """,
    )
    errs = load_provider("python:bad.py:errs", base_dir=tmp_path, env=ENV)
    assert _call(errs).error == "quota exceeded"
    with pytest.raises(ProviderError, match="ValueError: boom"):
        _call(load_provider("python:bad.py:raises", base_dir=tmp_path, env=ENV))
    with pytest.raises(ProviderError, match="must return a dict"):
        _call(load_provider("python:bad.py:shapeless", base_dir=tmp_path, env=ENV))
    with pytest.raises(ProviderError, match="has no function missing"):
        _call(load_provider("python:bad.py:missing", base_dir=tmp_path, env=ENV))


def test_python_script_that_fails_to_import_is_a_provider_error(tmp_path: Path) -> None:
    _write(tmp_path / "broken.py", "def call_api(:\n")
    provider = load_provider("python:broken.py", base_dir=tmp_path, env=ENV)
    with pytest.raises(ProviderError, match="error importing .*broken.py: SyntaxError"):
        _call(provider)


def test_python_results_are_cached_without_eval_id(tmp_path: Path) -> None:
    _write(
        tmp_path / "count.py",
        """
        CALLS = []
        def call_api(prompt, options, context):
            CALLS.append(prompt)
            return {"output": len(CALLS)}
        """,
    )
    env = {"PROMPTFOO_CACHE_PATH": str(tmp_path / "cache")}
    provider = load_provider("python:count.py", base_dir=tmp_path, env=env)
    first = _call(provider, vars={"a": 1})
    second = _call(provider, vars={"a": 1})
    assert (first.output, first.cached) == (1, False)
    assert (second.output, second.cached) == (1, True)
    # promptfoo's key includes the per-run __evalId, so such calls always run.
    assert _call(provider, vars={"a": 1, "__evalId": "e1"}).output == 2
    assert _call(provider, vars={"a": 1, "__evalId": "e1"}).output == 3
    assert _call(provider, vars={"a": 1}, no_cache=True).output == 4


# exec: --------------------------------------------------------------------------------------


def _exec_script(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "tool.py",
        """
        import json, sys
        prompt, options, context = sys.argv[-3], json.loads(sys.argv[-2]), json.loads(sys.argv[-1])
        mode = sys.argv[1] if len(sys.argv) > 4 else "ok"
        if mode == "fail":
            print("went wrong", file=sys.stderr); sys.exit(3)
        if mode == "stderr":
            print("only stderr", file=sys.stderr); sys.exit(0)
        if mode == "sleep":
            import time; time.sleep(5)
        print("\\x1b[31m" + prompt.upper() + "|" + context["vars"]["who"] + "\\x1b[0m  ")
        """,
    )


def test_exec_provider_runs_command_with_prompt_options_context(tmp_path: Path) -> None:
    _exec_script(tmp_path)
    provider = load_provider(f"exec:{sys.executable} tool.py", base_dir=tmp_path, env=ENV)
    response = _call(provider, "hello", vars={"who": "ada"})
    assert provider.id == f"exec:{sys.executable} tool.py"
    assert response.output == "HELLO|ada"
    assert response.cost is None  # exec reports no cost, so `cost` assertions error


def test_exec_nonzero_exit_and_stderr_only_are_errors(tmp_path: Path) -> None:
    _exec_script(tmp_path)
    failing = load_provider(f"exec:{sys.executable} tool.py fail", base_dir=tmp_path, env=ENV)
    with pytest.raises(ProviderError, match=r"exit 3\)\nwent wrong"):
        _call(failing, vars={"who": "x"})
    quiet = load_provider(f"exec:{sys.executable} tool.py stderr", base_dir=tmp_path, env=ENV)
    with pytest.raises(ProviderError, match="only stderr"):
        _call(quiet, vars={"who": "x"})


def test_exec_timeout_kills_the_command(tmp_path: Path) -> None:
    _exec_script(tmp_path)
    slow = load_provider(f"exec:{sys.executable} tool.py sleep", base_dir=tmp_path, env=ENV)
    start = time.perf_counter()
    with pytest.raises(ProviderError, match="timed out after 0.3s"):
        _call(slow, vars={"who": "x"}, timeout_s=0.3)
    assert time.perf_counter() - start < 3


def test_exec_missing_command_is_a_provider_error(tmp_path: Path) -> None:
    provider = load_provider("exec:./does-not-exist.sh", base_dir=tmp_path, env=ENV)
    with pytest.raises(ProviderError, match="cannot start"):
        _call(provider)
