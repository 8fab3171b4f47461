"""Eval engine speed: whole-process wall time of ``promptgov eval`` against promptfoo.

Three workloads, each run several times as a fresh process (startup included):

1. 500 tests on the ``echo`` provider with a ``contains`` assertion;
2. the same 500 tests with a ``python`` assertion on every test;
3. 1,000 tests at concurrency 32 against a local OpenAI-compatible stub answering after a
   fixed 50 ms; the ideal is 1000 × 50 ms ÷ 32 = 1.5625 s.

promptfoo is run too when found (``$PROMPTFOO_BIN`` or ``promptfoo`` on PATH); the ratio is
printed. Usage: ``python benchmarks/eval_speed.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

LATENCY_S = 0.05
QUIET = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "PROMPTFOO_DISABLE_SHARING": "1",
    "CI": "1",
}


def _yaml_tests(n: int, assertion: str) -> str:
    lines = []
    for i in range(n):
        lines.append(f"  - vars: {{topic: topic{i}}}\n    assert:\n{assertion.format(i=i)}")
    return "\n".join(lines) + "\n"


def write_configs(root: Path, port: int) -> dict[str, Path]:
    """The three benchmark configs under ``root``."""
    configs = {}
    contains = "      - {{type: contains, value: topic{i}}}"
    python = "      - {{type: python, value: \"'topic{i}' in output and len(output) > 3\"}}"
    for name, assertion in (("echo-500", contains), ("python-500", python)):
        d = root / name
        d.mkdir()
        (d / "promptfooconfig.yaml").write_text(
            "prompts: ['Write one line about {{topic}}']\nproviders: [echo]\ntests:\n"
            + _yaml_tests(500, assertion)
        )
        configs[name] = d / "promptfooconfig.yaml"
    d = root / "http-1000"
    d.mkdir()
    (d / "promptfooconfig.yaml").write_text(
        "prompts: ['Say {{topic}}']\n"
        "providers:\n"
        "  - id: openai:chat:stub-model\n"
        "    config:\n"
        f"      apiBaseUrl: http://127.0.0.1:{port}/v1\n"
        "      apiKey: sk-local\n"
        "evaluateOptions: {maxConcurrency: 32}\n"
        "tests:\n" + _yaml_tests(1000, "      - {{type: contains, value: ok}}")
    )
    configs["http-1000"] = d / "promptfooconfig.yaml"
    return configs


_BODY = json.dumps(
    {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": "stub-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_BODY)).encode()
    + b"\r\n\r\n"
    + _BODY
)


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An OpenAI chat-completions endpoint (keep-alive) that answers after a fixed latency."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            await asyncio.sleep(LATENCY_S)
            writer.write(_RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def start_stub() -> tuple[asyncio.AbstractEventLoop, int]:
    """The stub on a free port of 127.0.0.1, served by an event loop on a daemon thread.

    asyncio rather than ``ThreadingHTTPServer``: a thread-per-connection server under the GIL
    cannot hold 32 concurrent 50 ms requests to their latency on two cores.
    """
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            asyncio.start_server(_serve_connection, "127.0.0.1", 0, backlog=256)
        )
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    started.wait()
    return loop, ready[0]


def time_run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall time of one whole process, and its exit code."""
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 100):
        sys.stderr.write(done.stderr[-2000:])
    return elapsed, done.returncode


def find_promptfoo() -> str | None:
    """``$PROMPTFOO_BIN`` or ``promptfoo`` on PATH."""
    return os.environ.get("PROMPTFOO_BIN") or shutil.which("promptfoo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-promptfoo", action="store_true")
    args = parser.parse_args()
    promptgov = [sys.executable, "-m", "promptgov"]
    promptfoo = None if args.skip_promptfoo else find_promptfoo()
    env = {**os.environ, **QUIET, "PROMPTGOV_CACHE_DIR": ""}
    server, port = start_stub()
    print(f"runs per figure: {args.runs} (median); promptfoo: {promptfoo or 'not found'}")
    try:
        with tempfile.TemporaryDirectory(prefix="promptgov-bench-") as tmp:
            configs = write_configs(Path(tmp), port)
            for name, cfg in configs.items():
                out = cfg.parent / "out.json"
                ours = [
                    time_run(
                        [*promptgov, "eval", "-c", str(cfg), "-o", str(out), "--no-cache"],
                        cfg.parent,
                        env,
                    )
                    for _ in range(args.runs)
                ]
                mine = statistics.median(t for t, _ in ours)
                results = json.loads(out.read_text())["results"]["stats"]
                line = (
                    f"{name:11s} promptgov {mine:7.3f}s  (exit {ours[0][1]}, "
                    f"{results['successes']} pass / {results['failures']} fail / "
                    f"{results['errors']} error)"
                )
                if name == "http-1000":
                    ideal = 1000 * LATENCY_S / 32
                    run_s = results["durationMs"] / 1000
                    line += (
                        f"  ideal {ideal:.3f}s: whole process {100 * (mine / ideal - 1):+.1f}%, "
                        f"eval loop {run_s:.3f}s {100 * (run_s / ideal - 1):+.1f}%"
                    )
                if promptfoo:
                    theirs = [
                        time_run(
                            [
                                promptfoo,
                                "eval",
                                "-c",
                                str(cfg),
                                "-o",
                                str(cfg.parent / "pf.json"),
                                "--no-cache",
                                "--no-table",
                                "--no-progress-bar",
                            ],
                            cfg.parent,
                            env,
                        )
                        for _ in range(args.runs)
                    ]
                    pf = statistics.median(t for t, _ in theirs)
                    line += f"  | promptfoo {pf:7.3f}s  ratio {pf / mine:5.1f}x"
                print(line, flush=True)
    finally:
        server.call_soon_threadsafe(server.stop)


if __name__ == "__main__":
    main()
