"""Private endpoints through a real gateway: bearer tokens from the snapshot's grants."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.gateway.conftest import Env
from tests.integration.gateway.support import build_snapshot
from waypost.model.routes import RouteSnapshot, TokenGrant

V1 = "acme/shop/hello/1/web"  # private
V2 = "acme/shop/hello/2/web"  # public
PROD = "acme/shop/hello/production/web"  # an alias onto the private V1


def grant(
    token: str, scope: str, project: str | None = None, expires: float | None = None
) -> TokenGrant:
    return TokenGrant(hashlib.sha256(token.encode()).hexdigest(), scope, project, expires)


GRANTS = (
    grant("t-invoke-shop", "invoke", "acme/shop"),
    grant("t-invoke-v1", "invoke", V1),
    grant("t-invoke-other", "invoke", "acme/other"),
    grant("t-admin", "admin"),
    grant("t-deploy", "deploy"),
    grant("t-read", "read"),
    grant("t-expired", "invoke", None, 1_000_000.0),
)


def snapshot(
    env: Env, *, private: tuple[str, ...] = (V1,), grants: tuple[TokenGrant, ...] = GRANTS
) -> RouteSnapshot:
    return build_snapshot(
        {V1: [("v1", 1, V1)], V2: [("v2", 1, V2)], PROD: [("v1", 1, V1)]},
        {V1: [env.a.address], V2: [env.b.address]},
        private=private,
        grants=grants,
    )


@pytest.fixture
def client(env: Env) -> Iterator[httpx.Client]:
    env.publish(snapshot(env))
    env.a.requests.clear()
    env.b.requests.clear()
    with httpx.Client(base_url=env.gateway.url, timeout=10) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("url", [V1, PROD])
def test_no_token_is_401_and_touches_no_replica(env: Env, client: httpx.Client, url: str) -> None:
    response = client.get(f"/{url}/predict")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert "private" in response.json()["message"]
    assert not env.a.requests


@pytest.mark.parametrize(
    "token",
    ["nope", "t-invoke-other", "t-read", "t-expired", "T-INVOKE-SHOP"],
)
def test_a_token_that_may_not_is_403(env: Env, client: httpx.Client, token: str) -> None:
    response = client.get(f"/{V1}/predict", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert "WWW-Authenticate" not in response.headers
    assert not env.a.requests


@pytest.mark.parametrize("token", ["t-invoke-shop", "t-invoke-v1", "t-admin", "t-deploy"])
def test_a_token_that_may_reaches_the_replica_without_the_token(
    env: Env, client: httpx.Client, token: str
) -> None:
    response = client.post(f"/{V1}/predict", headers=bearer(token), content=b"{}")
    assert response.status_code == 200
    seen = {name.lower(): value for name, value in response.json()["headers"]}
    assert "authorization" not in seen
    assert seen["x-vh-prefix"] == V1
    assert len(env.a.requests) == 1


def test_a_public_endpoint_passes_authorization_on(env: Env, client: httpx.Client) -> None:
    response = client.get(f"/{V2}/x", headers=bearer("app-token"))
    assert response.status_code == 200
    assert ["Authorization", "Bearer app-token"] in response.json()["headers"]


def test_a_refused_request_with_a_body_closes_the_connection(
    env: Env, client: httpx.Client
) -> None:
    with socket.create_connection(("127.0.0.1", env.gateway.port), timeout=5) as sock:
        sock.sendall(
            f"POST /{V1}/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n".encode()
            + b"0123456789"
            + f"GET /{V2}/next HTTP/1.1\r\nHost: x\r\n\r\n".encode()  # never answered
        )
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break  # closed by the gateway, without waiting for the 10 body bytes
            data += chunk
    assert data.startswith(b"HTTP/1.1 401 ")
    assert data.count(b"HTTP/1.1 ") == 1
    assert not env.a.requests
    assert not env.b.requests


def test_a_sleeping_private_endpoint_is_not_woken_without_a_token(
    env: Env, client: httpx.Client
) -> None:
    asleep = build_snapshot(
        {V1: [("v1", 1, V1)]}, {V1: []}, states={V1: "Sleeping"}, private=[V1], grants=GRANTS
    )
    env.publish(asleep)
    started = time.monotonic()
    response = client.get(f"/{V1}/x")
    assert response.status_code == 401  # at once: not held, nothing to wake
    assert time.monotonic() - started < 2
    assert client.get(f"/{V1}/x", headers=bearer("t-read")).status_code == 403


def test_visibility_and_grants_apply_live(env: Env, client: httpx.Client) -> None:
    assert client.get(f"/{V1}/x").status_code == 401
    env.publish(snapshot(env, private=()))  # made public
    assert client.get(f"/{V1}/x").status_code == 200
    env.publish(snapshot(env))  # private again
    assert client.get(f"/{V1}/x", headers=bearer("t-admin")).status_code == 200
    revoked = tuple(g for g in GRANTS if g != grant("t-admin", "admin"))
    env.publish(snapshot(env, grants=revoked))  # the admin token was revoked
    assert client.get(f"/{V1}/x", headers=bearer("t-admin")).status_code == 403
    assert client.get(f"/{V1}/x", headers=bearer("t-invoke-v1")).status_code == 200
