"""JavaScript read from a config — prompt functions, test generators, Nunjucks filters — on the one worker.

promptfoo's own outcomes for these are recorded in ``conformance/`` (``prompt-function-js``,
``tests-generator-js*``, ``nunjucks-filters-js``, ``javascript-entry-point-errors``); these
tests pin what the recordings cannot show: labels and ids, the context a function sees, that
one Node process serves the loader and the run, and the deadlines on code promptfoo itself
would wait for forever (a synchronous endless loop, a generator that never settles).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import textwrap
import time
from pathlib import Path

import pytest

from promptgov.errors import InvalidFile, NotFound
from promptgov.evals import FailureReason, js, load_config, run_eval
from promptgov.evals.js import _client


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _config(tmp_path: Path, text: str) -> Path:
    return _write(tmp_path / "promptfooconfig.yaml", text)


def test_prompt_functions_are_labelled_and_identified_as_promptfoo_does(tmp_path: Path) -> None:
    _write(tmp_path / "p.js", "module.exports.fn = ({ vars }) => `hi ${vars.x}`;\n")
    _write(tmp_path / "d.mjs", "export default function greet() { return 'hello'; }\n")
    cfg = load_config(
        _config(
            tmp_path,
            """\
            prompts:
              - file://p.js:fn
              - {id: file://d.mjs, label: greeting}
            providers: [echo]
            """,
        )
    )
    shown = os.path.normpath(str(tmp_path / "p.js"))
    assert [p.label for p in cfg.prompts] == [f"{shown}:fn", "greeting"]
    assert cfg.prompts[1].prompt_id == hashlib.sha256(b"greeting").hexdigest()
    # promptfoo's raw text of a prompt function is the function's source.
    assert cfg.prompts[0].raw == "({ vars }) => `hi ${vars.x}`"
    assert cfg.prompts[1].raw.startswith("function greet()")


def test_a_prompt_function_sees_vars_provider_and_config_and_may_set_config(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path / "p.ts",
        """\
        type Ctx = { vars: { x: string }; provider: { id: string; label?: string }; config: any };
        export default ({ vars, provider, config }: Ctx) => ({
          prompt: `${vars.x} ${provider.id} ${provider.label} ${config.tone}`,
          config: { temperature: 0.2 },
        });
        """,
    )
    cfg = load_config(
        _config(
            tmp_path,
            """\
            prompts: [{id: file://p.ts, label: p, config: {tone: calm}}]
            providers: [{id: echo, label: parrot}]
            tests: [{vars: {x: bees}}]
            """,
        )
    )
    (result,) = run_eval(cfg).results
    assert result.response is not None and result.response.output == "bees echo parrot calm"
    assert result.prompt_config == {"tone": "calm", "temperature": 0.2}


def test_one_worker_serves_the_loader_and_the_run(tmp_path: Path) -> None:
    """The generator, the prompt function and the assertion all see one Node process."""
    _write(tmp_path / "gen.js", "module.exports = () => [{ vars: { pid: process.pid } }];\n")
    _write(tmp_path / "p.js", "module.exports = () => String(process.pid);\n")
    cfg = load_config(
        _config(
            tmp_path,
            """\
            prompts: [file://p.js]
            providers: [echo]
            defaultTest:
              assert: [{type: javascript, value: "output === String(process.pid)"}]
            tests: file://gen.js
            """,
        )
    )
    (result,) = run_eval(cfg).results
    assert result.success, result.error
    assert result.response is not None and result.response.output == str(result.vars["pid"])


def test_a_config_without_javascript_starts_no_worker(tmp_path: Path) -> None:
    asyncio.run(js.close_worker())
    cfg = load_config(
        _config(tmp_path, "prompts: ['{{x}}']\nproviders: [echo]\ntests: [{vars: {x: a}}]\n")
    )
    assert _client._current is None or not _client._current.alive
    summary = run_eval(cfg)
    assert summary.stats.successes == 1
    assert _client._current is None


def test_a_generator_that_never_settles_stops_at_request_timeout(tmp_path: Path) -> None:
    _write(tmp_path / "gen.js", "module.exports = () => new Promise(() => {});\n")
    path = _config(tmp_path, "prompts: ['x']\nproviders: [echo]\ntests: file://gen.js\n")
    started = time.perf_counter()
    with pytest.raises(InvalidFile, match=r"did not finish within 0\.5s"):
        load_config(path, environ={**os.environ, "REQUEST_TIMEOUT_MS": "500"})
    assert time.perf_counter() - started < 5


def test_missing_javascript_files_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nope.js"):
        load_config(_config(tmp_path, "prompts: [file://nope.js]\nproviders: [echo]\n"))
    with pytest.raises(NotFound, match="gen.ts"):
        load_config(_config(tmp_path, "prompts: [x]\nproviders: [echo]\ntests: file://gen.ts\n"))


def test_endless_loops_in_a_prompt_function_and_a_filter_are_error_rows(tmp_path: Path) -> None:
    """promptfoo runs these in-process and never returns; here each row stops at its deadline."""
    _write(
        tmp_path / "p.js",
        "module.exports = ({ vars }) => { while (vars.spin) {} return 'ok {{ x | f }}'; };\n",
    )
    _write(
        tmp_path / "f.js",
        "module.exports = (v) => { while (v === 'spin') {} return v + '!'; };\n",
    )
    cfg = load_config(
        _config(
            tmp_path,
            """\
            prompts: [file://p.js]
            providers: [echo]
            nunjucksFilters: {f: f.js}
            evaluateOptions: {timeoutMs: 1000, maxConcurrency: 1}
            tests:
              - vars: {spin: true, x: a}
              - vars: {x: spin}
              - vars: {x: b}
            """,
        )
    )
    started = time.perf_counter()
    first, second, third = run_eval(cfg).results
    assert time.perf_counter() - started < 15
    assert first.failure_reason == second.failure_reason == FailureReason.ERROR
    assert third.success and third.response is not None and third.response.output == "ok b!"


def test_a_filter_module_that_does_not_parse_is_refused_with_the_config(tmp_path: Path) -> None:
    _write(tmp_path / "f.js", "module.exports = (v) => {\n")
    path = _config(tmp_path, "prompts: [x]\nproviders: [echo]\nnunjucksFilters: {f: f.js}\n")
    with pytest.raises(InvalidFile, match=r"nunjucksFilters\.f: cannot load f\.js"):
        load_config(path)


def test_typescript_is_compiled_with_esbuild_found_beside_promptgov(tmp_path: Path) -> None:
    _write(tmp_path / "helper.ts", "export const twice = (s: string): string => s + s;\n")
    _write(
        tmp_path / "gen.cts",
        "import { twice } from './helper';\nexport = [{ vars: { x: twice('ab') } }];\n",
    )
    cfg = load_config(
        _config(tmp_path, "prompts: ['{{x}}']\nproviders: [echo]\ntests: file://gen.cts\n")
    )
    assert [t.vars for t in cfg.tests] == [{"x": "abab"}]
    assert any((Path(p) / "node_modules" / "esbuild").is_dir() for p in js._client.resolve_paths())
