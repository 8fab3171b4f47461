"""Registry scale: whole-process time of status/show/history/rollback --dry-run at 1k–50k versions.

Builds a governed repository with P prompts × V versions through the library's own storage
layer (objects, registry, pointer histories with gate results and approvals), then times
each command as a fresh process, best of several runs.

    python benchmarks/registry_scale.py [--sizes 1000,10000,50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import promptgov
from promptgov.model import (
    Approval,
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

PROMPTS_PER_1K = 10


def build(root: Path, total: int) -> None:
    """A repository with ``total`` versions spread over prompts of 100 versions each."""
    promptgov.init(root)
    repo = Repo(root)
    n_prompts = max(1, total // 100)
    per = total // n_prompts
    card = PromptCard(owner="owner@example.com")
    gate_sha = "0" * 64
    t0 = utcnow() - timedelta(days=365)
    prompts: dict[str, PromptEntry] = {}
    with repo.edit() as e:
        card_sha = e.put_card(card)
        for p in range(n_prompts):
            name = f"prompt-{p:04d}"
            versions, moves = [], []
            for v in range(per):
                content = PromptContent(
                    template=f"You are assistant {p}. Revision {v}. Answer {{{{ question }}}}.",
                    model=ModelSpec(
                        provider="openai:chat:gpt-4o-mini", parameters={"temperature": 0}
                    ),
                    variables=[Variable(name="question")],
                )
                sha = e.put_content(content)
                at = t0 + timedelta(minutes=p * per + v)
                version = f"1.{v}.0"
                versions.append(
                    VersionRecord(
                        version=version,
                        sha256=sha,
                        card_sha256=card_sha,
                        parent=versions[-1].version if versions else None,
                        author="author",
                        created_at=at,
                        message=f"revision {v}",
                        status=LifecycleState.SUPERSEDED
                        if v < per - 1
                        else LifecycleState.DEPLOYED,
                        gate_results=[
                            GateResult(
                                env="prod",
                                verdict=GateVerdict.PASS,
                                sha256=sha,
                                gate_sha256=gate_sha,
                                run_id=f"run-{p}-{v}",
                                at=at,
                            )
                        ],
                        approvals=[Approval(env="prod", by="alice", at=at)],
                    )
                )
                moves.append(
                    PointerMove(
                        seq=v + 1,
                        version=version,
                        previous=moves[-1].version if moves else None,
                        kind=MoveKind.PROMOTE,
                        at=at,
                        by="alice",
                        reason="release",
                        approvers=["alice"],
                    )
                )
            prompts[name] = PromptEntry(
                versions=versions,
                environments={"prod": Environment(current=versions[-1].version, history=moves)},
            )
        for name, entry in prompts.items():
            e.stage_entry(name, entry)
        e.audit(action="import", actor="benchmark", reason=f"{total} versions for the benchmark")


def timed(args: list[str], root: Path, runs: int) -> float:
    """Best and median wall time of ``promptgov <args>`` as a fresh process."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "promptgov", *args, "--repo", str(root)],
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise SystemExit(f"promptgov {' '.join(args)} failed: {proc.stderr}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--runs", type=int, default=5)
    opts = ap.parse_args()
    base = timed_baseline(opts.runs)
    print(f"python -m promptgov --help (interpreter + imports): {base * 1000:.0f} ms")
    print(
        f"{'versions':>9} {'status':>9} {'show':>9} {'history':>9} {'rb dry-run':>11} {'registry MB':>12}"
    )
    for size in (int(s) for s in opts.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "repo"
            build(root, size)
            mb = (root / "schemas/prompt-version-schema.yml").stat().st_size / 1e6
            # First call after a write fills nothing: the cache is written with the registry.
            row = [
                timed(["status"], root, opts.runs),
                timed(["show", "prompt-0000@prod"], root, opts.runs),
                timed(["history", "prompt-0000"], root, opts.runs),
                timed(
                    [
                        "rollback",
                        "prompt-0000",
                        "--dry-run",
                        "--reason",
                        "bench",
                        "--authorized-by",
                        "b",
                    ],
                    root,
                    opts.runs,
                ),
            ]
            print(
                f"{size:>9} "
                + " ".join(f"{t * 1000:>7.0f}ms" for t in row[:3])
                + f" {row[3] * 1000:>9.0f}ms {mb:>12.1f}"
            )


def timed_baseline(runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "promptgov", "--help"], capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


if __name__ == "__main__":
    main()
