"""Who may do what on the management API: a pure function of the caller and the request.

Scopes (issue 7): ``admin`` does anything; ``deploy`` reads everything and changes
its project (or every project when it names none); ``read`` only reads; ``invoke``
calls endpoints through the gateway and has no business here; ``gateway`` is the
gateways' own scope, for the internal routes only. A token limited to a project
reaches only routes that name that project in their path or ``?project=``.

Deciding in one place, from the method and path, means a route added later is
covered without remembering to decorate it.
"""

from __future__ import annotations

import re
from typing import Literal

from waypost.errors import Forbidden

__all__ = ["SCOPES", "Scope", "authorize", "project_of"]

Scope = Literal["admin", "deploy", "read", "invoke", "gateway"]
SCOPES: tuple[Scope, ...] = ("admin", "deploy", "read", "invoke", "gateway")

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PROJECT_IN_PATH = re.compile(r"^/api/v1/(?:projects|endpoints|models)/([^/]+)/([^/]+)(?:/|$)")
_INTERNAL = "/api/v1/internal/"
_GATEWAYS_STATUS = "/api/v1/internal/gateways"
_ADMIN_ONLY = ("/api/v1/tokens",)
#: What the installation offers (models, clusters, resources, frameworks): readable by any
#: read or deploy token, whatever project it is limited to, since creating an endpoint needs it.
_CATALOGUE = frozenset(
    {"/api/v1/models", "/api/v1/cluster", "/api/v1/space_resources", "/api/v1/runtime_frameworks"}
)


def project_of(path: str, query_project: str | None) -> str | None:
    """``org/project`` a request is about, from its path or its ``?project=``."""
    match = _PROJECT_IN_PATH.match(path)
    if match:
        return f"{match.group(1)}/{match.group(2)}"
    return query_project


def authorize(
    scope: str, token_project: str | None, method: str, path: str, query_project: str | None
) -> None:
    """Return if the call is allowed; raise Forbidden with a sentence saying why not."""
    if scope == "admin":
        return
    if path.startswith(_INTERNAL):
        if scope == "gateway":
            return
        # Which revision gateways serve is what `waypost deploy` waits on: anyone may read it.
        if path == _GATEWAYS_STATUS and method.upper() in _READ_METHODS and scope != "invoke":
            return
        raise Forbidden("internal routes are for gateways: this token's scope is " + scope)
    if scope == "gateway":
        raise Forbidden("a gateway token may only use the internal routes")
    if scope == "invoke":
        raise Forbidden(
            "an invoke token calls endpoints through the gateway; it cannot use the management API"
        )
    if path.startswith(_ADMIN_ONLY):
        raise Forbidden("managing tokens needs an admin token")
    if scope == "read" and method.upper() not in _READ_METHODS:
        raise Forbidden(f"a read token cannot {method.upper()}: it may only read")
    if scope not in ("read", "deploy"):
        raise Forbidden(f"unknown token scope {scope!r}")
    if token_project is not None and not (
        path.rstrip("/") in _CATALOGUE and method.upper() in _READ_METHODS
    ):
        asked = project_of(path, query_project)
        if asked != token_project:
            where = f"project {asked}" if asked else "every project"
            raise Forbidden(f"this token is limited to project {token_project}, not {where}")
