"""Output files: v3 JSON, JSONL, CSV, JUnit XML and Markdown, chosen by extension."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from promptgov.errors import InvalidFile
from promptgov.evals import load_config, run_eval, write_outputs
from promptgov.evals.reporters import write_step_summary


@pytest.fixture()
def summary(tmp_path: Path):
    cfg = load_config(
        {
            "description": "demo",
            "prompts": ["Hi {{name}}"],
            "providers": ["echo"],
            "tests": [
                {"vars": {"name": "Ann"}, "assert": [{"type": "contains", "value": "Ann"}]},
                {"vars": {"name": "Bo"}, "assert": [{"type": "contains", "value": "<zz>"}]},
            ],
        },
        base_dir=tmp_path,
    )
    return run_eval(cfg)


def test_all_formats_written(tmp_path: Path, summary) -> None:
    paths = [tmp_path / f"out.{ext}" for ext in ("json", "jsonl", "csv", "xml", "md")]
    write_outputs(summary, paths)
    v3 = json.loads(paths[0].read_text())
    assert v3["results"]["version"] == 3
    assert [r["success"] for r in v3["results"]["results"]] == [True, False]
    assert v3["results"]["results"][1]["gradingResult"]["componentResults"][0]["pass"] is False
    assert v3["results"]["stats"]["successes"] == 1
    lines = paths[1].read_text().splitlines()
    assert [json.loads(x)["testIdx"] for x in lines] == [0, 1]
    rows = list(csv.reader(io.StringIO(paths[2].read_text())))
    # promptfoo 0.123.1's layout (compared with real promptfoo's in test_output_fidelity.py).
    assert rows[0] == [
        "name", "[echo] Hi {{name}}", "Status", "Score", "Named Scores", "Grader Reason", "Comment"
    ]  # fmt: skip
    assert rows[1] == ["Ann", "Hi Ann", "PASS", "1.00", "", "All assertions passed", ""]
    assert rows[2][1:4] == ["Hi Bo", "FAIL", "0.00"]
    assert rows[2][5].startswith("Expected output to contain")
    root = ET.fromstring(paths[3].read_text())
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    assert len(root.findall(".//failure")) == 1
    md = paths[4].read_text()
    assert "**1 passed, 1 failed, 0 errors**" in md and "<zz>" in md


def test_unknown_extension_writes_nothing(tmp_path: Path, summary) -> None:
    good = tmp_path / "out.json"
    with pytest.raises(InvalidFile, match="unknown format .txt"):
        write_outputs(summary, [good, tmp_path / "out.txt"])
    assert not good.exists()


def test_step_summary_appends_markdown(tmp_path: Path, summary) -> None:
    target = tmp_path / "summary.md"
    target.write_text("previous\n")
    assert write_step_summary(summary, {"GITHUB_STEP_SUMMARY": str(target)}) is True
    assert target.read_text().startswith("previous\n## demo")
    assert write_step_summary(summary, {}) is False


#: Characters XML 1.0 forbids (C0 controls, DEL as pytest treats it, U+FFFE).
_ILLEGAL = "\x01\x08\x0b\x1b\x7f\ufffe"


@pytest.fixture()
def hostile_summary(tmp_path: Path):
    """A run whose outputs, vars, descriptions and error messages carry forbidden characters."""
    (tmp_path / "boom.py").write_text(
        "def call_api(prompt, options, context):\n"
        "    return {'error': 'upstream said \\x01\\x1b[31m'}\n"
    )
    return run_eval(
        load_config(
            {
                "prompts": [f"say {{{{word}}}}{_ILLEGAL}"],
                "providers": ["echo", "file://boom.py"],
                "tests": [
                    {
                        "description": f"bell{_ILLEGAL}",
                        "vars": {"word": f"a{_ILLEGAL}b"},
                        "assert": [{"type": "equals", "value": "never"}],
                    },
                    {"vars": {"word": "fine"}, "assert": [{"type": "contains", "value": "fine"}]},
                ],
            },
            base_dir=tmp_path,
        )
    )


#: The JUnit format as CI servers read it; held to the real writers by the test below.
JUNIT_XSD = Path(__file__).parents[1] / "data" / "junit.xsd"


def test_the_junit_schema_accepts_what_pytest_and_junitparser_write(
    tmp_path: Path,
) -> None:
    """The schema is not promptgov's own rule: what pytest and junitparser write passes it."""
    import subprocess
    import sys

    import junitparser
    import xmlschema

    schema = xmlschema.XMLSchema(JUNIT_XSD)
    # A sample suite with every outcome pytest reports (pass, failure, skip, error), so its
    # JUnit file holds each element the schema must accept; it is run here, not collected.
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok(): print('out\\x01')\n"
        "def test_bad(): assert 1 == 2\n"
        "def test_skip(): pytest.skip('the sample needs a <skipped> element')\n"
        "@pytest.fixture\n"
        "def broken(): raise RuntimeError('boom')\n"
        "def test_error(broken): pass\n"
    )
    written = tmp_path / "pytest.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        + ["-o", "junit_family=xunit2", f"--junitxml={written}", "test_sample.py"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    schema.validate(str(written))
    case = junitparser.TestCase("answers", "promptgov.eval", 0.25)
    case.result = [junitparser.Failure("expected 'never'", "assertion")]
    suite = junitparser.TestSuite("[echo] say {{word}}")
    suite.add_testcase(case)
    xml = junitparser.JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(tmp_path / "junitparser.xml"))
    schema.validate(str(tmp_path / "junitparser.xml"))


def test_junit_xml_escapes_what_xml_forbids_and_validates(tmp_path: Path, hostile_summary) -> None:
    import junitparser
    import xmlschema

    out = tmp_path / "junit.xml"
    write_outputs(hostile_summary, [out])
    text = out.read_text(encoding="utf-8")
    assert not any(ch in text for ch in _ILLEGAL)
    # Shown the way pytest's junitxml shows them.
    assert "a#x01#x08#x0B#x1B#x7F#xFFFEb" in text
    xmlschema.XMLSchema(JUNIT_XSD).validate(str(out))
    xml = junitparser.JUnitXml.fromfile(str(out))
    suites = list(xml)
    assert [s.tests for s in suites] == [2, 2]
    outcomes = {
        (suite.name.split("]")[0], case.name.split(" ")[0]): [type(r).__name__ for r in case.result]
        for suite in suites
        for case in suite
    }
    assert outcomes == {
        ("[echo", "#0"): ["Failure"],
        ("[echo", "#1"): [],
        ("[python:boom.py:default", "#0"): ["Error"],
        ("[python:boom.py:default", "#1"): ["Error"],
    }
    error = next(iter(suites[1])).result[0]
    assert "upstream said #x01#x1B[31m" in (error.message or "")
