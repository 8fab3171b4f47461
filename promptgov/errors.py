"""The one exception tree of promptgov.

::

    PromptGovError                      exit 2, HTTP 400 (root; never raised bare)
    ├── InputError                      exit 2, HTTP 400  bad file, bad argument
    │   ├── NotFound                    exit 2, HTTP 404  unknown prompt / version / env / file
    │   ├── Conflict                    exit 2, HTTP 409  pointer moved, duplicate content, locked
    │   ├── InvalidFile                 exit 2, HTTP 422  malformed YAML/JSON, schema violation
    │   ├── UnsafePath                  exit 2, HTTP 400  path traversal, separators in names
    │   ├── PermissionDenied            exit 2, HTTP 403  approver not allowed, self-approval
    │   ├── NotAuthenticated            exit 2, HTTP 401  no valid token or identity
    │   └── Unavailable                 exit 2, HTTP 503  a replica's git remote is down
    ├── IntegrityError                  exit 1, HTTP 422  stored bytes do not match their hash
    └── CheckFailed                     exit 1, HTTP 422  a check ran and said no
        ├── GateFailed                  exit 1, HTTP 422  eval gate verdict is fail
        ├── GateInconclusive            exit 3, HTTP 422  eval gate cannot tell
        └── VerificationFailed          exit 1, HTTP 422  verify / audit verify found problems

Messages are written where the error is raised: what is wrong, then what to do.
Every class carries ``exit_code`` (CLI) and ``http_status`` (server) so the two
shells map errors the same way.

A message fits every caller, so it never names a command or a flag. What to do on the
command line (``run 'promptgov init'``, ``pass --var message=…``) goes in ``cli_hint``,
which only the CLI prints (:attr:`PromptGovError.cli_message`)::

    raise NotFound(f"no governed repository at {path}.", cli_hint="Run 'promptgov init'.")
"""

from __future__ import annotations

from typing import Any


class PromptGovError(Exception):
    """Root of every error promptgov raises on purpose."""

    exit_code: int = 2
    http_status: int = 400

    def __init__(self, message: str, *, cli_hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        #: What to do at the command line; the CLI prints it after the message.
        self.cli_hint = cli_hint
        #: Objects the error is about (``version=``, ``env=``…), for JSON bodies.
        self.context = context

    @property
    def cli_message(self) -> str:
        """The message with its command-line hint, as ``promptgov`` prints it."""
        return f"{self.message} {self.cli_hint}" if self.cli_hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready problem description."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            **{k: v for k, v in self.context.items() if isinstance(v, str | int | float | bool)},
        }


class InputError(PromptGovError):
    """The caller gave something promptgov cannot use (exit 2)."""


class NotFound(InputError):
    """An unknown prompt, version, environment or file."""

    http_status = 404


class Conflict(InputError):
    """The state changed under the caller, or the thing already exists."""

    http_status = 409


class InvalidFile(InputError):
    """A file is malformed or violates its schema."""

    http_status = 422


class UnsafePath(InputError):
    """A name or path would escape the repository."""


class PermissionDenied(InputError):
    """The actor may not do this (approver not allowed, self-approval…)."""

    http_status = 403


class NotAuthenticated(InputError):
    """No valid credential: a token that is unknown, expired or revoked, or none at all."""

    http_status = 401


class Unavailable(InputError):
    """Something the answer depends on cannot be reached now (a replica's git remote)."""

    http_status = 503


class IntegrityError(PromptGovError):
    """Stored bytes no longer match their recorded hash: never served."""

    exit_code = 1
    http_status = 422


class CheckFailed(PromptGovError):
    """A check ran and its answer is no (exit 1)."""

    exit_code = 1
    http_status = 422


class GateFailed(CheckFailed):
    """The eval gate's verdict is *fail*."""


class GateInconclusive(CheckFailed):
    """The eval gate cannot tell with the samples at hand (exit 3)."""

    exit_code = 3


class VerificationFailed(CheckFailed):
    """``verify`` or ``audit verify`` found at least one problem."""
