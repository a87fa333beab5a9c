"""What every API route shares: the context it serves from and who is calling.

Kept apart from ``api`` so route modules (tokens, aliases, endpoints) can import it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from waypost.control.access import authorize
from waypost.control.auth import Principal, TokenCheck
from waypost.control.service import ControlService
from waypost.runtimes.base import Runtime

__all__ = ["Caller", "ControlContext", "principal"]


@dataclass(frozen=True)
class ControlContext:
    service: ControlService
    runtime: Runtime
    tokens: TokenCheck

    @property
    def gateway_url(self) -> str:
        return self.service.settings.gateway_url


def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Who is calling: every route under /api/v1 but health needs a token whose scope fits."""
    ctx: ControlContext = request.app.state.ctx
    who = ctx.tokens(authorization)
    query_project = request.query_params.get("project")
    authorize(who.scope, who.project, request.method, request.url.path, query_project)
    return who


#: A route parameter that names the caller (FastAPI caches the dependency per request).
Caller = Annotated[Principal, Depends(principal)]
