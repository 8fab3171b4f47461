"""Record real promptfoo's per-test results on every conformance case as ``expected.json``.

Usage: ``python tests/evals/conformance/record.py [CASE ...]`` with ``promptfoo`` (0.123.x)
and Node 22 on PATH. Each case directory holds a ``promptfooconfig.yaml``; promptfoo runs in
that directory (so prompt labels carry relative paths) and the fields the native engine must
match are written beside the config. ``RECORDED.md`` says what was run, with which version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "PROMPTFOO_DISABLE_SHARING": "1",
    "CI": "1",
}
COMMAND = "promptfoo eval -c promptfooconfig.yaml -o <tmp>/out.json --no-cache --no-table"


def extract(data: dict) -> list[dict]:
    """The fields compared by the conformance test, one entry per result, in a stable order."""
    rows = []
    for r in data["results"]["results"]:
        rows.append(
            {
                "promptIdx": r["promptIdx"],
                "testIdx": r["testIdx"],
                "vars": r.get("vars") or {},
                "success": r["success"],
                "score": r["score"],
                "failureReason": r["failureReason"],
                "namedScores": r.get("namedScores") or {},
                "error": (r.get("error") or "").splitlines()[0][:300] if r.get("error") else None,
            }
        )
    rows.sort(key=lambda row: (row["testIdx"], row["promptIdx"]))
    prompts = [
        {
            "label": p["label"],
            "provider": p["provider"],
            "namedScores": p["metrics"].get("namedScores", {}),
            "testPassCount": p["metrics"]["testPassCount"],
            "testFailCount": p["metrics"]["testFailCount"],
            "testErrorCount": p["metrics"]["testErrorCount"],
        }
        for p in data["results"]["prompts"]
    ]
    return [
        {
            "results": rows,
            "prompts": prompts,
            "stats": {k: data["results"]["stats"][k] for k in ("successes", "failures", "errors")},
        }
    ]


def record(case: Path, exe: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [
            exe,
            "eval",
            "-c",
            "promptfooconfig.yaml",
            "-o",
            str(out),
            "--no-cache",
            "--no-table",
        ]
        done = subprocess.run(
            cmd, cwd=case, env={**os.environ, **ENV}, capture_output=True, text=True, check=False
        )
        if out.is_file():
            (expected,) = extract(json.loads(out.read_text(encoding="utf-8")))
        elif done.returncode != 0:
            # promptfoo refused the config before running a test: keep its first error line.
            lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
            reason = next(
                (ln for ln in lines if re.match(r"\w*Error: ", ln)),
                next((ln for ln in lines if "rror" in ln), lines[-1] if lines else ""),
            )
            expected = {"refused": reason[:300]}
        else:
            sys.exit(f"{case.name}: promptfoo wrote no output and exited 0")
    expected["exitCode"] = done.returncode
    (case / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")
    shown = expected.get("refused") or f"{len(expected['results'])} results"
    print(f"{case.name}: {shown}, exit {done.returncode}")


def _listing(case: Path) -> str:
    """One line of RECORDED.md: the case, and where it came from when it is promptfoo's own."""
    source = case / "SOURCE"
    origin = f" — from {source.read_text(encoding='utf-8').strip()}" if source.is_file() else ""
    return f"- `{case.name}`{origin}"


def main(argv: list[str]) -> None:
    exe = shutil.which("promptfoo")
    if exe is None:
        sys.exit("promptfoo is not on PATH")
    version = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, env={**os.environ, **ENV}, check=True
    ).stdout.strip()
    node = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    cases = [HERE / a for a in argv] or sorted(
        p.parent for p in HERE.glob("*/promptfooconfig.yaml")
    )
    for case in cases:
        record(case, exe)
    names = "\n".join(_listing(c.parent) for c in sorted(HERE.glob("*/expected.json")))
    (HERE / "RECORDED.md").write_text(
        "# Conformance fixtures\n\n"
        f"Recorded with promptfoo {version} on Node {node}, by `tests/evals/conformance/"
        "record.py`, which runs in each case directory:\n\n"
        f"    {' '.join(f'{k}={v}' for k, v in ENV.items())} {COMMAND}\n\n"
        "and keeps, per result, `promptIdx`, `testIdx`, `vars`, `success`, `score`, "
        "`failureReason`, `namedScores` and the first line of `error`, plus per-prompt "
        "metrics, the stats and promptfoo's exit code; for a config promptfoo refuses before "
        "running a test, its first error line and exit code (`refused`). A case taken from "
        "promptfoo's own repository names its source in `SOURCE`.\n\nCases:\n\n" + names + "\n"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
