"""authorize(): one row per (scope, token project, method, path) that matters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from waypost.control.access import authorize, project_of
from waypost.control.auth import Principal, TokenCheck, hash_token
from waypost.errors import Forbidden, Unauthorized

EP = "/api/v1/endpoints/acme/shop/churn/1/web"
DEPLOY = "/api/v1/projects/acme/shop/deployments/churn/versions"
OTHER = "/api/v1/projects/other/proj/deployments/x/versions"

ALLOWED = [
    ("admin", None, "DELETE", "/api/v1/tokens/3", None),
    ("admin", None, "GET", "/api/v1/internal/routes", None),
    ("gateway", None, "GET", "/api/v1/internal/routes", None),
    ("gateway", None, "POST", "/api/v1/internal/report", None),
    ("deploy", None, "POST", OTHER, None),
    ("deploy", "acme/shop", "GET", "/api/v1/internal/gateways", None),
    ("read", None, "GET", "/api/v1/internal/gateways", None),
    ("deploy", "acme/shop", "POST", DEPLOY, None),
    ("deploy", "acme/shop", "PUT", EP + "/stop", None),
    ("deploy", "acme/shop", "GET", "/api/v1/endpoints", "acme/shop"),
    ("read", None, "GET", "/api/v1/projects", None),
    ("read", "acme/shop", "GET", EP, None),
    ("read", "acme/shop", "GET", "/api/v1/models/acme/shop/run", None),
]

REFUSED = [
    ("read", None, "POST", DEPLOY, None, "may only read"),
    ("read", None, "PUT", EP + "/stop", None, "may only read"),
    ("read", None, "GET", "/api/v1/internal/routes", None, "internal routes are for gateways"),
    ("deploy", None, "POST", "/api/v1/internal/report", None, "internal routes are for"),
    ("invoke", None, "GET", "/api/v1/internal/gateways", None, "internal routes are for"),
    ("deploy", None, "GET", "/api/v1/tokens", None, "needs an admin token"),
    ("deploy", "acme/shop", "POST", OTHER, None, "limited to project acme/shop, not project other"),
    ("deploy", "acme/shop", "GET", "/api/v1/projects", None, "not every project"),
    ("deploy", "acme/shop", "GET", "/api/v1/endpoints", "other/proj", "limited to project"),
    ("read", "acme/shop", "GET", "/api/v1/endpoints/acme/shopping/x/1/web", None, "limited"),
    ("gateway", None, "GET", "/api/v1/projects", None, "only use the internal routes"),
    ("invoke", "acme/shop", "GET", EP, None, "calls endpoints through the gateway"),
    ("wizard", None, "GET", EP, None, "unknown token scope"),
]


@pytest.mark.parametrize(
    ("scope", "project", "method", "path", "query"),
    [pytest.param(*row, id=f"{row[0]}-{row[2]}-{row[3]}") for row in ALLOWED],
)
def test_allowed(
    scope: str, project: str | None, method: str, path: str, query: str | None
) -> None:
    authorize(scope, project, method, path, query)


@pytest.mark.parametrize(
    ("scope", "project", "method", "path", "query", "fragment"),
    [pytest.param(*row, id=f"{row[0]}-{row[2]}-{row[3]}") for row in REFUSED],
)
def test_refused(
    scope: str, project: str | None, method: str, path: str, query: str | None, fragment: str
) -> None:
    with pytest.raises(Forbidden, match=fragment):
        authorize(scope, project, method, path, query)


def test_project_of_prefers_the_path() -> None:
    assert project_of(EP, "other/proj") == "acme/shop"
    assert project_of("/api/v1/endpoints", "other/proj") == "other/proj"
    assert project_of("/api/v1/projects", None) is None


@dataclass(frozen=True)
class Stored:
    id: int
    name: str
    token_hash: str
    scope: str
    project: str | None
    expires_at: datetime | None
    revoked: bool


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def check_with(*stored: Stored) -> TokenCheck:
    by_hash = {s.token_hash: s for s in stored}
    return TokenCheck(by_hash.get, clock=lambda: NOW)


def test_stored_tokens_are_found_by_hash() -> None:
    tokens = check_with(Stored(7, "ci", hash_token("wp_a"), "deploy", "acme/shop", None, False))
    assert tokens("Bearer wp_a") == Principal("ci", "deploy", "acme/shop", 7)


@pytest.mark.parametrize(
    ("header", "stored", "fragment"),
    [
        pytest.param(None, None, "needs a token", id="missing"),
        pytest.param("Basic abc", None, "needs a token", id="not-bearer"),
        pytest.param("Bearer wp_nope", None, "not valid", id="unknown"),
        pytest.param(
            "Bearer wp_a",
            Stored(1, "x", hash_token("wp_a"), "read", None, None, True),
            "not valid",
            id="revoked",
        ),
        pytest.param(
            "Bearer wp_a",
            Stored(1, "x", hash_token("wp_a"), "read", None, NOW - timedelta(seconds=1), False),
            "expired",
            id="expired",
        ),
    ],
)
def test_refused_tokens(header: str | None, stored: Stored | None, fragment: str) -> None:
    tokens = check_with(*([stored] if stored else []))
    with pytest.raises(Unauthorized, match=fragment):
        tokens(header)
