"""The read API under ``/v1``: prompts, history, diffs, evals, the audit log, health.

Each route is one call into the same :class:`~promptgov.registry.Registry` or
:class:`~promptgov.audit.AuditLog` method the CLI uses. A prompt's body carries an
``ETag``; ``If-None-Match`` answers 304, so a client revalidates for a few bytes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..audit import AuditLog
from ..registry import LATEST, Registry
from ..store.paths import AUDIT_FILE, CONFIG_FILE, REGISTRY_FILE
from ._auth import Reader, State, policy
from ._problems import PROBLEM_RESPONSES
from ._views import PromptView, check_prompt_name, dump, etag, prompt_view, selector

router = APIRouter(responses=PROBLEM_RESPONSES)

#: A version's body never changes; an environment's is revalidated on every use.
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def _not_modified(request: Request, tag: str) -> bool:
    header = request.headers.get("if-none-match")
    return header is not None and (
        header.strip() == "*" or tag in [t.strip() for t in header.split(",")]
    )


@router.get("/v1/prompts", tags=["prompts"], summary="Every prompt with its environment pointers")
def list_prompts(state: State, who: Reader) -> list[dict[str, Any]]:
    """``promptgov status``: latest version, pointers, quarantines, open post-reviews."""
    return state.read(lambda reg: [r.to_dict() for r in reg.status()])


@router.get(
    "/v1/prompts/{name}",
    tags=["prompts"],
    response_model=PromptView,
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}},
    summary="One version, by environment, version or label",
)
async def get_prompt(
    name: str,
    request: Request,
    state: State,
    who: Reader,
    env: str | None = None,
    version: str | None = None,
    label: str | None = Query(default=None, description="production, latest or an environment."),
) -> Response:
    """The template or chat messages, parameters, variables, version, hash and card.

    With no selector, the production environment (``server.production_label``). An answer
    already in memory is sent from the event loop; building one runs in a worker thread.
    """
    check_prompt_name(name)
    production = (await policy(state)).production_label

    def make() -> tuple[bytes, str, bool]:
        def fn(reg: Registry) -> tuple[bytes, str, bool]:
            sel, served_env = selector(
                reg, env=env, version=version, label=label, production=production
            )
            v = reg.get(f"{name}@{sel}")
            body = dump(prompt_view(v, served_env).model_dump(mode="json"))
            return body, etag(body), served_env is None and sel != LATEST

        return state.read(fn)

    key = ("prompt", name, env, version, label, production)
    files = (REGISTRY_FILE, CONFIG_FILE)
    hit: tuple[bytes, str, bool] | None = state.cached(key, files)
    if hit is None:
        hit = await run_in_threadpool(state.memo, key, files, make)
    body, tag, pinned = hit
    headers = {"ETag": tag, "Cache-Control": IMMUTABLE if pinned else REVALIDATE}
    if _not_modified(request, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/v1/prompts/{name}/history", tags=["prompts"], summary="Every event and pointer move")
def history(name: str, state: State, who: Reader) -> dict[str, Any]:
    """``promptgov history``, and each environment's pointer moves with who, why, approvals
    and evidence."""
    check_prompt_name(name)

    def fn(reg: Registry) -> dict[str, Any]:
        entry = reg.entry(name)
        return {
            "prompt": name,
            "events": [e.to_dict() for e in reg.history(name)],
            "environments": {
                env: s.model_dump(mode="json") for env, s in entry.environments.items()
            },
        }

    return state.read(fn)


@router.get("/v1/prompts/{name}/diff", tags=["prompts"], summary="Differences of two versions")
def diff(
    name: str,
    state: State,
    who: Reader,
    a: str = Query(description="A version, an environment or latest."),
    b: str = Query(description="A version, an environment or latest."),
) -> dict[str, Any]:
    """``promptgov diff NAME A B``."""
    check_prompt_name(name)
    return state.read(lambda reg: reg.diff(name, a, b).to_dict())


@router.get(
    "/v1/prompts/{name}/versions/{version}/evals",
    tags=["prompts"],
    summary="Eval runs and gate verdicts of a version",
)
def evals(name: str, version: str, state: State, who: Reader) -> dict[str, Any]:
    """The runs recorded for the version's content hash and every gate verdict on it."""
    check_prompt_name(name)

    def fn(reg: Registry) -> dict[str, Any]:
        rec = reg.record(name, version)
        return {
            "prompt": name,
            "version": rec.version,
            "sha256": rec.sha256,
            "status": rec.status.value,
            "eval_runs": [r.model_dump(mode="json") for r in rec.eval_runs],
            "gate_results": [g.model_dump(mode="json") for g in rec.gate_results],
        }

    return state.read(fn)


@router.get("/v1/audit", tags=["audit"], summary="Audit entries, oldest first")
def audit_entries(
    state: State,
    who: Reader,
    prompt: str | None = None,
    action: str | None = Query(default=None, description="'promote' includes emergency ones."),
    since: str | None = Query(default=None, description="Only entries at or after this time."),
    after: int = Query(default=0, ge=0, description="Only entries after this sequence number."),
    limit: int = Query(default=1000, ge=1, le=10000),
) -> list[dict[str, Any]]:
    """``promptgov audit show``, with paging by sequence number."""
    out: list[dict[str, Any]] = []
    for entry in AuditLog(state.root).entries(prompt=prompt, action=action, since=since):
        if entry.seq > after:
            out.append(entry.to_dict())
            if len(out) >= limit:
                break
    return out


@router.get("/v1/audit/verify", tags=["audit"], summary="The audit chain's verify result")
def audit_verify(state: State, who: Reader) -> dict[str, Any]:
    """``promptgov audit verify``: hash chain and checkpoints (cached until the log changes)."""
    report: dict[str, Any] = state.memo(
        "audit-verify", (AUDIT_FILE,), lambda: AuditLog(state.root).verify().to_dict()
    )
    return report


@router.get("/healthz", tags=["health"], summary="The process is up")
def healthz() -> dict[str, str]:
    """Always 200 while the server runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="The repository verifies",
    responses={503: {"description": "Not ready: the repository does not verify"}},
)
def readyz(state: State) -> JSONResponse:
    """200 once ``promptgov verify`` passes on the served repository (and, on a replica,
    its first sync is done), else 503 with the number of problems (their text is for
    ``promptgov verify``, not the network). A replica's ``sync`` says whether the remote
    was reachable at the last try and how stale the clone may be."""
    from ..actions.verify import verify

    def check() -> tuple[bool, int]:
        report = verify(state.fresh().repo)  # a registry of its own: reads are not held up
        return report.ok, len(report.problems)

    ok, problems = state.memo("ready", state.watched_files(), check)
    body: dict[str, Any] = {"status": "ready" if ok else "not ready", "problems": problems}
    if state.replica is not None:  # ready once the first sync is done; stale is still served
        body["sync"] = state.replica.status()
        ok = ok and body["sync"]["synced"]
        body["status"] = "ready" if ok else "not ready"
    return JSONResponse(body, status_code=200 if ok else 503)
