"""``promptgov eval`` as a real subprocess: exit codes, outputs, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CONFIG = """\
prompts: ['Hi {{name}}']
providers: [echo]
tests:
  - vars: {name: Ann}
    assert: [{type: contains, value: Ann}]
  - vars: {name: Bo}
    assert: [{type: contains, value: Ann}]
"""


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "promptgov", "eval", *args],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_failed_tests_exit_100_and_write_outputs(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    done = _run(tmp_path, "-c", "c.yaml", "-o", "out.json", "-o", "out.xml")
    assert done.returncode == 100, done.stderr
    assert "1 passed, 1 failed, 0 errors" in done.stdout
    assert json.loads((tmp_path / "out.json").read_text())["results"]["stats"]["failures"] == 1
    assert (tmp_path / "out.xml").read_text().startswith("<?xml")


def test_pass_rate_threshold_env_gives_exit_0(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    done = _run(tmp_path, "-c", "c.yaml", "--json", env={"PROMPTFOO_PASS_RATE_THRESHOLD": "50"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["passRate"] == 50.0


def test_bad_config_exits_1_with_one_line_and_no_output(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG.replace("type: contains", "type: containz", 1))
    done = _run(tmp_path, "-c", "c.yaml", "-o", "out.json")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: c.yaml: tests[0].assert[0]: unknown assertion type 'containz'. Use one of "
        "promptfoo's types, e.g. contains, equals, regex, is-json, python."
    ]
    assert not (tmp_path / "out.json").exists()


def test_outputpath_from_config_is_used(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG + "outputPath: results.jsonl\n")
    done = _run(tmp_path, "-c", "c.yaml")
    assert done.returncode == 100
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 2


def test_failures_are_listed_after_the_counts_and_verbose_adds_outputs(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    done = _run(tmp_path, "-c", "c.yaml")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("1 passed, 1 failed, 0 errors")
    assert lines[1:4] == [
        "Failures (1 of 2 results):",
        "[FAIL] name=Bo · Hi {{name}} · echo",
        '  contains "Ann": Expected output to contain "Ann"',
    ]
    assert "output:" not in done.stdout
    verbose = _run(tmp_path, "-c", "c.yaml", "--verbose")
    assert verbose.stdout.splitlines()[4] == "  output: Hi Bo"


def test_json_output_has_no_failure_list(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    done = _run(tmp_path, "-c", "c.yaml", "--json", "--verbose")
    assert json.loads(done.stdout)["failures"] == 1
