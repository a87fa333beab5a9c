"""What a signed-in token may see in the console: a pure function of its principal.

The console shows only what the management API would let the token read (the same
``control.access.authorize`` decision, asked with the API path the page stands for),
and, further, hides private endpoints from tokens that may not call them: a ``read``
token, or a token limited to another project. Calling is the gateway's rule
(``gateway.core.access.may_invoke``), so the console asks that same function.
"""

from __future__ import annotations

from waypost.control.access import authorize
from waypost.control.auth import Principal
from waypost.errors import Forbidden
from waypost.gateway.core.access import may_invoke
from waypost.model.routes import TokenGrant

__all__ = ["check_read", "may_read", "sees_endpoint"]


def check_read(who: Principal, api_path: str, project: str | None = None) -> None:
    """Raise Forbidden unless ``who`` may GET ``api_path`` (``?project=project``)."""
    authorize(who.scope, who.project, "GET", api_path, project)


def may_read(who: Principal, api_path: str, project: str | None = None) -> bool:
    try:
        check_read(who, api_path, project)
    except Forbidden:
        return False
    return True


def sees_endpoint(who: Principal, key: str, visibility: str) -> bool:
    """Whether the endpoint ``key`` (``org/project/dep/version/name``) is shown to ``who``."""
    org, project, *_ = key.split("/", 2)
    if who.project is not None and who.project != f"{org}/{project}":
        return False
    if visibility != "private":
        return True
    return may_invoke(TokenGrant("", who.scope, who.project, None), key)
