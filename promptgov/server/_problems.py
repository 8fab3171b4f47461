"""RFC 9457 problem details: one handler for the library's exception tree, one for bad
requests, one for routing errors, and one last resort that never leaks internals."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from ..errors import NotAuthenticated, PromptGovError

PROBLEM_TYPE = "application/problem+json"
_log = logging.getLogger("promptgov.server")


class Problem(BaseModel):
    """An RFC 9457 problem: ``type``, ``title``, ``status``, ``detail``, and the objects it
    is about (``prompt``, ``env``, ``current``…) as extension members."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="urn:promptgov:problem:<kind>, or about:blank.")
    title: str
    status: int
    detail: str


#: The error responses every route documents, so clients and schema checks know them.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM_TYPE: {}}, "description": text}
    for code, text in (
        (400, "Bad request"),
        (401, "No valid token"),
        (403, "The identity's role does not allow this"),
        (404, "Unknown prompt, version or environment"),
        (409, "The state changed: the current pointer is in the body"),
        (422, "Bad body or query (the field is named), or a check said no"),
    )
}


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem(
    status: int, title: str, detail: str, kind: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": f"urn:promptgov:problem:{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="promptgov"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PromptGovError)
    data = exc.to_dict()
    data.pop("message", None)
    kind = _kebab(data.pop("error"))
    title = kind.replace("-", " ").capitalize()
    response = problem(exc.http_status, title, exc.message, kind, **data)
    if isinstance(exc, NotAuthenticated) and request.url.path.startswith("/api/public/"):
        response.headers["WWW-Authenticate"] = 'Basic realm="promptgov"'
    return response


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem(
        422,
        "Invalid request",
        f"{first['field']}: {first['message']}{more}",
        "invalid-request",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    response = problem(exc.status_code, detail, detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The type only: an exception's text may quote request data.
    _log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return problem(500, "Internal error", "the server could not complete the request.")


def install(app: FastAPI) -> None:
    """Register the handlers (Starlette's class-keyed table picks the closest class)."""
    app.add_exception_handler(PromptGovError, _library_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
