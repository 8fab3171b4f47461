"""Script providers that never answer: the row is an ERROR, the eval exits, nothing is left running.

Reproductions ("Hanging evals"), each as a real ``promptgov eval`` process on real
files. The scripts write the pid of the process running them to ``pids`` so the test can
check that process is gone once the eval has exited.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest

from promptgov.evals import RunOptions, load_config, run_eval
from promptgov.evals.providers import load_provider
from promptgov.evals.providers.interface import CallContext, ProviderError

HANGING_PROVIDER = """\
import os, time

def call_api(prompt, options, context):
    if prompt == "hang":
        with open(os.path.join(options["config"]["basePath"], "pids"), "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(10**6)
    if prompt == "spin":
        with open(os.path.join(options["config"]["basePath"], "pids"), "a") as f:
            f.write(f"{os.getpid()}\\n")
        while True:
            pass
    return {"output": prompt}
"""


def _config(tmp_path: Path, provider: str, modes: list[str]) -> None:
    tests = "".join(
        f"  - vars: {{mode: {m}}}\n    assert: [{{type: equals, value: {m}}}]\n" for m in modes
    )
    (tmp_path / "c.yaml").write_text(
        f"prompts: ['{{{{mode}}}}']\nproviders:\n{provider}tests:\n{tests}"
    )


def test_python_provider_that_never_returns_is_an_error_row_within_its_timeout(
    tmp_path: Path, procs
) -> None:
    (tmp_path / "provider.py").write_text(HANGING_PROVIDER)
    _config(tmp_path, "  - id: file://provider.py\n    config: {timeout: 500}\n", ["ok", "hang"])
    run = procs.eval(tmp_path)
    assert run.returncode == 100, run.stderr
    assert run.row(0)["success"] is True
    hung = run.row(1)
    assert hung["failureReason"] == 2
    assert hung["error"] == (
        "Python worker timed out after 500ms: provider.py:call_api did not return, "
        "and its worker was stopped."
    )
    pids = procs.recorded(tmp_path / "pids")
    assert len(pids) == 1
    assert procs.survivors(pids) == []


def test_python_provider_busy_loop_is_stopped_by_request_timeout_ms(tmp_path: Path, procs) -> None:
    """promptfoo's python worker limit is REQUEST_TIMEOUT_MS when the provider sets none."""
    (tmp_path / "provider.py").write_text(HANGING_PROVIDER)
    _config(tmp_path, "  - file://provider.py\n", ["spin", "ok"])
    run = procs.eval(tmp_path, env={"REQUEST_TIMEOUT_MS": "400"})
    assert run.returncode == 100, run.stderr
    assert run.row(0)["failureReason"] == 2
    assert "Python worker timed out after 400ms" in run.row(0)["error"]
    assert run.row(1)["success"] is True
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []


def test_exec_provider_that_hangs_is_killed_with_the_processes_it_started(
    tmp_path: Path, procs
) -> None:
    (tmp_path / "hang.sh").write_text(
        'echo $$ >> pids\nif [ "$1" = ok ]; then echo ok; exit 0; fi\n'
        "sleep 1000 &\necho $! >> pids\nwait\n"
    )
    # The prompt is the script's first argument: `sh hang.sh <prompt> <options> <context>`.
    _config(tmp_path, "  - exec:sh hang.sh\n", ["hang", "ok"])
    run = procs.eval(tmp_path, env={"REQUEST_TIMEOUT_MS": "500"})
    assert run.returncode == 100, run.stderr
    assert run.row(0)["failureReason"] == 2
    assert run.row(0)["error"].startswith("Command timed out after 0.5s: sh hang.sh")
    assert run.row(1)["success"] is True
    pids = procs.recorded(tmp_path / "pids")
    assert len(pids) == 3  # the hanging shell, its sleep, and the shell that answered
    assert procs.survivors(pids) == []


# In-process: the provider alone, its worker replaced after a timeout. -----------------------


def _write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source))
    return path


def test_python_worker_is_replaced_after_a_timeout(tmp_path: Path, procs) -> None:
    (tmp_path / "provider.py").write_text(HANGING_PROVIDER)
    provider = load_provider(
        {"id": "file://provider.py", "config": {"timeout": 300}},
        base_dir=tmp_path,
        env={"PROMPTFOO_CACHE_ENABLED": "false"},
    )
    before = procs.worker_children()

    async def go() -> str:
        try:
            with pytest.raises(ProviderError, match="timed out after 300ms"):
                await provider.call("hang", CallContext())
            return (await provider.call("ok", CallContext())).output
        finally:
            await provider.aclose()

    started = time.perf_counter()
    assert asyncio.run(go()) == "ok"
    assert time.perf_counter() - started < 5
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []
    assert procs.worker_children() <= before  # aclose left no worker behind


def test_a_timeout_setting_that_is_not_a_number_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "provider.py").write_text(HANGING_PROVIDER)
    with pytest.raises(ProviderError, match="config.timeout must be a number of milliseconds"):
        load_provider(
            {"id": "file://provider.py", "config": {"timeout": "soon"}}, base_dir=tmp_path, env={}
        )
    with pytest.raises(ProviderError, match="REQUEST_TIMEOUT_MS must be a number"):
        load_provider(
            f"exec:{sys.executable} x.py", base_dir=tmp_path, env={"REQUEST_TIMEOUT_MS": "-1"}
        )


def test_the_providers_own_limit_ends_the_call_when_it_is_sooner_than_timeout_ms(
    tmp_path: Path, procs
) -> None:
    """promptfoo races its python worker's limit against the step's timeoutMs."""
    (tmp_path / "provider.py").write_text(HANGING_PROVIDER)
    cfg = load_config(
        {
            "prompts": ["{{mode}}"],
            "providers": [{"id": "file://provider.py", "config": {"timeout": 300}}],
            "evaluateOptions": {"timeoutMs": 5000},
            "tests": [{"vars": {"mode": "hang"}}],
        },
        base_dir=tmp_path,
    )
    started = time.perf_counter()
    (result,) = run_eval(cfg, RunOptions(no_cache=True)).results
    assert time.perf_counter() - started < 4
    assert result.error is not None and result.error.startswith(
        "Python worker timed out after 300ms: provider.py:call_api did not return"
    )
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []
