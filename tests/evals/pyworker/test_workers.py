"""The Python worker pool: deadlines, killed and replaced workers, and nothing left running.

These start real worker processes and check them through /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from promptgov.evals.errors import PythonTimeout, PythonWorkerError
from promptgov.evals.pyworker import PythonWorkers

SCRIPT = """\
import os, sys, time

CALLS = []

def count(x):
    CALLS.append(x)
    return len(CALLS)

def pid():
    return os.getpid()

def hang():
    time.sleep(10**6)

def noisy(x):
    print("a line on stdout")
    print(input("prompt? ") if False else "no input read")
    return {"echo": x, "stdin": sys.stdin.read()}

def die():
    os._exit(3)

async def later(x):
    return x * 2

def shaped():
    return {"tuple": (1, 2), "set": {3}}
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "user.py"
    path.write_text(SCRIPT)
    return path


def _req(script: Path, function: str, *args: object) -> dict[str, object]:
    return {"path": str(script), "function": function, "args": list(args)}


def test_a_call_past_its_deadline_kills_its_worker_and_the_next_call_starts_another(
    script: Path, procs
) -> None:
    pool = PythonWorkers(max_workers=1)

    async def go() -> tuple[int, int]:
        first = int((await pool.call(_req(script, "pid"), what="pid")).value)
        started = time.perf_counter()
        with pytest.raises(PythonTimeout, match=r"^Python worker timed out after 200ms: hang "):
            await pool.call(_req(script, "hang"), what="hang", timeout_s=0.2)
        assert time.perf_counter() - started < 2
        second = int((await pool.call(_req(script, "pid"), what="pid")).value)
        return first, second

    try:
        first, second = asyncio.run(go())
    finally:
        pool.close()
    assert first != second
    assert procs.survivors([first, second]) == []


def test_module_state_lives_in_the_worker_across_event_loops(script: Path) -> None:
    pool = PythonWorkers(max_workers=1)
    try:
        counts = [
            asyncio.run(pool.call(_req(script, "count", i), what="count")).value for i in range(3)
        ]
    finally:
        pool.close()
    assert counts == ["1", "2", "3"]


def test_user_stdout_and_stdin_do_not_break_the_protocol(script: Path) -> None:
    pool = PythonWorkers()
    try:
        reply = asyncio.run(pool.call(_req(script, "noisy", "x"), what="noisy"))
        shaped = asyncio.run(pool.call(_req(script, "shaped"), what="shaped"))
        later = asyncio.run(pool.call(_req(script, "later", 21), what="later"))
    finally:
        pool.close()
    assert reply.value == '{"echo": "x", "stdin": ""}'
    assert shaped.value == '{"tuple": [1, 2], "set": [3]}'
    assert later.value == "42"


def test_failures_say_which_stage_failed(script: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    pool = PythonWorkers()

    async def go() -> list[tuple[str, str]]:
        replies = [
            await pool.call(_req(tmp_path / "missing.py", "f"), what="m"),
            await pool.call(_req(tmp_path / "broken.py", "f"), what="b"),
            await pool.call(_req(script, "nope"), what="n"),
            await pool.call({**_req(script, "shaped"), "encode": "strict"}, what="s"),
            await pool.call(
                {"source": "def main():\n    return 1 / 0\n", "function": "main"}, what="i"
            ),
        ]
        return [(r.stage, r.error_type) for r in replies]

    try:
        stages = asyncio.run(go())
    finally:
        pool.close()
    assert stages == [
        ("read", "FileNotFoundError"),
        ("import", "SyntaxError"),
        ("lookup", "AttributeError"),
        ("encode", "TypeError"),
        ("call", "ZeroDivisionError"),
    ]


def test_a_cancelled_call_kills_its_worker(script: Path, procs) -> None:
    pool = PythonWorkers(max_workers=1)

    async def go() -> None:
        task = asyncio.ensure_future(pool.call(_req(script, "hang"), what="hang"))
        while not pool.pids():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = procs.worker_children()
    asyncio.run(go())
    assert procs.survivors(list(procs.worker_children() - before)) == []
    pool.close()


def test_calls_beyond_max_workers_wait_for_a_free_one(script: Path) -> None:
    pool = PythonWorkers(max_workers=2)

    async def go() -> set[str]:
        replies = await asyncio.gather(
            *(pool.call(_req(script, "pid"), what="pid") for _ in range(8))
        )
        return {r.value for r in replies}

    try:
        pids = asyncio.run(go())
    finally:
        pool.close()
    assert 1 <= len(pids) <= 2


def test_a_worker_that_dies_fails_its_call_and_is_replaced(script: Path) -> None:
    pool = PythonWorkers(max_workers=1)

    async def go() -> str:
        with pytest.raises(
            PythonWorkerError,
            match=r"die: the Python worker .* exited unexpectedly \(exit code 3\)",
        ):
            await pool.call(_req(script, "die"), what="die")
        return (await pool.call(_req(script, "count", 1), what="count")).value

    try:
        assert asyncio.run(go()) == "1"
    finally:
        pool.close()


def test_call_sync_has_the_same_deadline(script: Path, procs) -> None:
    pool = PythonWorkers(max_workers=1)
    before = procs.worker_children()
    try:
        with pytest.raises(PythonTimeout, match="after 200ms"):
            pool.call_sync(_req(script, "hang"), what="hang", timeout_s=0.2)
        assert pool.call_sync(_req(script, "count", 1), what="count").value == "1"
    finally:
        pool.close()
    assert procs.survivors(list(procs.worker_children() - before)) == []


def test_close_kills_busy_and_idle_workers_and_the_pool_stays_usable(script: Path, procs) -> None:
    pool = PythonWorkers(max_workers=2)

    async def start() -> list[int]:
        asyncio.ensure_future(pool.call(_req(script, "hang"), what="hang"))
        await pool.call(_req(script, "pid"), what="pid")
        return pool.pids()

    loop = asyncio.new_event_loop()
    try:
        pids = loop.run_until_complete(start())
        assert len(pids) == 2
        pool.close()
        assert procs.survivors(pids) == []
        assert pool.call_sync(_req(script, "count", 1), what="count").value == "1"
    finally:
        pool.close()
        loop.close()


DRIVER = """\
import asyncio, os, sys, threading
from promptgov.evals.pyworker import PythonWorkers
pool = PythonWorkers()
req = {{"path": {script!r}, "function": "hang", "args": []}}
threading.Thread(target=pool.call_sync, args=(req,), kwargs={{"what": "hang"}}, daemon=True).start()
while not pool.pids():
    pass
print(pool.pids()[0], flush=True)
{ending}
"""


@pytest.mark.parametrize(
    "ending", ["sys.exit(0)", "os.kill(os.getpid(), 9)"], ids=["exits", "killed"]
)
def test_no_worker_outlives_promptgov(script: Path, procs, ending: str) -> None:
    """At a normal exit the pool is closed; killed with -9, the worker notices and exits."""
    driver = textwrap.dedent(DRIVER.format(script=str(script), ending=ending))
    done = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, timeout=20, check=False
    )
    worker = int(done.stdout.split()[0])
    assert done.returncode == (0 if ending.startswith("sys") else -signal.SIGKILL)
    assert procs.survivors([worker], within=5.0) == []
    assert worker != os.getpid()
