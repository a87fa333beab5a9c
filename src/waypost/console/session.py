"""Signing in and out of the console, and who a page request comes from.

Sign-in takes the same tokens as the API and checks them the same way
(``ctx.tokens``); the token is then kept in an HttpOnly, SameSite=Strict cookie
(``control.context.CONSOLE_COOKIE``), which the API also accepts (with the
``X-Waypost-Console`` header for anything but GET and HEAD). A page asked for without
a valid cookie redirects to ``/signin``; a fragment or console call answers 401 and
the page's script goes to the sign-in page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from waypost.console.templating import SECURITY_HEADERS, page
from waypost.console.visibility import may_read
from waypost.control.auth import Principal
from waypost.control.context import CONSOLE_COOKIE, CONSOLE_HEADER, ControlContext
from waypost.errors import Forbidden, Unauthorized

__all__ = [
    "Console",
    "Page",
    "SignInNeeded",
    "console_principal",
    "local_path",
    "page_principal",
    "session_routes",
]

#: How long the browser keeps the cookie (the token itself may live longer).
COOKIE_SECONDS = 12 * 3600


class SignInNeeded(Exception):
    """A page was asked for without a valid session: answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _from_cookie(request: Request) -> Principal:
    ctx: ControlContext = request.app.state.ctx
    token = request.cookies.get(CONSOLE_COOKIE)
    if not token:
        raise Unauthorized("sign in to the console first")
    return ctx.tokens(f"Bearer {token}")


def page_principal(request: Request) -> Principal:
    try:
        return _from_cookie(request)
    except Unauthorized:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target) from None


def console_principal(request: Request) -> Principal:
    """For fragments and console calls: 401 without a session; 403 for a change without
    the console's header (the same rule as the API's)."""
    who = _from_cookie(request)
    if request.method not in ("GET", "HEAD") and request.headers.get(CONSOLE_HEADER) != "1":
        raise Forbidden(f"console calls that change something need {CONSOLE_HEADER}: 1")
    return who


Page = Annotated[Principal, Depends(page_principal)]
Console = Annotated[Principal, Depends(console_principal)]


def local_path(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def session_routes(router: APIRouter, ctx: ControlContext) -> None:
    @router.get("/signin")
    async def signin_form(next: str | None = None) -> Response:
        return page("signin.html", next=local_path(next), error=None, user=None)

    @router.post("/signin")
    async def signin(
        token: Annotated[str, Form(max_length=500)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        token = token.strip()
        error = None
        try:
            if not token:
                raise Unauthorized("enter a token to sign in")
            who = ctx.tokens(f"Bearer {token}")
        except Unauthorized as exc:
            error = exc.message
        else:
            if not may_read(who, "/api/v1/endpoints", who.project):
                error = (
                    f"a {who.scope} token cannot use the console: "
                    "sign in with an admin, deploy or read token"
                )
        if error is not None:
            return page("signin.html", status=401, next=local_path(next), error=error, user=None)
        response = RedirectResponse(local_path(next), status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            CONSOLE_COOKIE,
            token,
            max_age=COOKIE_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
        )
        return response

    @router.post("/signout")
    async def signout() -> Response:
        response = RedirectResponse("/signin", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(CONSOLE_COOKIE, path="/", httponly=True, samesite="strict")
        return response


def signin_redirect(exc: SignInNeeded) -> Response:
    return RedirectResponse(
        "/signin?next=" + quote(exc.next_path, safe=""), status_code=303, headers=SECURITY_HEADERS
    )
