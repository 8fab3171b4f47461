"""schemathesis against the served OpenAPI document, anonymous and authenticated: no
input makes a 500, and every response matches the documented status, type and schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Served, start

#: Few examples per operation: the run must stay well under a minute on 2 shared cores.
MAX_EXAMPLES = 6
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


@pytest.fixture(scope="module")
def server(released: Path) -> Iterator[Served]:
    yield from start(released)


def _schemathesis(
    server: Served, tmp_path: Path, *headers: str
) -> subprocess.CompletedProcess[str]:
    """Run from ``tmp_path``: schemathesis keeps its cache in ``.schemathesis/`` there."""
    exe = Path(sys.executable).with_name("schemathesis")
    args = [
        str(exe),
        "run",
        f"{server.url}/openapi.json",
        f"--checks={CHECKS}",
        f"--max-examples={MAX_EXAMPLES}",
        "--phases=examples,coverage,fuzzing",
        "--seed=12",
        "--workers=1",
        "--no-shrink",
        "--request-timeout=20",
        # A stream never ends: tests/server/test_events.py reads it.
        "--exclude-path=/v1/events",
        # An eval run per example would take minutes; test_writes runs one.
        "--exclude-path-regex=/evals$",
        *([] if headers else ["--exclude-method=POST"]),
    ]
    for header in headers:
        args += ["-H", header]
    return subprocess.run(args, capture_output=True, text=True, timeout=170, cwd=tmp_path)


def test_anonymous_requests_never_fail_the_schema(server: Served, tmp_path: Path) -> None:
    proc = _schemathesis(server, tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_authenticated_requests_never_fail_the_schema(server: Served, tmp_path: Path) -> None:
    proc = _schemathesis(server, tmp_path, f"Authorization: Bearer {server.tokens['admin'].secret}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
