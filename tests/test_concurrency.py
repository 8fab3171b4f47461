"""Concurrent writers: every version recorded exactly once, nothing half-written."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import promptgov
from promptgov import Registry

WORKER = textwrap.dedent(
    """
    import sys
    from promptgov import AddOptions, Registry, add
    from promptgov.model import PromptSource
    import yaml
    root, i = sys.argv[1], int(sys.argv[2])
    data = yaml.safe_load(open(f"{root}/prompts/support-reply/prompt.yml"))
    data["template"] = data["template"] + f"\\nVariant {i}.\\n"
    options = AddOptions(message=f"variant {i}", source=PromptSource.model_validate(data))
    rec = add(Registry(root), "support-reply", options, by=f"w{i}")
    print(rec.version, rec.sha256)
    """
)


def test_eight_processes_adding_versions_lose_nothing(example_repo: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(example_repo), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    reported = {tuple(o[0].split()) for o in outs}
    reg = Registry(example_repo)
    versions = reg.entry("support-reply").versions
    assert {(r.version, r.sha256) for r in versions} == reported
    assert len({r.version for r in versions}) == 8
    assert len({r.sha256 for r in versions}) == 8
    assert [e.seq for e in reg.repo.changelog()] == list(range(1, 9))
    report = promptgov.verify(reg.repo)
    assert report.ok, report.problems
