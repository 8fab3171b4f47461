"""The dashboard's pages under ``/ui``: each reads through the registry or the audit log and
acts through the same actions (and the same role check) as the write API."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ... import docs_gen, lifecycle
from ...actions.approve import ApproveOptions, approve
from ...actions.rollback import RollbackOptions, rollback
from ...audit import AuditLog
from ...audit._record import parse_time
from ...errors import InputError, NotAuthenticated, PermissionDenied, PromptGovError
from ...identity import Role
from ...store.paths import AUDIT_FILE
from .._auth import server_state
from .._state import ServerState
from .._views import check_prompt_name
from .._writes import _act
from . import _queries
from ._charts import bar_chart
from ._diff import side_by_side
from ._jobs import Jobs
from ._session import COOKIE, Viewer, check_csrf, sessions, set_cookie, signed_in

PREFIX = "/ui"
LOGIN_COOKIE = "pg_login"
#: Pages draw only from this server: no CDN, no inline script, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
State = Annotated[ServerState, Depends(server_state)]


def _html(request: Request, template: str, code: int = 200, **ctx: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, ctx, status_code=code)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(
    request: Request,
    state: ServerState,
    template: str,
    build: Callable[[Viewer | None], dict[str, Any]],
    *,
    status: int = 200,
) -> Response:
    """Sign-in check, then ``build``; a library error becomes the error page, with its
    status and its one-line message."""
    viewer = signed_in(request, state)
    if viewer is None and state.policy().reads != "open":
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    try:
        ctx = build(viewer)
    except PromptGovError as exc:
        return _error(request, viewer, exc)
    return _html(request, template, status, viewer=viewer, **ctx)


def _error(request: Request, viewer: Viewer | None, exc: PromptGovError) -> HTMLResponse:
    """The error page: the library's one-line message under its HTTP status."""
    return _html(
        request,
        "error.html",
        exc.http_status,
        viewer=viewer,
        message=exc.message,
        status=exc.http_status,
    )


def jobs(request: Request) -> Jobs:
    """The app's rollback jobs."""
    j: Jobs = request.app.state.dashboard_jobs
    return j


