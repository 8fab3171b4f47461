"""The HTTP server: the library's reads and actions over HTTP, with tokens and roles.

::

    app = create_app("path/to/repo", ServerOptions(trusted_proxy_header="X-Forwarded-User",
                                                   trusted_proxy_cidrs=("10.0.0.0/8",)))
    serve(app, port=8700)

Every route is one call into the function the CLI uses; the authenticated identity is
the actor. See docs/server.md for the endpoints.
"""

from __future__ import annotations

from ._app import DEFAULT_HOST, DEFAULT_PORT, DOCS_PATH, OPENAPI_PATH, create_app, serve
from ._events import EVENT_TYPES, EventFeed, event_of
from ._problems import Problem
from ._replica import Replica, clone_replica, default_clone_dir
from ._state import ServerOptions, ServerState
from ._views import PromptView

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DOCS_PATH",
    "EVENT_TYPES",
    "OPENAPI_PATH",
    "EventFeed",
    "Problem",
    "PromptView",
    "Replica",
    "ServerOptions",
    "ServerState",
    "clone_replica",
    "create_app",
    "default_clone_dir",
    "event_of",
    "serve",
]
