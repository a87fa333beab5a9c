"""The web console and playground, served by the control plane on its own port at ``/``.

Server-rendered pages (Jinja2, ``templates/``) over the same reads and JSON shapes as
the REST API, made live by a small script (``static/console.js``: fetch, partial HTML
swaps polled every second, the REST API called with the session cookie). Charts are
SVG drawn on the server (``charts``). Pages: endpoints and aliases, one endpoint
(seed 004 §4), its settings (§3), its playground (§5), a new endpoint (§2.3), aliases.

Why no front-end framework or chart library: the console must work with nothing
outside the machine reachable (no CDN) and the project commits no third-party code;
what the pages need — polling, swapping HTML, a few forms, four line charts, a
streamed chat — is a few hundred lines of plain JavaScript and Python, written here.

May import: ``waypost.control`` (context, auth, access, views, history), ``waypost.model``,
``waypost.errors``, ``waypost.gateway.core`` (pure rules: who may invoke, header
names), FastAPI/Starlette, Jinja2 and httpx (the playground's forwarding). Never the
store directly (reads go through ``ControlService``), never ``waypost.runtimes``.

Package data: ``console/templates/*.html``, ``console/static/*.js``, ``console/static/*.css``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from waypost.console.metrics import metrics_routes
from waypost.console.pages import page_routes
from waypost.console.playground import playground_routes
from waypost.console.session import SignInNeeded, session_routes, signin_redirect
from waypost.console.templating import STATIC_DIR
from waypost.control.context import ControlContext

__all__ = ["console_routes", "mount_console"]


def console_routes(ctx: ControlContext) -> APIRouter:
    """The console's pages, fragments and playground forwarding (left out of the API docs)."""
    router = APIRouter(include_in_schema=False)
    session_routes(router, ctx)
    page_routes(router, ctx)
    playground_routes(router, ctx)
    return router


def mount_console(app: FastAPI, ctx: ControlContext) -> None:
    """Add the console, its static files and the metrics API route to ``app``."""
    app.include_router(metrics_routes(ctx))
    app.include_router(console_routes(ctx))
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    async def to_signin(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        return signin_redirect(exc)

    app.add_exception_handler(SignInNeeded, to_signin)
