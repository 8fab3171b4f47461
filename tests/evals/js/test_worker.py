"""The one JavaScript boundary: every kind of inline JS on one Node worker, with deadlines.

These run the real ``node`` (``/usr/bin/node``): JavaScript semantics are the point.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from promptgov.evals import FailureReason, js, load_config, run_eval
from promptgov.evals._transform import apply_transform
from promptgov.evals.assertions import assertion_from_config, evaluate_assertion
from promptgov.evals.assertions.interface import AssertionContext
from promptgov.evals.errors import JavascriptTimeout, TransformError
from promptgov.evals.providers.http import compile_transform
from promptgov.evals.providers.interface import ProviderResponse


def _run(coro: Any) -> Any:
    async def go() -> Any:
        try:
            return await coro
        finally:
            await js.close_worker()

    return asyncio.run(go())


def test_transform_response_nullish_and_ternary_are_javascript(tmp_path: Path) -> None:
    nullish = compile_transform("json.score ?? 1", tmp_path)
    ternary = compile_transform(
        "json.score > 0.5 ? 'high' : json.score === 0 ? 'zero' : 'low'", tmp_path
    )

    async def go() -> list[Any]:
        return [
            await nullish({"score": 0}, "", {}, None),
            await nullish({}, "", {}, None),
            await ternary({"score": 0}, "", {}, None),
            await ternary({"score": 0.9}, "", {}, None),
        ]

    assert _run(go()) == [0, 1, "zero", "high"]


def test_transform_nullish_keeps_zero(tmp_path: Path) -> None:
    async def go() -> Any:
        return await apply_transform("output.score ?? 1", {"score": 0}, {}, base_dir=tmp_path)

    assert _run(go()) == 0


def test_one_worker_serves_assertions_transforms_and_transform_response(tmp_path: Path) -> None:
    (tmp_path / "shout.js").write_text("module.exports = (output) => output.toUpperCase();\n")
    response_fn = compile_transform("(json, text) => json.answer + '!'", tmp_path)
    spec = assertion_from_config({"type": "javascript", "value": "output.length > 2"})

    async def go() -> tuple[list[Any], set[int | None]]:
        pids: set[int | None] = set()
        values: list[Any] = []
        values.append(await response_fn({"answer": "yes"}, "", {}, None))
        pids.add(await js.worker_pid())
        values.append(await apply_transform("output + '?'", "ok", {}, base_dir=tmp_path))
        pids.add(await js.worker_pid())
        values.append(await apply_transform("file://shout.js", "ok", {}, base_dir=tmp_path))
        pids.add(await js.worker_pid())
        ctx = AssertionContext(
            spec=spec,
            output="abc",
            vars={},
            prompt="p",
            response=ProviderResponse(output="abc"),
            provider=None,
            latency_ms=1.0,
        )
        values.append((await evaluate_assertion(ctx)).passed)
        pids.add(await js.worker_pid())
        return values, pids

    values, pids = _run(go())
    assert values == ["yes!", "ok?", "OK", True]
    assert len(pids) == 1 and None not in pids


def test_an_endless_loop_times_out_and_the_next_call_works() -> None:
    async def go() -> tuple[str, Any, int | None, int | None, float]:
        await js.call_function([], "return 1", [], purpose="test")
        first = await js.worker_pid()
        started = time.perf_counter()
        with pytest.raises(JavascriptTimeout) as caught:
            await js.call_function([], "while (true) {}", [], purpose="test", timeout_s=0.5)
        elapsed = time.perf_counter() - started
        reply = await js.call_function(["a"], "return a ?? 'none'", [None], purpose="test")
        return str(caught.value), reply.value, first, await js.worker_pid(), elapsed

    message, value, first, second, elapsed = _run(go())
    assert "did not finish within 0.5s" in message and "worker was restarted" in message
    assert value == "none"
    assert first is not None and second is not None and first != second
    assert elapsed < 3


def test_calls_in_flight_beside_a_hung_one_are_rerun() -> None:
    async def go() -> list[Any]:
        hung = js.call_function([], "while (true) {}", [], purpose="test", timeout_s=0.5)
        slow = js.call_function(
            [], "return new Promise((r) => setTimeout(() => r('late'), 50))", [], purpose="test"
        )
        return await asyncio.gather(hung, slow, return_exceptions=True)

    hung, slow = _run(go())
    assert isinstance(hung, JavascriptTimeout)
    assert slow.value == "late"


def test_a_hung_transform_is_an_error_row_and_the_run_goes_on(tmp_path: Path) -> None:
    cfg = load_config(
        {
            "prompts": ["{{n}}"],
            "providers": ["echo"],
            "evaluateOptions": {"timeoutMs": 1500, "maxConcurrency": 1},
            "tests": [
                {
                    "vars": {"n": "1"},
                    "options": {
                        "transform": "output === '1' ? (() => { while (true) {} })() : output"
                    },
                },
                {"vars": {"n": "2"}, "assert": [{"type": "javascript", "value": "output === '2'"}]},
            ],
        },
        base_dir=tmp_path,
    )
    started = time.perf_counter()
    summary = run_eval(cfg)
    assert time.perf_counter() - started < 10
    first, second = summary.results
    assert first.failure_reason == FailureReason.ERROR
    assert "timed out" in (first.error or "") or "did not finish" in (first.error or "")
    assert second.success


def test_a_transform_error_names_the_code(tmp_path: Path) -> None:
    async def go() -> Any:
        return await apply_transform("output.nope.deeper", "x", {}, base_dir=tmp_path)

    with pytest.raises(TransformError, match="output.nope.deeper.* failed: Cannot read properties"):
        _run(go())


def test_the_process_exits_while_a_call_is_hung() -> None:
    """A worker stuck in an endless loop does not keep promptgov (or itself) alive."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from promptgov.evals import js

        async def main():
            task = asyncio.ensure_future(js.call_function([], "while (true) {}", [], purpose="t"))
            await asyncio.sleep(0.5)
            print(await js.worker_pid(), flush=True)
            sys.exit(0)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, check=True
    )
    pid = int(done.stdout.strip())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
