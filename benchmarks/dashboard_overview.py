"""The dashboard's overview page for 100 prompts × 3 environments: time to render.

Usage: .venv/bin/python benchmarks/dashboard_overview.py [--prompts 100] [--versions 3] [--runs 20]

Builds a repository through the library's storage (each prompt with ``--versions`` versions,
each environment pointing at one), signs in with a real token, then times ``GET /ui/``
through the ASGI app (template render, registry reads, the audit badge; no network).
The first request is reported apart: it reads the registry and verifies the audit log.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

import promptgov
from promptgov.identity import TokenOptions, create_token
from promptgov.model import (
    Environment,
    GateResult,
    GateVerdict,
    LifecycleState,
    ModelSpec,
    MoveKind,
    PointerMove,
    PromptCard,
    PromptContent,
    PromptEntry,
    Variable,
    VersionRecord,
    utcnow,
)
from promptgov.repo import Repo
from promptgov.server import create_app

ENVS = ("dev", "staging", "prod")


def build(root: Path, n_prompts: int, per: int) -> None:
    """``n_prompts`` prompts of ``per`` versions; dev serves the newest, prod the oldest."""
    promptgov.init(root)
    repo = Repo(root)
    t0 = utcnow() - timedelta(days=30)
    with repo.edit() as e:
        card_sha = e.put_card(PromptCard(owner="owner@example.com"))
        for p in range(n_prompts):
            versions = []
            for v in range(per):
                sha = e.put_content(
                    PromptContent(
                        template=f"Assistant {p}, revision {v}: answer {{{{ question }}}}.",
                        model=ModelSpec(provider="openai:chat:gpt-4o-mini"),
                        variables=[Variable(name="question")],
                    )
                )
                at = t0 + timedelta(minutes=p * per + v)
                versions.append(
                    VersionRecord(
                        version=f"1.{v}.0",
                        sha256=sha,
                        card_sha256=card_sha,
                        author="author",
                        created_at=at,
                        message=f"revision {v}",
                        status=LifecycleState.DEPLOYED,
                        gate_results=[
                            GateResult(
                                env=env,
                                verdict=GateVerdict.PASS,
                                sha256=sha,
                                gate_sha256="0" * 64,
                                run_id=f"run-{p}-{v}",
                                at=at,
                            )
                            for env in ENVS
                        ],
                    )
                )
            envs = {}
            for i, env in enumerate(ENVS):
                version = versions[max(0, per - 1 - i)].version
                move = PointerMove(
                    seq=1,
                    version=version,
                    previous=None,
                    kind=MoveKind.PROMOTE,
                    at=t0,
                    by="alice",
                    reason="r",
                )
                envs[env] = Environment(current=version, history=[move])
            e.stage_entry(f"prompt-{p:04d}", PromptEntry(versions=versions, environments=envs))
        e.audit(action="import", actor="benchmark", reason="dashboard overview benchmark")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        build(root, args.prompts, args.versions)
        secret = create_token(Repo(root), TokenOptions(name="victor", role="viewer"), by="ops")
        with TestClient(create_app(root)) as client:
            page = client.get("/ui/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            client.post("/ui/login", data={"token": secret.secret, "csrf": csrf.group(1)})
            t = time.perf_counter()
            first = client.get("/ui/")
            cold = time.perf_counter() - t
            assert first.status_code == 200 and first.text.count("<tr>") >= args.prompts
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                client.get("/ui/")
                times.append(time.perf_counter() - t)
    print(
        f"overview, {args.prompts} prompts × {len(ENVS)} environments: "
        f"first {cold * 1000:.0f} ms, then median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {args.runs} runs (target < 200 ms)"
    )


if __name__ == "__main__":
    main()
