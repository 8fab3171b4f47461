"""Rollback end to end with 10,000 versions in the registry, whole process.

Two measurements, each a fresh ``promptgov rollback`` process on a fresh copy of the
repository, best and median of several runs:

* evals excluded: ``--emergency --skip-evals`` (locate, restore, log, notify);
* evals included: the normal flow, re-running a 20-test suite on a local provider;
  the eval time alone (``promptgov eval``) is measured too, so the overhead is visible.

    python benchmarks/rollback.py [--versions 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from registry_scale import build  # noqa: E402

SUITE = """\
description: bench suite
prompts:
  - promptgov://prompt-0000
providers:
  - echo
tests:
{tests}
"""


def _cli(args: list[str], root: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "promptgov", *args, "--repo", str(root)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"promptgov {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        build(template, opts.versions)
        tests = "\n".join(
            f"  - vars: {{question: q{i}}}\n    assert:\n      - type: contains\n        value: Revision"
            for i in range(20)
        )
        (template / "evals/eval-config.promptfoo.yml").write_text(SUITE.format(tests=tests))
        rows: dict[str, list[float]] = {"excluded": [], "included": [], "eval alone": []}
        for i in range(opts.runs):
            for label, extra in (("excluded", ["--emergency", "--skip-evals"]), ("included", [])):
                root = Path(tmp) / f"{label}-{i}"
                shutil.copytree(template, root)
                rows[label].append(
                    _cli(
                        [
                            "rollback",
                            "prompt-0000",
                            "--env",
                            "prod",
                            "--reason",
                            "bench",
                            "--authorized-by",
                            "alice",  # a release manager: --emergency needs a prod approver
                            *extra,
                        ],
                        root,
                    )
                )
            rows["eval alone"].append(
                _cli(["eval", "prompt-0000@prod"], Path(tmp) / f"included-{i}")
            )
        print(
            f"rollback with {opts.versions} versions in the registry, whole process, {opts.runs} runs"
        )
        for label, times in rows.items():
            print(
                f"  {label:<12} best {min(times) * 1000:6.0f} ms   median {statistics.median(times) * 1000:6.0f} ms"
            )
        overhead = statistics.median(rows["included"]) - statistics.median(rows["eval alone"])
        print(f"  rollback overhead beyond the eval run (median): {overhead * 1000:.0f} ms")


if __name__ == "__main__":
    main()
