"""Serving: `promptgov serve` and the SDK on loopback, side by side with MLflow's prompt registry.

python benchmarks/serve.py [--seconds 5] [--no-mlflow]

One run measures: p50 / p99 latency and throughput of `GET /v1/prompts/{name}?env=prod`
at 1 and 8 concurrent clients (keep-alive connections from a load generator in its own
process); `promptgov.Client.get` from memory; the time from a rollback through the API to a
watching `Client` serving the restored version; the server's start-up (spawn → /healthz)
and RSS. The same GET workload then runs against a local `mlflow server` (SQLite backend)
on the REST call `mlflow.genai.load_prompt("prompts:/name@production")` makes, plus
`load_prompt` itself. MLflow is installed only in a venv this script makes
(`$PROMPTGOV_BENCH_VENVS`, default `~/.cache/promptgov-bench`); it is no project dependency.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROMPT = "support-reply"
MLFLOW_ROUTE = f"/api/2.0/mlflow/registered-models/alias?name={PROMPT}&alias=production"


# ---------------------------------------------------------------------- load generator


def loadgen(url: str, path: str, token: str, concurrency: int, seconds: float) -> dict[str, float]:
    """``concurrency`` threads, one keep-alive connection each, GET ``path`` for ``seconds``."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    start = threading.Barrier(concurrency + 1)
    warm = 0.5
    stop_at: list[float] = [0.0, 0.0]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        start.wait()
        out = lat[i]
        while True:
            t = time.perf_counter()
            if t >= stop_at[1]:
                break
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"{path}: {r.status}")
            if t >= stop_at[0]:
                out.append(time.perf_counter() - t)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for th in threads:
        th.start()
    now = time.perf_counter()
    stop_at[0], stop_at[1] = now + warm, now + warm + seconds
    start.wait()
    for th in threads:
        th.join()
    all_lat = sorted(x for xs in lat for x in xs)
    return {
        "requests": len(all_lat),
        "rps": len(all_lat) / seconds,
        "p50_ms": all_lat[len(all_lat) // 2] * 1e3,
        "p99_ms": all_lat[int(len(all_lat) * 0.99)] * 1e3,
    }


def run_loadgen(
    url: str, path: str, token: str, concurrency: int, seconds: float
) -> dict[str, float]:
    """The load generator in a process of its own (its CPU is not the server's)."""
    out = subprocess.run(
        [sys.executable, __file__, "--loadgen", url, path, token, str(concurrency), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


# ---------------------------------------------------------------------- processes


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, path: str, proc: subprocess.Popen[bytes], limit: float = 60) -> float:
    """Seconds until ``path`` answers 200."""
    t0 = time.perf_counter()
    host, port = url.removeprefix("http://").split(":")
    while time.perf_counter() - t0 < limit:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"{url}{path} did not answer within {limit} s")


def _rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its descendants (MLflow runs its app in a child process)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return total / 1024


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# ---------------------------------------------------------------------- promptgov


def promptgov_figures(tmp: Path, seconds: float) -> dict[str, Any]:
    sys.path.insert(0, str(HERE.parent))
    import promptgov
    from promptgov.audit import AuditLog
    from promptgov.identity import TokenOptions, create_token
    from promptgov.repo import Repo
    from tests.flows import two_releases

    root = tmp / "repo"
    two_releases(root)
    viewer = create_token(Repo(root), TokenOptions(name="app", role="viewer"), by="ops").secret
    releaser = create_token(
        Repo(root), TokenOptions(name="alice", role="releaser"), by="ops"
    ).secret
    port = _port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptgov", "serve", "--repo", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    out: dict[str, Any] = {}
    try:
        out["startup_s"] = _wait_http(url, "/healthz", proc)
        path = f"/v1/prompts/{PROMPT}?env=prod"
        for c in (1, 8):
            out[f"get_c{c}"] = run_loadgen(url, path, viewer, c, seconds)
        out["rss_mib"] = _rss_mib(proc.pid)

        client = promptgov.Client(url, token=viewer, cache_dir=tmp / "sdk")
        client.get(PROMPT)
        n = 200_000
        t = time.perf_counter()
        for _ in range(n):
            client.get(PROMPT)
        out["sdk_cached_get_us"] = (time.perf_counter() - t) / n * 1e6
        n = 300
        t = time.perf_counter()
        for _ in range(n):
            client.invalidate()
            client.get(PROMPT)
        out["sdk_fetch_ms"] = (time.perf_counter() - t) / n * 1e3
        client.close()

        watching = promptgov.Client(url, token=viewer, watch=True, cache_dir=tmp / "w")
        before = watching.get(PROMPT).version
        assert watching.wait_watching(10)
        seen: list[float] = []

        def poll() -> None:
            while watching.get(PROMPT).version == before:
                time.sleep(0.0005)
            seen.append(time.perf_counter())
            seen.append(time.time())

        poller = threading.Thread(target=poll)
        poller.start()
        t0 = time.perf_counter()
        r = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"reason": "benchmark", "env": "prod"})
        headers = {"Authorization": f"Bearer {releaser}", "Content-Type": "application/json"}
        r.request("POST", f"/v1/prompts/{PROMPT}/rollbacks", body=body, headers=headers)
        resp = r.getresponse()
        resp.read()
        t1 = time.perf_counter()
        assert resp.status == 200, resp.status
        poller.join(10)
        watching.close()
        out["rollback_request_s"] = t1 - t0
        # The pointer moves first; the API answers after the restored version's evals.
        out["rollback_to_watcher_s"] = seen[0] - t0
        # From the audit entry of the pointer move (stamped before it is committed).
        moved = [e for e in AuditLog(root).entries(prompt=PROMPT) if e.action == "rollback-start"][
            -1
        ]
        stamp = datetime.fromisoformat(moved.time.replace("Z", "+00:00")).timestamp()
        out["move_to_watcher_s"] = seen[1] - stamp
    finally:
        _stop(proc)
    return out


