"""Tokens through the API over a real store: shown once, scoped, revocable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import TokenCheck, hash_token
from waypost.control.blobs import BundleStore
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.settings import Settings
from waypost.store import Store

from .test_api import FakeRuntime

ADMIN = "wp_admin_for_tests"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings.db_url)
    store.create_token(name="admin", token_hash=hash_token(ADMIN), scope="admin")
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    app = create_app(ControlContext(service, FakeRuntime(), TokenCheck(store.find_token)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
    store.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_use_list_revoke(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/api/v1/tokens",
        json={"name": "ci-reader", "scope": "read", "project": "acme/shop", "expires_in": "1h"},
        headers=bearer(ADMIN),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("wp_")
    assert len(token) >= 43
    assert body["expires_at"] is not None

    own = await api.get("/api/v1/endpoints?project=acme/shop", headers=bearer(token))
    assert own.status_code == 200
    other = await api.get("/api/v1/endpoints?project=other/proj", headers=bearer(token))
    assert other.status_code == 403
    assert "limited to project acme/shop" in other.json()["message"]
    write = await api.put("/api/v1/endpoints/acme/shop/a/1/web/stop", headers=bearer(token))
    assert write.status_code == 403

    listed = (await api.get("/api/v1/tokens", headers=bearer(ADMIN))).json()
    assert [t["name"] for t in listed] == ["admin", "ci-reader"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert (await api.get("/api/v1/tokens", headers=bearer(token))).status_code == 403

    revoked = await api.delete(f"/api/v1/tokens/{body['id']}", headers=bearer(ADMIN))
    assert revoked.json()["revoked"] is True
    after = await api.get("/api/v1/endpoints?project=acme/shop", headers=bearer(token))
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"name": "x", "scope": "read"}, "at least 2", id="short-name"),
        pytest.param({"name": "ok", "scope": "root"}, "scope", id="bad-scope"),
        pytest.param({"name": "ok", "scope": "read", "project": "acme"}, "ORG/PROJECT", id="proj"),
        pytest.param(
            {"name": "ok", "scope": "deploy", "project": "a/b/c/1/web"}, "only invoke", id="ep"
        ),
        pytest.param({"name": "ok", "scope": "read", "expires_in": "soon"}, "duration", id="exp"),
        pytest.param({"name": "ok", "scope": "read", "extra": 1}, "extra", id="unknown-field"),
    ],
)
async def test_bad_token_requests(
    api: httpx.AsyncClient, body: dict[str, str], fragment: str
) -> None:
    response = await api.post("/api/v1/tokens", json=body, headers=bearer(ADMIN))
    assert response.status_code == 422
    assert fragment in response.text


async def test_the_route_snapshot_lists_the_tokens_that_may_invoke(api: httpx.AsyncClient) -> None:
    """Gateways learn of new and revoked tokens through the route snapshot (private endpoints)."""
    first = (await api.get("/api/v1/internal/routes", headers=bearer(ADMIN))).json()
    assert [g["scope"] for g in first["grants"]] == ["admin"]
    created = await api.post(
        "/api/v1/tokens",
        json={"name": "caller", "scope": "invoke", "project": "acme/shop", "expires_in": "1h"},
        headers=bearer(ADMIN),
    )
    reader = await api.post(
        "/api/v1/tokens", json={"name": "reader", "scope": "read"}, headers=bearer(ADMIN)
    )
    assert created.status_code == reader.status_code == 201
    token = created.json()["token"]
    changed = await api.get(
        f"/api/v1/internal/routes?after={first['revision']}&wait=5", headers=bearer(ADMIN)
    )
    assert changed.status_code == 200
    grants = {g["token_hash"]: g for g in changed.json()["grants"]}
    assert hash_token(reader.json()["token"]) not in grants  # read tokens cannot invoke
    grant = grants[hash_token(token)]
    assert (grant["scope"], grant["project"]) == ("invoke", "acme/shop")
    assert isinstance(grant["expires_at"], float)
    assert token not in changed.text  # only the hash travels

    revision = changed.json()["revision"]
    await api.delete(f"/api/v1/tokens/{created.json()['id']}", headers=bearer(ADMIN))
    revoked = await api.get(
        f"/api/v1/internal/routes?after={revision}&wait=5", headers=bearer(ADMIN)
    )
    assert revoked.status_code == 200
    assert hash_token(token) not in {g["token_hash"] for g in revoked.json()["grants"]}
