"""Signed decisions: ``promptgov verify`` over 10,000 signed decisions, and signing through
ssh-agent.

Builds a governed repository of P prompts × V versions whose every approval and pointer
move carries an SSH-signed in-toto Statement (Ed25519; the statements are signed here with
``cryptography`` to build quickly, in the SSHSIG format ``ssh-keygen -Y sign`` writes), puts
an allowed-signers file and ``require_signatures`` in force as a policy change, then times
``promptgov verify`` as a fresh process. Then times ``signing.sign`` through a real
ssh-agent (the path an approval with ``--sign-with key.pub`` takes).

    python benchmarks/signed_verify.py [--prompts 100 --versions 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import promptgov
from promptgov import signed_decisions as _signatures
from promptgov import signing
from promptgov.actions.policy import (
    ApplyOptions,
    PolicyApproveOptions,
    ProposeOptions,
    apply_policy,
    approve_policy,
    propose_policy,
)
from promptgov.hashing import canonical_json
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
    SignedStatement,
    VersionRecord,
    utcnow,
)
from promptgov.repo import Repo


def _s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def sshsig(key: Ed25519PrivateKey, message: bytes) -> str:
    """An armored SSHSIG by ``key`` over ``message`` (namespace promptgov, sha512)."""
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pub_blob = _s(b"ssh-ed25519") + _s(pub)
    h = hashlib.sha512(message).digest()
    signed = b"SSHSIG" + _s(b"promptgov") + _s(b"") + _s(b"sha512") + _s(h)
    sig = _s(b"ssh-ed25519") + _s(key.sign(signed))
    blob = b"SSHSIG" + struct.pack(">I", 1) + _s(pub_blob) + _s(b"promptgov") + _s(b"")
    blob += _s(b"sha512") + _s(sig)
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----\n"


def _signed(key: Ed25519PrivateKey, decision: signing.Decision) -> SignedStatement:
    text = canonical_json(decision.statement()).decode()
    return SignedStatement(statement=text, signature=sshsig(key, text.encode()))


def build(root: Path, n_prompts: int, per: int) -> int:
    """The repository; returns the number of signed decisions."""
    promptgov.init(root)
    repo = Repo(root)
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (root / "allowed_signers").write_text(f"alice {pub.decode()}\n")
    cfg = (root / "promptgov.yml").read_text()
    (root / "promptgov.yml").write_text(cfg + "\nallowed_signers: allowed_signers\n")
    proposal = propose_policy(Repo(root), ProposeOptions(reason="signing"), by="bench")
    approve_policy(Repo(root), PolicyApproveOptions(proposal=proposal.seq), by="alice")
    apply_policy(Repo(root), ApplyOptions(proposal=proposal.seq), by="bench")
    repo = Repo(root)
    card = PromptCard(owner="owner@example.com")
    t0 = utcnow() - timedelta(days=365)
    count = 0
    with repo.edit() as e:
        card_sha = e.put_card(card)
        for p in range(n_prompts):
            name = f"prompt-{p:04d}"
            versions: list[VersionRecord] = []
            moves: list[PointerMove] = []
            for v in range(per):
                content = PromptContent(
                    template=f"You are assistant {p}. Revision {v}. Answer {{{{ question }}}}.",
                    model=ModelSpec(provider="openai:chat:gpt-4o-mini"),
                )
                sha = e.put_content(content)
                at = t0 + timedelta(minutes=p * per + v)
                version = f"1.{v}.0"
                rec = VersionRecord(
                    version=version,
                    sha256=sha,
                    card_sha256=card_sha,
                    author="author",
                    created_at=at,
                    status=LifecycleState.SUPERSEDED if v < per - 1 else LifecycleState.DEPLOYED,
                    gate_results=[
                        GateResult(
                            env="prod",
                            verdict=GateVerdict.PASS,
                            sha256=sha,
                            gate_sha256="0" * 64,
                            run_id=f"run-{p}-{v}",
                            at=at,
                        )
                    ],
                )
                a = Approval(env="prod", by="alice", at=at)
                a = a.model_copy(
                    update={"signed": _signed(key, _signatures.approval_decision(name, rec, a))}
                )
                versions.append(rec.model_copy(update={"approvals": [a]}))
                m = PointerMove(
                    seq=v + 1,
                    version=version,
                    previous=moves[-1].version if moves else None,
                    kind=MoveKind.PROMOTE,
                    at=at,
                    by="alice",
                    reason="release",
                    approvers=["alice"],
                )
                m = m.model_copy(
                    update={"signed": _signed(key, _signatures.move_decision(name, sha, "prod", m))}
                )
                moves.append(m)
                count += 2
            e.stage_entry(
                name,
                PromptEntry(
                    versions=versions,
                    environments={"prod": Environment(current=versions[-1].version, history=moves)},
                ),
            )
        e.audit(action="import", actor="benchmark", reason=f"{count} signed decisions")
    return count


def timed_verify(root: Path, runs: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "promptgov", "verify", "--repo", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        times.append(time.perf_counter() - t)
        out = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
    return statistics.median(times), out


def agent_signing(runs: int) -> list[float]:
    """Seconds per ``signing.sign`` through a real ssh-agent."""
    import os

    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp, "k")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
        )
        sock = Path(tmp, "agent.sock")
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
        try:
            while not sock.exists():
                time.sleep(0.01)
            os.environ["SSH_AUTH_SOCK"] = str(sock)
            subprocess.run(["ssh-add", "-q", str(key)], check=True, timeout=30)
            key.unlink()
            times = []
            for i in range(runs):
                t = time.perf_counter()
                signing.sign(f"statement {i}".encode(), Path(f"{key}.pub"))
                times.append(time.perf_counter() - t)
            return times
        finally:
            agent.terminate()
            agent.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--versions", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        t = time.perf_counter()
        n = build(root, opts.prompts, opts.versions)
        print(f"built {n} signed decisions in {time.perf_counter() - t:.1f} s")
        repo = Repo(root)
        t = time.perf_counter()
        bad = list(_signatures.audit_signatures(repo, repo.store.registry().items()))
        print(
            f"in-process signature check of {n} decisions: {time.perf_counter() - t:.2f} s ({len(bad)} bad)"
        )
        median, last = timed_verify(root, opts.runs)
        print(f"promptgov verify, whole process, median of {opts.runs}: {median:.2f} s — {last}")
    times = agent_signing(20)
    print(
        f"signing through ssh-agent: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms (20 signatures)"
    )


if __name__ == "__main__":
    main()
