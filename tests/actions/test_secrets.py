"""A secret typed into free text reaches no sink: registry, change log, audit log, eval
logs, git history, notifications or the outbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..conftest import run_cli
from ..flows import PROMPT, add_version, git_init, release, set_notifications
from ..notify_sink import NotifySink

#: One of each shape found reaching a sink in clear (issue: secrets), with a readable prefix.
SECRETS = {
    "keyword": ('db password: "hunter2hunter2"', "hunter2hunter2"),
    "aws": ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    "huggingface": ("hf_abcdefghijklmnopqrstuvwxyz123456", "hf_abcdefghijklmn"),
    "stripe": ("sk_live_abcdefghijklmnopqrstuvwx", "sk_live_abcdefgh"),
    "gitlab": ("glpat-abcdefghijklmnopqrst", "glpat-abcdefghij"),
    "url-password": ("https://bob:pa/ss123@db.example.com/x", "pa/ss123"),
}


def _everything(root: Path, sink: NotifySink) -> bytes:
    files = b"".join(
        p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git/objects" not in str(p)
    )
    history = subprocess.run(
        ["git", "log", "--all", "--format=%B"], cwd=root, capture_output=True, check=True
    ).stdout
    return files + history + b"".join(r.body for r in sink.received)


@pytest.mark.parametrize("kind", list(SECRETS))
def test_a_secret_in_a_rollback_reason_and_evidence_reaches_no_sink(
    example_repo: Path, kind: str
) -> None:
    text, needle = SECRETS[kind]
    root = example_repo
    add_version(root, "1.0.0")
    release(root, "1.0.0")
    add_version(root, "1.1.0")
    release(root, "1.1.0")
    with NotifySink() as sink:
        set_notifications(root, sink.json_url("/hook"))
        git_init(root)
        res = run_cli(
            "rollback", PROMPT, "--env", "prod", "--reason", f"leak: {text}",
            "--evidence", text, "--authorized-by", "alice", "--repo", root,
        )  # fmt: skip
        assert res.exit_code == 0, res.stdout + res.stderr
        assert sink.received, "the owners were notified"
        everything = _everything(root, sink)
    assert needle.encode() not in everything
    assert b"[REDACTED]" in everything
