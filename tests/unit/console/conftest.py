"""An in-process control plane (real SQLite store, no sockets) with a few tokens and endpoints.

Project acme/shop has deployment ``hello`` version 1 with a public ``web`` and a private
``secret`` endpoint; project other/lab has ``lab`` version 1 ``web``. States are set
through the store, as the reconciler would.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.context import CONSOLE_COOKIE
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.model.prefix import UnitKey
from waypost.runtimes.base import LogChunk, ReplicaStatus, Workload
from waypost.settings import Settings
from waypost.store import Store

TOKENS = {
    "admin": Principal("root", "admin"),
    "reader": Principal("reader", "read"),
    "shop-deployer": Principal("shopper", "deploy", "acme/shop"),
    "invoker": Principal("caller", "invoke"),
}

SHOP = (
    "project: acme/shop\ndeployment: hello\nendpoints:\n"
    "  - name: web\n    wsgi: app:app\n    engine-args: {dtype: float16}\n"
    "  - name: secret\n    wsgi: app:app\n    visibility: private\n"
)
LAB = "project: other/lab\ndeployment: lab\nendpoints:\n  - name: web\n    wsgi: app:app\n"

WEB = UnitKey("acme", "shop", "hello", 1, "web")
SECRET = UnitKey("acme", "shop", "hello", 1, "secret")
LAB_WEB = UnitKey("other", "lab", "lab", 1, "web")


def bundle(files: Mapping[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class QuietRuntime:
    name = "quiet"

    async def start(self) -> None: ...
    async def build(self, workload: Workload, log: object) -> None: ...
    async def scale(self, workload: Workload, replicas: int) -> None: ...
    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        return {}

    async def remove(self, key: UnitKey) -> None: ...
    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        return LogChunk("line one\n", 9)

    async def close(self) -> None: ...


@dataclass
class Console:
    client: httpx.AsyncClient
    store: Store
    service: ControlService

    def as_user(self, token: str | None) -> None:
        """Sign the client in with ``token`` (the cookie sign-in sets), or out (None)."""
        self.client.cookies.clear()
        if token is not None:
            self.client.cookies.set(CONSOLE_COOKIE, token)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings.db_url)
    tokens = TokenCheck()
    for token, who in TOKENS.items():
        tokens.allow(token, who)
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    app = create_app(ControlContext(service, QuietRuntime(), tokens))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        auth = {"Authorization": "Bearer admin"}
        for project, deployment, text in (
            ("acme/shop", "hello", SHOP),
            ("other/lab", "lab", LAB),
        ):
            created = await client.post(
                f"/api/v1/projects/{project}/deployments/{deployment}/versions",
                files={"bundle": ("b.tar.gz", bundle({"waypost.yaml": text, "app.py": ""}))},
                headers=auth,
            )
            assert created.status_code == 201, created.text
        yield Console(client, store, service)
    store.close()
