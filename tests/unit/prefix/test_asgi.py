"""AsgiPrefixMiddleware on raw scopes, and a real FastAPI app's url_for through it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from waypost.prefix import AsgiPrefixMiddleware

VERSION = "acme/hello/fastapi-hello/1/api"
ALIAS = "acme/hello/fastapi-hello/production/api"
LATEST = "acme/hello/fastapi-hello/latest/api"


async def run(scope: dict[str, Any]) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        pass

    middleware = AsgiPrefixMiddleware(app, environ={"VH_DEFAULT_PREFIX": VERSION})
    await middleware(scope, receive, send)
    return seen[0]


def http(path: str, header: str | None = None, **extra: Any) -> dict[str, Any]:
    headers = [(b"host", b"x")] + ([(b"x-vh-prefix", header.encode())] if header else [])
    scope = {"type": "http", "path": path, "raw_path": path.encode(), "root_path": ""}
    return {**scope, "headers": headers, **extra}


@pytest.mark.parametrize(
    ("scope", "root_path"),
    [
        pytest.param(http(f"/{ALIAS}/predict", ALIAS), f"/{ALIAS}", id="alias"),
        pytest.param(http(f"/{LATEST}/predict", LATEST), f"/{LATEST}", id="latest"),
        pytest.param(http(f"/{VERSION}/predict"), f"/{VERSION}", id="default-from-env"),
        pytest.param(http("/predict"), "", id="no-prefix"),
        pytest.param(http(f"/{VERSION}/x", "evil.example/x"), f"/{VERSION}", id="spoofed"),
        pytest.param(http(f"/{ALIAS}/x", "evil.example/x"), "", id="spoofed-no-match"),
        pytest.param(http(f"/{ALIAS}", ALIAS), f"/{ALIAS}", id="empty-rest"),
        pytest.param(http(f"/{ALIAS}x/y", ALIAS), "", id="segment-boundary"),
        pytest.param(
            {**http(f"/{ALIAS}/p", ALIAS), "type": "websocket"}, f"/{ALIAS}", id="websocket"
        ),
        pytest.param(
            http(f"/mnt/{ALIAS}/p", ALIAS, root_path="/mnt"), f"/mnt/{ALIAS}", id="under-root-path"
        ),
        pytest.param(
            http(f"/{ALIAS}/a b", ALIAS, raw_path=f"/{ALIAS}/a%20b".encode()),
            f"/{ALIAS}",
            id="percent-encoded-rest",
        ),
    ],
)
async def test_scope(scope: dict[str, Any], root_path: str) -> None:
    seen = await run(scope)
    assert seen["root_path"] == root_path
    assert seen["path"] == scope["path"]  # the full path is kept
    assert seen["raw_path"] == scope["raw_path"]
    assert seen["type"] == scope["type"]


async def test_the_callers_scope_is_not_mutated() -> None:
    scope = http(f"/{ALIAS}/p", ALIAS)
    seen = await run(scope)
    assert scope["root_path"] == ""
    assert seen is not scope


async def test_lifespan_passes_through_untouched() -> None:
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    assert await run(scope) is scope


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/where")
    def where(request: Request) -> dict[str, str]:
        return {"url": str(request.url_for("where")), "root_path": request.scope["root_path"]}

    @app.get("/predict")
    def predict(name: str) -> dict[str, str]:
        return {"name": name}

    return app


@pytest.mark.parametrize(
    ("prefix", "header"),
    [
        pytest.param(ALIAS, ALIAS, id="alias"),
        pytest.param(LATEST, LATEST, id="latest"),
        pytest.param(VERSION, VERSION, id="version"),
        pytest.param(VERSION, "evil.example/x", id="spoofed"),
        pytest.param(VERSION, None, id="no-header"),
    ],
)
async def test_fastapi_url_for_carries_the_requested_prefix(
    prefix: str, header: str | None
) -> None:
    app = AsgiPrefixMiddleware(fastapi_app(), environ={"VH_DEFAULT_PREFIX": VERSION})
    headers = {"X-VH-Prefix": header} if header else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        where = await client.get(f"/{prefix}/where", headers=headers)
        assert where.status_code == 200
        assert where.json() == {
            "url": f"http://testserver/{prefix}/where",
            "root_path": f"/{prefix}",
        }
        predict = await client.get(f"/{prefix}/predict", params={"name": "Ada"}, headers=headers)
        assert predict.json() == {"name": "Ada"}
        assert (await client.get("/elsewhere/predict", headers=headers)).status_code == 404
