"""The management API in-process (ASGI) over a real SQLite store: shapes, errors, auth."""

from __future__ import annotations

import io
import secrets
import tarfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.model.prefix import UnitKey
from waypost.runtimes.base import LogChunk, ReplicaStatus, Workload
from waypost.settings import Limits, Settings
from waypost.store import Store

TOKEN = "wp_test_token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeRuntime:
    """Only what the API itself asks of a runtime: its name and logs."""

    name = "fake"

    async def start(self) -> None: ...
    async def build(self, workload: Workload, log: Callable[[str], None]) -> None: ...
    async def scale(self, workload: Workload, replicas: int) -> None: ...
    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        return {}

    async def remove(self, key: UnitKey) -> None: ...
    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        return LogChunk(f"log of {key}\n", 42)

    async def close(self) -> None: ...


def bundle(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


APP = {
    "waypost.yaml": "project: acme/shop\ndeployment: hello\nendpoints:\n"
    "  - name: web\n    wsgi: app:app\n",
    "app.py": "app = None\n",
}


TWO = {
    "waypost.yaml": "project: acme/shop\ndeployments:\n"
    "  - name: one\n    endpoints: [{name: web, wsgi: 'app:app'}]\n"
    "  - name: two\n    endpoints: [{name: web, wsgi: 'app:app'}]\n",
    "app.py": "app = None\n",
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(home=tmp_path, limits=Limits(bundle_bytes=4096))
    store = Store.open(settings.db_url)
    tokens = TokenCheck()
    tokens.allow(TOKEN, Principal("tester", "admin"))
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    app = create_app(ControlContext(service, FakeRuntime(), tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
    store.close()


async def upload(api: httpx.AsyncClient, data: bytes, deployment: str = "hello") -> httpx.Response:
    return await api.post(
        f"/api/v1/projects/acme/shop/deployments/{deployment}/versions",
        files={"bundle": ("b.tar.gz", data, "application/gzip")},
        headers=AUTH,
    )


async def test_create_version_and_read_it_back(api: httpx.AsyncClient) -> None:
    created = await upload(api, bundle(APP))
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["version"] == 1
    [endpoint] = body["endpoints"]
    assert endpoint["state"] == "Building"
    assert endpoint["url"] == "http://127.0.0.1:8080/acme/shop/hello/1/web/"

    second = (await upload(api, bundle(APP))).json()
    assert second["version"] == 2
    listed = (await api.get("/api/v1/projects/acme/shop/deployments", headers=AUTH)).json()
    assert listed[0]["versions"] == [1, 2]
    events = (await api.get("/api/v1/endpoints/acme/shop/hello/1/web/events", headers=AUTH)).json()
    assert [e["to_state"] for e in events] == ["Building"]
    logs = (await api.get("/api/v1/endpoints/acme/shop/hello/1/web/logs", headers=AUTH)).json()
    assert logs == {"text": "log of acme/shop/hello/1/web\n", "offset": 42}


@pytest.mark.parametrize(
    ("method", "path", "status", "fragment"),
    [
        pytest.param("GET", "/api/v1/projects", 401, "needs a token", id="no-token"),
        pytest.param(
            "GET", "/api/v1/endpoints/acme/shop/x/1/web", 404, "acme/shop/x/1/web", id="no-endpoint"
        ),
        pytest.param("GET", "/api/v1/endpoints?state=Happy", 422, "unknown state", id="bad-state"),
        pytest.param("GET", "/api/v1/endpoints?project=acme", 422, "ORG/PROJECT", id="bad-proj"),
        pytest.param(
            "PUT", "/api/v1/endpoints/acme/shop/x/1/web/start", 404, "no endpoint", id="act-missing"
        ),
        pytest.param("GET", "/api/v1/nothing-here", 404, "Not Found", id="unknown-route"),
    ],
)
async def test_errors_are_json_with_a_sentence(
    api: httpx.AsyncClient, method: str, path: str, status: int, fragment: str
) -> None:
    headers = {} if status == 401 else AUTH
    response = await api.request(method, path, headers=headers)
    assert response.status_code == status
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(
    ("files", "deployment", "status", "fragment"),
    [
        pytest.param(None, "hello", 422, "gzip tar", id="not-an-archive"),
        pytest.param({"app.py": ""}, "hello", 422, "waypost.yaml", id="no-config"),
        pytest.param(TWO, "other", 422, "other", id="undeclared-deployment"),
        pytest.param(APP, "a--b", 422, "special characters", id="bad-name"),
        pytest.param(
            {**APP, "big.bin": secrets.token_hex(6000)}, "hello", 413, "limit", id="too-large"
        ),
    ],
)
async def test_bad_bundles_are_refused_and_nothing_is_created(
    api: httpx.AsyncClient,
    files: dict[str, str] | None,
    deployment: str,
    status: int,
    fragment: str,
) -> None:
    data = b"not a tarball" if files is None else bundle(files)
    response = await upload(api, data, deployment)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]
    assert (await api.get("/api/v1/projects", headers=AUTH)).json() == []


async def test_start_of_a_building_endpoint_is_a_409_with_a_reason(api: httpx.AsyncClient) -> None:
    await upload(api, bundle(APP))
    response = await api.put("/api/v1/endpoints/acme/shop/hello/1/web/start", headers=AUTH)
    assert response.status_code == 409
    assert response.json()["message"].startswith("cannot start: endpoint is Building")


async def test_routes_long_poll_and_gateway_reports(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/v1/internal/routes", headers=AUTH)).json()
    unchanged = await api.get(
        f"/api/v1/internal/routes?after={first['revision']}&wait=0.2&gateway=gw-1", headers=AUTH
    )
    assert unchanged.status_code == 204
    await upload(api, bundle(APP))
    changed = await api.get(
        f"/api/v1/internal/routes?after={first['revision']}&wait=5&gateway=gw-1", headers=AUTH
    )
    assert changed.status_code == 200
    assert changed.json()["revision"] > first["revision"]
    gateways = (await api.get("/api/v1/internal/gateways", headers=AUTH)).json()
    assert [g["id"] for g in gateways["gateways"]] == ["gw-1"]
    assert gateways["gateways"][0]["revision"] == first["revision"]


async def test_openapi_is_served(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/api/v1/openapi.json")).json()
    assert "/api/v1/projects/{org}/{project}/deployments/{deployment}/versions" in spec["paths"]


async def test_gateway_reports_are_taken_and_bad_ones_refused(api: httpx.AsyncClient) -> None:
    body = {
        "gateway": "gw",
        "at": 1.0,
        "interval": 1.0,
        "targets": [
            {"key": "a/b/c/1/web", "in_flight": 2, "requests": 3, "errors": 0, "latency_ms_sum": 1}
        ],
        "backends": [],
        "waiting": [],
    }
    assert (await api.post("/api/v1/internal/report", json=body, headers=AUTH)).status_code == 204
    bad = await api.post("/api/v1/internal/report", json={"gateway": "gw"}, headers=AUTH)
    assert bad.status_code == 422
    assert "interval" in bad.json()["message"]
