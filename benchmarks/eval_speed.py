"""Eval engine speed: whole-process wall time of ``promptgov eval`` against promptfoo.

Three workloads, each run several times as a fresh process (startup included):

1. 500 tests on the ``echo`` provider with a ``contains`` assertion;
2. the same 500 tests with a ``python`` assertion on every test;
3. 1,000 tests at concurrency 32 against a local OpenAI-compatible stub answering after a
   fixed 50 ms; the ideal is 1000 × 50 ms ÷ 32 = 1.5625 s;
4. ``js-small``: 20 tests with a JavaScript prompt function and a ``javascript`` assertion,
   against the floor (``python -c 'import promptgov.cli, promptgov.evals, …'``: the
   interpreter and the imports an eval needs);
5. ``ten-small``: a mixed suite of ten small configs (echo, JavaScript and Python prompt
   functions and assertions, a JavaScript test generator, a Nunjucks filter), one process each.

promptfoo is run too when found (``$PROMPTFOO_BIN`` or ``promptfoo`` on PATH); the ratio is
printed. Usage: ``python benchmarks/eval_speed.py [--runs N] [--only NAME ...]``.
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


_SMALL_PROMPT_JS = "module.exports = ({ vars }) => `Write one line about ${vars.topic}`;\n"
_SMALL_GEN_JS = (
    "module.exports = () => Array.from({ length: 10 }, (_, i) => ({ vars: { topic: `t${i}` },"
    " assert: [{ type: 'contains', value: `t${i}` }] }));\n"
)
_SMALL_FILTER_JS = "module.exports = (v) => String(v).toUpperCase();\n"
_SMALL_PROMPT_PY = "def prompt(context):\n    return 'About ' + context['vars']['topic']\n"
#: The ten configs of ``ten-small``: (prompt, tests file or None, assertion, extra config).
_TEN_SMALL = [
    ("'About {{topic}}'", None, "{{type: contains, value: topic{i}}}", ""),
    ("'About {{topic}}'", None, "{{type: icontains, value: TOPIC{i}}}", ""),
    ("file://prompt.js", None, "{{type: contains, value: topic{i}}}", ""),
    ("'About {{topic}}'", None, "{{type: javascript, value: \"output.includes('topic{i}')\"}}", ""),
    ("file://prompt.js", None, "{{type: javascript, value: 'output.length > 3'}}", ""),
    ("'About {{topic}}'", None, "{{type: python, value: \"'topic{i}' in output\"}}", ""),
    ("file://prompt.py:prompt", None, "{{type: contains, value: topic{i}}}", ""),
    ("'About {{topic}}'", "file://gen.js", "", ""),
    (
        "'About {{topic | shout}}'",
        None,
        "{{type: contains, value: TOPIC{i}}}",
        "nunjucksFilters: {shout: filter.js}\n",
    ),
    ("'About {{topic}}'", None, "{{type: regex, value: 'topic{i}$'}}", ""),
]


def write_small_configs(root: Path) -> dict[str, list[Path]]:
    """``js-small`` (one config) and ``ten-small`` (ten), with the scripts they name."""
    out: dict[str, list[Path]] = {}
    d = root / "js-small"
    d.mkdir()
    (d / "prompt.js").write_text(_SMALL_PROMPT_JS)
    (d / "promptfooconfig.yaml").write_text(
        "prompts: [file://prompt.js]\nproviders: [echo]\ntests:\n"
        + _yaml_tests(20, "      - {{type: javascript, value: \"output.includes('topic{i}')\"}}")
    )
    out["js-small"] = [d / "promptfooconfig.yaml"]
    configs = []
    for n, (prompt, tests_file, assertion, extra) in enumerate(_TEN_SMALL):
        d = root / f"small-{n}"
        d.mkdir()
        for name, text in (
            ("prompt.js", _SMALL_PROMPT_JS),
            ("gen.js", _SMALL_GEN_JS),
            ("filter.js", _SMALL_FILTER_JS),
            ("prompt.py", _SMALL_PROMPT_PY),
        ):
            (d / name).write_text(text)
        tests = (
            f"tests: {tests_file}\n"
            if tests_file
            else "tests:\n" + _yaml_tests(10, "      - " + assertion)
        )
        (d / "promptfooconfig.yaml").write_text(
            f"prompts: [{prompt}]\nproviders: [echo]\n{extra}{tests}"
        )
        configs.append(d / "promptfooconfig.yaml")
    out["ten-small"] = configs
    return out


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


#: The interpreter-and-imports floor of an eval: what ``promptgov eval`` must import.
_FLOOR = "import promptgov.cli, promptgov.evals, promptgov.evals.runner, promptgov.evals.reporters"


def _suite_time(cmds: list[tuple[list[str], Path]], env: dict[str, str], runs: int) -> float:
    """Median over ``runs`` of the summed wall time of running every command once."""
    totals = []
    for _ in range(runs):
        total = 0.0
        for cmd, cwd in cmds:
            elapsed, code = time_run(cmd, cwd, env)
            if code not in (0, 100):
                raise SystemExit(f"{' '.join(cmd)} exited {code}")
            total += elapsed
        totals.append(total)
    return statistics.median(totals)


def _small_suite(
    name: str,
    suite: list[Path],
    runs: int,
    promptgov: list[str],
    promptfoo: str | None,
    env: dict[str, str],
) -> None:
    """``js-small`` against the interpreter-and-imports floor, ``ten-small`` as a suite."""
    ours = [
        (
            [*promptgov, "eval", "-c", str(c), "-o", str(c.parent / "out.json"), "--no-cache"],
            c.parent,
        )
        for c in suite
    ]
    mine = _suite_time(ours, env, runs)
    line = f"{name:11s} promptgov {mine:7.3f}s"
    if name == "js-small":
        floor = _suite_time([([sys.executable, "-c", _FLOOR], Path.cwd())], env, runs)
        line += f"  (floor {floor:.3f}s, +{mine - floor:.3f}s over it)"
    else:
        line += f"  ({len(suite)} configs, {mine / len(suite):.3f}s each)"
    if promptfoo:
        theirs = [
            (
                [
                    promptfoo,
                    "eval",
                    "-c",
                    str(c),
                    "-o",
                    str(c.parent / "pf.json"),
                    "--no-cache",
                    "--no-table",
                    "--no-progress-bar",
                ],
                c.parent,
            )
            for c in suite
        ]
        pf = _suite_time(theirs, env, runs)
        line += f"  | promptfoo {pf:7.3f}s  ratio {pf / mine:5.1f}x"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-promptfoo", action="store_true")
    parser.add_argument("--only", nargs="*", help="workload names to run (default: all)")
    args = parser.parse_args()
    promptgov = [sys.executable, "-m", "promptgov"]
    promptfoo = None if args.skip_promptfoo else find_promptfoo()
    env = {**os.environ, **QUIET, "PROMPTGOV_CACHE_DIR": ""}
    server, port = start_stub()
    print(f"runs per figure: {args.runs} (median); promptfoo: {promptfoo or 'not found'}")
    try:
        with tempfile.TemporaryDirectory(prefix="promptgov-bench-") as tmp:
            configs = write_configs(Path(tmp), port)
            small = write_small_configs(Path(tmp))
            for name, cfg in configs.items():
                if args.only and name not in args.only:
                    continue
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
            for name, suite in small.items():
                if not args.only or name in args.only:
                    _small_suite(name, suite, args.runs, promptgov, promptfoo, env)
    finally:
        server.call_soon_threadsafe(server.stop)


if __name__ == "__main__":
    main()
