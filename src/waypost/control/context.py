"""What every API route shares: the context it serves from and who is calling.

Kept apart from ``api`` so route modules (tokens, aliases, endpoints) can import it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from pydantic import BaseModel

from waypost.control.access import authorize
from waypost.control.auth import Principal, TokenCheck
from waypost.control.service import ControlService
from waypost.errors import Forbidden
from waypost.runtimes.base import Runtime

__all__ = [
    "CONSOLE_COOKIE",
    "CONSOLE_HEADER",
    "ERROR_RESPONSES",
    "MAX_ID",
    "Caller",
    "ControlContext",
    "ErrorBody",
    "VersionNumber",
    "principal",
]


@dataclass(frozen=True)
class ControlContext:
    service: ControlService
    runtime: Runtime
    tokens: TokenCheck

    @property
    def gateway_url(self) -> str:
        return self.service.settings.gateway_url


#: The web console's session cookie: the token itself, HttpOnly and SameSite=Strict.
CONSOLE_COOKIE = "waypost_session"
#: What a cookie-authenticated request that changes something must carry (against CSRF:
#: another origin cannot add a custom header without a CORS preflight, never granted).
CONSOLE_HEADER = "X-Waypost-Console"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Who is calling: every route under /api/v1 but health needs a token whose scope fits.

    The token comes from the ``Authorization`` header or, for the console, from its
    session cookie (a request with the header ignores the cookie).
    """
    ctx: ControlContext = request.app.state.ctx
    cookie = request.cookies.get(CONSOLE_COOKIE)
    if authorization is None and cookie:
        if request.method not in _SAFE_METHODS and request.headers.get(CONSOLE_HEADER) != "1":
            raise Forbidden(f"a change signed by the console's cookie needs {CONSOLE_HEADER}: 1")
        authorization = f"Bearer {cookie}"
    who = ctx.tokens(authorization)
    query_project = request.query_params.get("project")
    authorize(who.scope, who.project, request.method, request.url.path, query_project)
    return who


#: The largest id or version number the databases store (a 32-bit signed integer).
MAX_ID = 2**31 - 1
#: A version number in a path: bounded so no input can overflow a database integer.
VersionNumber = Annotated[int, Path(ge=1, le=MAX_ID)]

#: A route parameter that names the caller (FastAPI caches the dependency per request).
Caller = Annotated[Principal, Depends(principal)]


class ProblemBody(BaseModel):
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error the API answers: a code, a sentence, and where input was wrong."""

    error: str
    message: str
    problems: list[ProblemBody] | None = None


#: Documented on every route: the errors any of them can answer.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "no token, or one that is not valid"),
        (403, "the token's scope does not allow this"),
        (404, "no such thing"),
        (409, "the action does not fit the current state"),
        (413, "too large"),
        (422, "the input is not valid; problems say where"),
    )
}