def _actor(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise NotAuthenticated("sign in to act.")
    return viewer


def _verify(state: ServerState) -> Any:
    return state.memo("audit-verify-report", (AUDIT_FILE,), lambda: AuditLog(state.root).verify())


# ------------------------------------------------------------------ sign-in


@router.get("/login")
def login_form(request: Request, state: State, error: str | None = None) -> Response:
    """The token form; a random cookie binds its CSRF token to this browser."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = _html(
        request,
        "login.html",
        401 if error else 200,
        viewer=None,
        csrf=sessions(request).csrf("login:" + nonce),
        error=error,
        proxy=state.options.trusted_proxy_header,
    )
    set_cookie(request, response, nonce, name=LOGIN_COOKIE, path=PREFIX, max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request,
    state: State,
    token: Annotated[str, Form(max_length=400)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Exchange a token for a session cookie."""
    store = sessions(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not secrets.compare_digest(csrf, store.csrf("login:" + nonce)):
        stale = "the sign-in form's CSRF token is missing or stale; reload the page."
        return _error(request, None, PermissionDenied(stale))
    try:
        state.tokens().authenticate(token.strip())
    except NotAuthenticated:
        return login_form(
            request, state, error="That token is not valid (unknown, revoked or expired)."
        )
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    set_cookie(request, response, store.open(token.strip()))
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(
    request: Request, state: State, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """End the session."""
    viewer = signed_in(request, state)
    if viewer is not None:
        check_csrf(viewer, csrf)
    sessions(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ------------------------------------------------------------------ pages


@router.get("/")
def overview(request: Request, state: State) -> Response:
    """Every prompt × environment, and the audit chain's badge."""

    def build(viewer: Viewer | None) -> dict[str, Any]:
        rows = state.read(_queries.overview)
        envs = state.read(lambda r: r.repo.config.env_names)
        return {"rows": rows, "envs": envs, "verify": _verify(state)}

    return _page(request, state, "overview.html", build)


def _mermaid_blocks(doc: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", doc, flags=re.S)


@router.get("/prompts/{name}")
def prompt_page(request: Request, state: State, name: str) -> Response:
    """Timeline, per-version charts, card, diff picker and the two diagrams."""
    check_prompt_name(name)

    def build(viewer: Viewer | None) -> dict[str, Any]:
        def fn(reg: Any) -> dict[str, Any]:
            entry = reg.entry(name)
            figs = _queries.figures(reg, name)
            latest = entry.versions[-1] if entry.versions else None
            return {
                "name": name,
                "entry": entry,
                "history": list(reversed(reg.history(name))),
                "envs": reg.repo.config.env_names,
                "releaser": {
                    env: viewer is not None and viewer.who.allows(Role.RELEASER, env)
                    for env in reg.repo.config.env_names
                },
                "card": (
                    reg.get(f"{name}@{latest.version}").card.model_dump(mode="json")
                    if latest
                    else {}
                ),
                "charts": [
                    bar_chart(
                        f"Eval pass rate per version of {name}",
                        [(f.version, f.pass_rate) for f in figs],
                        fmt=lambda v: f"{v:.0%}",
                        top=1.0,
                    ),
                    bar_chart(
                        f"Mean cost per call per version of {name}",
                        [(f.version, f.cost) for f in figs],
                        fmt=lambda v: f"${v:.5f}",
                    ),
                    bar_chart(
                        f"p95 latency (ms) per version of {name}",
                        [(f.version, f.p95_ms) for f in figs],
                        fmt=lambda v: f"{v:.0f} ms",
                    ),
                ],
                "c_titles": ["Pass rate", "Mean cost per call", "p95 latency"],
                "figures": figs,
                "lifecycle": _mermaid_blocks(docs_gen.lifecycle_doc()) or [lifecycle.mermaid()],
                "pipeline": _mermaid_blocks(docs_gen.pipeline_doc(reg.repo.config)),
            }

        return state.read(fn)

    return _page(request, state, "prompt.html", build)


@router.get("/prompts/{name}/diff")
def diff_page(request: Request, state: State, name: str, a: str, b: str) -> Response:
    """Side by side: template lines, parameters, variables and card fields of two versions."""
    check_prompt_name(name)

    def build(viewer: Viewer | None) -> dict[str, Any]:
        d = state.read(lambda r: r.diff(name, a, b))
        return {"name": name, "diff": d, "rows": side_by_side(d.template)}

    return _page(request, state, "diff.html", build)


@router.get("/approvals")
def approvals_page(request: Request, state: State) -> Response:
    """Versions waiting for the signed-in user's approval, with gate report and diff."""

    def build(viewer: Viewer | None) -> dict[str, Any]:
        v = _actor(viewer)
        queue = state.read(lambda r: _queries.approvals_for(r, v.who.name))
        items = [(w, side_by_side(w.diff.template) if w.diff else []) for w in queue]
        return {
            "items": items,
            "can_approve": {w.env: v.who.allows(Role.APPROVER, w.env) for w in queue},
        }

    return _page(request, state, "approvals.html", build)


@router.post("/prompts/{name}/versions/{version}/approve")
def approve_post(
    request: Request,
    state: State,
    name: str,
    version: str,
    env: Annotated[str, Form(max_length=100)],
    comment: Annotated[str, Form(max_length=4000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """``promptgov approve`` as the signed-in user (approver role for ``env``)."""

    def build(viewer: Viewer | None) -> dict[str, Any]:
        v = _actor(viewer)
        check_csrf(v, csrf)
        options = ApproveOptions(env=env, comment=comment)
        done = _act(
            state,
            v.who,
            Role.APPROVER,
            env,
            "approve",
            lambda r: approve(r, f"{name}@{version}", options, by=v.who.name),
            name=name,
        )
        return {
            "title": "Approved",
            "message": f"{done.by} approved {name}@{version} for {env}.",
            "back": f"{PREFIX}/approvals",
        }

    return _page(request, state, "done.html", build)


def _evidence(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())[:50]


def _roll_back(
    state: ServerState, v: Viewer, name: str, options: RollbackOptions
) -> dict[str, Any]:
    """``promptgov rollback`` (or its dry run) as ``v``, who needs the releaser role there."""
    result = _act(
        state,
        v.who,
        Role.RELEASER,
        options.env,
        "roll back",
        lambda r: rollback(r, name, options, by=v.who.name),
        name=name,
    )
    return {"name": name, "env": options.env, "result": result}


@router.get("/prompts/{name}/rollback")
def rollback_form(request: Request, state: State, name: str, env: str) -> Response:
    """The dry-run plan (last known good, and why each newer candidate was skipped), and the
    form asking for reason and evidence. Releasers of ``env`` only."""

    def build(viewer: Viewer | None) -> dict[str, Any]:
        options = RollbackOptions(reason="dry run", env=env, dry_run=True)
        return _roll_back(state, _actor(viewer), name, options)

    return _page(request, state, "rollback.html", build)


@router.post("/prompts/{name}/rollback")
def rollback_post(
    request: Request,
    state: State,
    name: str,
    env: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(min_length=1, max_length=4000)],
    evidence: Annotated[str, Form(max_length=20000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """``promptgov rollback`` as the signed-in releaser: checked and planned now, run
    beside the request; the browser is sent to the page that follows its checklist."""
    viewer = signed_in(request, state)
    if viewer is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    try:
        check_csrf(viewer, csrf)
        options = RollbackOptions(reason=reason, env=env, evidence=_evidence(evidence))
        planned = _roll_back(state, viewer, name, replace(options, dry_run=True))["result"]
    except PromptGovError as exc:
        return _error(request, viewer, exc)
    job = jobs(request).start(
        viewer.who.name, planned.plan, lambda: _roll_back(state, viewer, name, options)["result"]
    )
    return RedirectResponse(f"{PREFIX}/rollbacks/{job.id}", status_code=303)


@router.get("/rollbacks/{job_id}")
def rollback_progress(request: Request, state: State, job_id: str) -> Response:
    """The checklist of a rollback: filling in while it runs (the page reloads itself, no
    script needed), then the result, or the error that stopped it."""

    def build(viewer: Viewer | None) -> dict[str, Any]:
        v = _actor(viewer)
        job = jobs(request).get(job_id[:64], v.who.name)
        if job.error is not None:
            raise job.error
        plan = job.plan
        if job.result is not None:
            return {"name": plan.prompt, "env": plan.env, "result": job.result, "running": False}
        checklist = job.progress(state.fresh)
        return {
            "name": plan.prompt,
            "env": plan.env,
            "result": job.result,
            "plan": plan,
            "checklist": checklist,
            "running": True,
        }

    return _page(request, state, "rolled_back.html", build)


def _time(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except (InputError, ValueError):
        raise InputError(
            f"{field}: {value[:40]!r} is not a time such as 2026-01-31T12:00Z."
        ) from None


@router.get("/audit")
def audit_page(
    request: Request,
    state: State,
    prompt: str = "",
    action: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    """The audit log, newest first, filtered; the chain's verify result on top."""

    def build(viewer: Viewer | None) -> dict[str, Any]:
        view = _queries.audit_view(
            AuditLog(state.root),
            _verify(state),
            prompt=prompt or None,
            action=action or None,
            actor=actor or None,
            since=_time(since, "since"),
            until=_time(until, "until"),
        )
        filters = {
            "prompt": prompt,
            "action": action,
            "actor": actor,
            "since": since,
            "until": until,
        }
        return {"view": view, "verify": view.report, "filters": filters}

    return _page(request, state, "audit.html", build)
