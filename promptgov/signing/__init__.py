"""Signed decisions: SSH signatures (SSHSIG), the allowed-signers file, in-toto Statements.

This package knows nothing of the registry: the actions build a :class:`Decision` from a
record, sign it (:func:`sign_decision`) and check it (:func:`check`) against the signers
of the repository's allowed-signers file.
"""

from ._allowed_signers import AllowedSigner, dump, format_time, parse, parse_time, revoke
from ._dsse import PAYLOAD_TYPE, envelope, pae
from ._sshsig import NAMESPACE, BadSignature, SshSig, fingerprint, sign, verify
from ._sshsig import parse as parse_signature
from ._statement import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Decision,
    SignatureCheck,
    check,
    sign_decision,
)

__all__ = [
    "NAMESPACE",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AllowedSigner",
    "BadSignature",
    "Decision",
    "SignatureCheck",
    "SshSig",
    "check",
    "dump",
    "envelope",
    "fingerprint",
    "format_time",
    "pae",
    "parse",
    "parse_signature",
    "parse_time",
    "revoke",
    "sign",
    "sign_decision",
    "verify",
]
