"""Grants.check(): who may call a private endpoint, as a table of tokens and targets."""

from __future__ import annotations

import hashlib

import pytest

from waypost.errors import Forbidden, Unauthorized
from waypost.gateway.core.access import Grants, is_loopback, may_invoke
from waypost.gateway.core.table import RouteTable
from waypost.model.routes import RouteSnapshot, TokenGrant

TARGET = "acme/shop/hello/1/web"
NOW = 1_800_000_000.0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grant(
    token: str, scope: str, project: str | None = None, expires_at: float | None = None
) -> TokenGrant:
    return TokenGrant(digest(token), scope, project, expires_at)


GRANTS = Grants(
    [
        grant("t-admin", "admin"),
        grant("t-admin-other", "admin", "other/x"),  # admin ignores a project limit
        grant("t-invoke", "invoke"),
        grant("t-invoke-shop", "invoke", "acme/shop"),
        grant("t-invoke-key", "invoke", TARGET),
        grant("t-invoke-key-v2", "invoke", "acme/shop/hello/2/web"),
        grant("t-invoke-other", "invoke", "acme/other"),
        grant("t-deploy", "deploy"),
        grant("t-deploy-shop", "deploy", "acme/shop"),
        grant("t-deploy-key", "deploy", TARGET),  # only invoke tokens name a target key
        grant("t-read", "read"),
        grant("t-gateway", "gateway"),
        grant("t-expired", "invoke", expires_at=NOW - 1),
        grant("t-expires-now", "invoke", expires_at=NOW),
        grant("t-later", "invoke", expires_at=NOW + 1),
    ]
)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer t-admin", id="admin"),
        pytest.param("Bearer t-admin-other", id="admin-with-project"),
        pytest.param("Bearer t-invoke", id="invoke-any-project"),
        pytest.param("Bearer t-invoke-shop", id="invoke-this-project"),
        pytest.param("Bearer t-invoke-key", id="invoke-this-target"),
        pytest.param("Bearer t-deploy", id="deploy-any-project"),
        pytest.param("Bearer t-deploy-shop", id="deploy-this-project"),
        pytest.param("Bearer t-later", id="not-yet-expired"),
        pytest.param("bearer t-invoke", id="scheme-lower-case"),
        pytest.param("BEARER t-invoke", id="scheme-upper-case"),
        pytest.param("Bearer   t-invoke  ", id="extra-spaces"),
    ],
)
def test_allowed(authorization: str) -> None:
    GRANTS.check(authorization, TARGET, NOW)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer    ", id="empty-token"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("t-admin", id="no-scheme"),
        pytest.param("Token t-admin", id="other-scheme"),
    ],
)
def test_without_a_bearer_token_is_401(authorization: str | None) -> None:
    with pytest.raises(Unauthorized, match="private"):
        GRANTS.check(authorization, TARGET, NOW)


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        pytest.param("Bearer unknown", "not valid", id="unknown"),
        pytest.param("Bearer T-ADMIN", "not valid", id="token-is-case-sensitive"),
        pytest.param("Bearer t-admin x", "not valid", id="trailing-garbage"),
        pytest.param("Bearer " + digest("t-admin"), "not valid", id="the-hash-itself"),
        pytest.param("Bearer t-expired", "expired", id="expired"),
        pytest.param("Bearer t-expires-now", "expired", id="expires-now"),
        pytest.param("Bearer t-read", "may not invoke", id="read-scope"),
        pytest.param("Bearer t-gateway", "may not invoke", id="gateway-scope"),
        pytest.param("Bearer t-invoke-other", "limited to acme/other", id="other-project"),
        pytest.param("Bearer t-invoke-key-v2", "limited to", id="other-target"),
        pytest.param("Bearer t-deploy-key", "limited to", id="deploy-naming-a-target"),
    ],
)
def test_a_token_that_may_not_is_403(authorization: str, why: str) -> None:
    with pytest.raises(Forbidden, match=why):
        GRANTS.check(authorization, TARGET, NOW)


@pytest.mark.parametrize(
    ("scope", "project", "target", "allowed"),
    [
        pytest.param("invoke", "acme/shop", "acme/shopping/x/1/web", False, id="prefix-project"),
        pytest.param("invoke", "acme/shop/hello/1/web", "acme/shop/hello/1/webx", False, id="key"),
        pytest.param("invoke", "acme", "acme/shop/hello/1/web", False, id="org-only"),
        pytest.param("invoke", "acme/shop/hello", TARGET, False, id="deployment-only"),
        pytest.param("deploy", "acme/shop", TARGET, True, id="deploy-project"),
        pytest.param("unknown", None, TARGET, False, id="unknown-scope"),
    ],
)
def test_project_limits_compare_whole(
    scope: str, project: str | None, target: str, allowed: bool
) -> None:
    assert may_invoke(TokenGrant("h", scope, project, None), target) is allowed


def test_no_grants_refuse_every_token() -> None:
    with pytest.raises(Forbidden):
        Grants().check("Bearer t-admin", TARGET, NOW)


def test_the_route_table_carries_the_snapshot_grants() -> None:
    table = RouteTable.from_snapshot(RouteSnapshot(3, (), (), grants=(grant("t", "invoke"),)))
    assert len(table.grants) == 1
    table.grants.check("Bearer t", TARGET, NOW)
    assert len(RouteTable.empty().grants) == 0


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("192.168.1.2", False),
        (None, False),
        ("", False),
        ("localhost", False),  # a name is not an address: never trusted
    ],
)
def test_only_loopback_peers_read_the_metrics_by_default(peer: str | None, expected: bool) -> None:
    assert is_loopback(peer) is expected