# ---------------------------------------------------------------------- MLflow

MLFLOW_SETUP = """
import json, sys, time
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.genai.register_prompt(name="support-reply", template="Reply to {{customer_name}} about order {{order_id}}: {{message}}")
mlflow.genai.set_prompt_alias("support-reply", alias="production", version=1)
uri = "prompts:/support-reply@production"
mlflow.genai.load_prompt(uri)
n = 200
t = time.perf_counter()
for _ in range(n):
    mlflow.genai.load_prompt(uri, cache_ttl_seconds=0)
uncached = (time.perf_counter() - t) / n
mlflow.genai.load_prompt(uri)
n = 20000
t = time.perf_counter()
for _ in range(n):
    mlflow.genai.load_prompt(uri)
cached = (time.perf_counter() - t) / n
print(json.dumps({"load_prompt_uncached_ms": uncached * 1e3, "load_prompt_cached_us": cached * 1e6}))
"""


def mlflow_python() -> tuple[Path | None, str]:
    """The benchmark venv's python with mlflow, made if needed; else None and why."""
    base = Path(os.environ.get("PROMPTGOV_BENCH_VENVS") or Path.home() / ".cache/promptgov-bench")
    venv = base / "mlflow"
    py = venv / "bin/python"
    if not (venv / "bin/mlflow").exists():
        base.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            subprocess.run(
                [str(py), "-m", "pip", "install", "-q", "mlflow"],
                check=True,
                timeout=1800,
                capture_output=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            err = getattr(exc, "stderr", b"") or b""
            return None, f"pip install mlflow failed: {exc}; {err.decode(errors='replace')[-400:]}"
    return py, ""


def mlflow_figures(tmp: Path, seconds: float) -> dict[str, Any]:
    py, why = mlflow_python()
    if py is None:
        return {"error": why}
    port = _port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    cmd = [
        str(py.parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--default-artifact-root",
        str(tmp / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    out: dict[str, Any] = {
        "version": subprocess.check_output(
            [str(py), "-c", "import mlflow; print(mlflow.__version__)"], text=True
        ).strip()
    }
    try:
        out["startup_s"] = _wait_http(url, "/health", proc, limit=180)
        sdk = subprocess.run(
            [str(py), "-c", MLFLOW_SETUP, url], capture_output=True, text=True, timeout=600, env=env
        )
        if sdk.returncode != 0:
            out["error"] = sdk.stderr[-600:]
            return out
        out.update(json.loads(sdk.stdout.strip().splitlines()[-1]))
        for c in (1, 8):
            out[f"get_c{c}"] = run_loadgen(url, MLFLOW_ROUTE, "", c, seconds)
        out["rss_mib"] = _rss_mib(proc.pid)
    finally:
        _stop(proc)
    return out


# ---------------------------------------------------------------------- report


def report(pg: dict[str, Any], ml: dict[str, Any]) -> str:
    def get(d: dict[str, Any], c: int, k: str) -> str:
        v = d.get(f"get_c{c}", {}).get(k)
        return "—" if v is None else (f"{v:,.0f}" if k == "rps" else f"{v:.2f}")

    lines = ["| figure | promptgov | MLflow |", "| --- | ---: | ---: |"]
    for c in (1, 8):
        for k, label in (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("rps", "requests/s")):
            lines.append(
                f"| GET, {c} client{'s' if c > 1 else ''}: {label} | {get(pg, c, k)} | {get(ml, c, k)} |"
            )
    ml_cached = ml.get("load_prompt_cached_us")
    lines.append(
        f"| SDK get from memory, µs | {pg['sdk_cached_get_us']:.2f} | "
        f"{'—' if ml_cached is None else f'{ml_cached:.2f}'} |"
    )
    ml_unc = ml.get("load_prompt_uncached_ms")
    lines.append(
        f"| SDK fetch from the server, ms | {pg['sdk_fetch_ms']:.2f} | {'—' if ml_unc is None else f'{ml_unc:.2f}'} |"
    )
    lines.append(
        f"| rollback request sent → watching SDK serves the restored version, s | {pg['rollback_to_watcher_s']:.3f} | up to the 60 s cache TTL |"
    )
    lines.append(
        f"| pointer move (its audit entry) → watching SDK serves the restored version, s | {pg['move_to_watcher_s']:.3f} | — |"
    )
    lines.append(
        f"| rollback request answered (evals of the restored version included), s | {pg['rollback_request_s']:.3f} | — |"
    )
    lines.append(
        f"| server RSS after the load, MiB | {pg['rss_mib']:.0f} | {ml.get('rss_mib', float('nan')):.0f} |"
    )
    lines.append(
        f"| server start-up (spawn → health 200), s | {pg['startup_s']:.2f} | {ml.get('startup_s', float('nan')):.2f} |"
    )
    if "error" in ml:
        lines.append(f"\nMLflow: {ml['error']}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        url, path, token, c, s = sys.argv[2:7]
        print(json.dumps(loadgen(url, path, token, int(c), float(s))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--no-mlflow", action="store_true")
    ap.add_argument("--json", type=Path, help="Also write the figures here.")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pg = promptgov_figures(Path(tmp), opts.seconds)
        ml = (
            {"error": "not run (--no-mlflow)"}
            if opts.no_mlflow
            else mlflow_figures(Path(tmp), opts.seconds)
        )
    if opts.json:
        opts.json.write_text(json.dumps({"promptgov": pg, "mlflow": ml}, indent=2))
    print(report(pg, ml))


if __name__ == "__main__":
    main()
