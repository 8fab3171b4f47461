"""Signed decisions: an in-toto Statement about one prompt content, and its SSH signature.

The Statement's subject is the prompt and the sha256 of its content; its predicate says
what was decided (action, environment, gate verdict and eval run relied on, reason, time,
who). The signed bytes are the Statement's canonical JSON, kept verbatim beside the
record it backs, so ``ssh-keygen -Y verify`` checks the very bytes promptgov checks.

A server acting for an authenticated API user signs with its own key and names the
token's identity in ``predicate.on_behalf_of``; the policy then counts the server's key
for that identity only where it allows a notary.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..hashing import canonical_json
from ..model import SignedStatement, identity_key
from . import _dsse, _sshsig
from ._allowed_signers import AllowedSigner

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://promptgov.dev/decision/v1"


@dataclass(frozen=True)
class Decision:
    """What a statement says: the facts a record's signature must bind."""

    action: str
    prompt: str
    sha256: str
    """The content the decision is about (the subject's digest)."""
    version: str
    env: str | None
    by: str
    at: datetime
    reason: str = ""
    gate_verdict: str | None = None
    eval_run: str | None = None
    results_sha256: str | None = None
    """The eval results file's sha256, for gate verdicts and eval runs."""
    on_behalf_of: str | None = None

    def statement(self) -> dict[str, Any]:
        """The in-toto Statement (v1) of this decision."""
        predicate: dict[str, Any] = {
            "action": self.action,
            "version": self.version,
            "env": self.env,
            "by": self.by,
            "time": self.at.isoformat(),
            "reason": self.reason,
            "gate_verdict": self.gate_verdict,
            "eval_run": self.eval_run,
        }
        if self.results_sha256 is not None:
            predicate["results_sha256"] = self.results_sha256
        if self.on_behalf_of is not None:
            predicate["on_behalf_of"] = self.on_behalf_of
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.prompt, "digest": {"sha256": self.sha256}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate,
        }


def sign_decision(decision: Decision, key: str | Path) -> SignedStatement:
    """The decision's Statement signed by ``key`` (a key file, or a ``.pub`` whose private
    half ssh-agent holds).

    Raises:
        InputError: ssh-keygen cannot sign with the key.
    """
    text = canonical_json(decision.statement()).decode()
    signature = _sshsig.sign(text.encode(), key)
    dsse = _dsse.raw_sign(_dsse.pae(_dsse.PAYLOAD_TYPE, text.encode()), key)
    return SignedStatement(statement=text, signature=signature, dsse=dsse)


@dataclass(frozen=True)
class SignatureCheck:
    """The answer for one signed record: who signed, or why it does not count."""

    ok: bool
    why: str = ""
    principal: str | None = None
    fingerprint: str | None = None


def check(
    signed: SignedStatement | None,
    expect: Decision,
    signers: Iterable[AllowedSigner],
    *,
    actions: Iterable[str] | None = None,
) -> SignatureCheck:
    """Whether ``signed`` is a valid signature, by an allowed and unrevoked key of
    ``expect.by``, over a Statement that binds ``expect``'s action, prompt, content hash,
    version and environment.

    Never raises: a hostile record is an answer, not an error.
    """
    if signed is None:
        return SignatureCheck(False, "it is unsigned")
    try:
        sig = _sshsig.verify(signed.statement.encode(), signed.signature)
    except _sshsig.BadSignature as exc:
        return SignatureCheck(False, f"its signature is bad: {exc}")
    fp = sig.fingerprint
    try:
        st = json.loads(signed.statement)
        pred = st["predicate"]
        subject = st["subject"][0]
        at = datetime.fromisoformat(pred["time"])
        if not all(isinstance(x, dict) for x in (st, pred, subject)):
            raise TypeError("not objects")
    except (ValueError, KeyError, IndexError, TypeError, ValidationError):
        return SignatureCheck(False, "its statement is not a promptgov decision", fingerprint=fp)
    wrong = _mismatch(st, pred, subject, expect, set(actions or [expect.action]))
    if wrong:
        return SignatureCheck(False, f"its signed statement is {wrong}", fingerprint=fp)
    keyed = [s for s in signers if s.public_key == sig.public_key]
    if not keyed:
        return SignatureCheck(False, f"key {fp} is not in the allowed signers", fingerprint=fp)
    who = identity_key(pred.get("on_behalf_of") or expect.by)
    mine = [s for s in keyed if who in {identity_key(p) for p in s.principals}]
    if not mine:
        return SignatureCheck(False, f"key {fp} is not {expect.by}'s key", fingerprint=fp)
    reasons = [r for s in mine if (r := s.valid_at(at)) is not None]
    if len(reasons) == len(mine):
        return SignatureCheck(False, f"key {fp}: {reasons[0]}", fingerprint=fp)
    return SignatureCheck(True, principal=mine[0].principals[0], fingerprint=fp)


def _mismatch(
    st: Mapping[str, Any],
    pred: Mapping[str, Any],
    subject: Mapping[str, Any],
    expect: Decision,
    actions: set[str],
) -> str | None:
    """What the statement says differently from the record (None: it binds the record)."""
    if st.get("_type") != STATEMENT_TYPE or st.get("predicateType") != PREDICATE_TYPE:
        return "not a promptgov decision"
    if pred.get("action") not in actions:
        return f"for action {pred.get('action')}, not {expect.action}"
    if subject.get("name") != expect.prompt:
        return f"about prompt {subject.get('name')}, not {expect.prompt}"
    if (subject.get("digest") or {}).get("sha256") != expect.sha256:
        return f"over another content ({str((subject.get('digest') or {}).get('sha256'))[:12]}…)"
    if pred.get("version") != expect.version:
        return f"for version {pred.get('version')}, not {expect.version}"
    if pred.get("env") != expect.env:
        return f"for environment {pred.get('env')}, not {expect.env}"
    if pred.get("results_sha256") != expect.results_sha256:
        return "over other eval results than the recorded file"
    if identity_key(str(pred.get("by"))) != identity_key(expect.by):
        return f"by {pred.get('by')}, not {expect.by}"
    if datetime.fromisoformat(pred["time"]) != expect.at:
        return "for another time than the record's"
    return None
