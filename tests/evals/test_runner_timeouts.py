"""``timeoutMs``: a step past it is promptfoo's ERROR row, and the process still exits.

Reproductions ("Hanging evals"): with ``timeoutMs`` and a python provider that
never returned, the row was written but the process never exited (the thread running the
script kept the interpreter alive). Each runs a real ``promptgov eval`` on real files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptgov.errors import InvalidFile
from promptgov.evals import FailureReason, RunOptions, load_config, run_eval, run_eval_async

PROVIDER = """\
import os, time

def call_api(prompt, options, context):
    if prompt != "ok":
        with open(os.path.join(options["config"]["basePath"], "pids"), "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(10**6)
    return {"output": prompt}
"""

CONFIG = """\
prompts: ['{{mode}}']
providers: [file://provider.py]
tests:
  - vars: {mode: ok}
    assert: [{type: equals, value: ok}]
  - vars: {mode: hang}
"""

PROMPTFOO_MESSAGE = "Evaluation timed out after 500ms: Error: Evaluation timed out after 500ms"


@pytest.mark.parametrize(
    ("options", "env"),
    [("evaluateOptions: {timeoutMs: 500}\n", {}), ("", {"PROMPTFOO_EVAL_TIMEOUT_MS": "500"})],
    ids=["timeoutMs", "PROMPTFOO_EVAL_TIMEOUT_MS"],
)
def test_timed_out_step_is_promptfoos_error_row_and_the_process_exits(
    tmp_path: Path, procs, options: str, env: dict[str, str]
) -> None:
    (tmp_path / "provider.py").write_text(PROVIDER)
    (tmp_path / "c.yaml").write_text(CONFIG + options)
    run = procs.eval(tmp_path, env=env)
    assert run.returncode == 100, run.stderr
    assert run.row(0)["success"] is True
    hung = run.row(1)
    assert (hung["failureReason"], hung["error"]) == (2, PROMPTFOO_MESSAGE)
    assert (hung["latencyMs"], hung["prompt"]["raw"]) == (500, "{{mode}}")
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []


def test_timed_out_python_assertion_is_promptfoos_error_row(tmp_path: Path, procs) -> None:
    (tmp_path / "c.yaml").write_text(
        "prompts: ['{{text}}']\nproviders: [echo]\nevaluateOptions: {timeoutMs: 500}\ntests:\n"
        "  - vars: {text: spin}\n"
        "    assert:\n"
        "      - type: python\n"
        "        value: |\n"
        "          import os\n"
        "          open('pids', 'a').write(f'{os.getpid()}\\n')\n"
        "          while True:\n"
        "              pass\n"
    )
    run = procs.eval(tmp_path)
    assert run.returncode == 100, run.stderr
    assert (run.row(0)["failureReason"], run.row(0)["error"]) == (2, PROMPTFOO_MESSAGE)
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []


def test_run_eval_leaves_no_python_worker_behind(tmp_path: Path, procs) -> None:
    (tmp_path / "provider.py").write_text(PROVIDER)
    (tmp_path / "check.py").write_text("def get_assert(output, context):\n    return True\n")
    cfg = load_config(
        {
            "prompts": ["{{mode}}"],
            "providers": ["file://provider.py"],
            "evaluateOptions": {"timeoutMs": 300},
            "tests": [
                {
                    "vars": {"mode": "ok"},
                    "assert": [{"type": "python", "value": "file://check.py"}],
                },
                {"vars": {"mode": "hang"}},
            ],
        },
        base_dir=tmp_path,
    )
    before = procs.worker_children()
    results = sorted(run_eval(cfg).results, key=lambda r: r.test_idx)
    assert [r.failure_reason for r in results] == [FailureReason.NONE, FailureReason.ERROR]
    assert procs.worker_children() <= before
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []


@pytest.mark.parametrize(
    ("options", "environ", "message"),
    [
        ({"timeoutMs": "soon"}, {}, "evaluateOptions.timeoutMs must be a number of milliseconds"),
        ({}, {"PROMPTFOO_EVAL_TIMEOUT_MS": "-5"}, "PROMPTFOO_EVAL_TIMEOUT_MS must be a number"),
        ({}, {"REQUEST_TIMEOUT_MS": "1e400"}, "REQUEST_TIMEOUT_MS must be a number"),
    ],
    ids=["timeoutMs", "PROMPTFOO_EVAL_TIMEOUT_MS", "REQUEST_TIMEOUT_MS"],
)
def test_a_time_limit_that_is_not_a_number_is_one_clear_error(
    tmp_path: Path, options: dict[str, object], environ: dict[str, str], message: str
) -> None:
    cfg = load_config(
        {"prompts": ["p"], "providers": ["echo"], "evaluateOptions": options}, base_dir=tmp_path
    )
    with pytest.raises(InvalidFile, match=message):
        run_eval(cfg, RunOptions(environ=environ))


def test_concurrent_runs_keep_their_own_python_workers(tmp_path: Path) -> None:
    """A run that ends kills only its own workers, never those of a run still going."""
    slow = {"type": "python", "value": "__import__('time').sleep(0.5) or True"}
    quick = {"type": "python", "value": "True"}

    def cfg(assertion: dict[str, str]):
        return load_config(
            {"prompts": ["p"], "providers": ["echo"], "tests": [{"assert": [assertion]}]},
            base_dir=tmp_path,
        )

    async def both():
        return await asyncio.gather(run_eval_async(cfg(slow)), run_eval_async(cfg(quick)))

    long_run, short_run = asyncio.run(both())
    assert [r.success for r in long_run.results] == [True], long_run.results[0].error
    assert [r.success for r in short_run.results] == [True]


def test_variable_scripts_and_prompt_functions_that_never_return_are_error_rows(
    tmp_path: Path, procs
) -> None:
    """Rendering runs user Python too: a ``file://x.py`` variable, a prompt function."""
    (tmp_path / "slow.py").write_text(
        "import os, time\n\n"
        "def _hang():\n"
        "    open('pids', 'a').write(f'{os.getpid()}\\n')\n"
        "    time.sleep(10**6)\n\n"
        "def get_var(name, prompt, variables):\n"
        "    _hang()\n\n"
        "def make_prompt(context):\n"
        "    if context['vars'].get('topic') == 'hang':\n"
        "        _hang()\n"
        "    return 'about ' + context['vars']['topic']\n"
    )
    (tmp_path / "c.yaml").write_text(
        "prompts: ['{{topic}}', file://slow.py:make_prompt]\nproviders: [echo]\ntests:\n"
        "  - vars: {topic: file://slow.py}\n"
        "  - vars: {topic: hang}\n"
        "  - vars: {topic: fine}\n"
        "    assert: [{type: contains, value: fine}]\n"
    )
    run = procs.eval(tmp_path, env={"REQUEST_TIMEOUT_MS": "500"})
    assert run.returncode == 100, run.stderr
    errors = sorted(
        (r["testIdx"], r["promptIdx"], r["error"]) for r in run.rows if r["failureReason"] == 2
    )
    assert errors == [
        (
            0,
            0,
            "Python worker timed out after 500ms: slow.py:get_var did not return, and its worker was stopped.",
        ),
        (
            0,
            1,
            "Python worker timed out after 500ms: slow.py:get_var did not return, and its worker was stopped.",
        ),
        (
            1,
            1,
            "Python worker timed out after 500ms: slow.py:make_prompt did not return, and its worker was stopped.",
        ),
    ]
    assert [r["success"] for r in run.rows if r["testIdx"] == 2] == [True, True]
    assert procs.survivors(procs.recorded(tmp_path / "pids")) == []
