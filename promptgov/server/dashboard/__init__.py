"""The web dashboard under ``/ui``, served by ``promptgov serve`` beside the API.

Pages are rendered on the server (Jinja2, SVG charts) and read without JavaScript;
forms post with a CSRF token and act through the same actions and role checks as the
write API. Styles and the one script are served from this package, never from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from ._jobs import Jobs
from ._routes import PREFIX, router
from ._session import Sessions

__all__ = ["PREFIX", "install"]


def install(app: FastAPI) -> None:
    """Add the pages, their static files and the session store to ``app``."""
    app.state.dashboard_sessions = Sessions()
    app.state.dashboard_jobs = Jobs()
    app.include_router(router)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="dashboard-static",
    )

    @app.get(PREFIX, include_in_schema=False)
    def _slash() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)
