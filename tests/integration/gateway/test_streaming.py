"""Server-sent events flushed per event, and WebSockets relayed, through a real gateway."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx
import pytest

from tests.integration.gateway.conftest import Env
from tests.integration.gateway.support import build_snapshot

V1 = "acme/shop/stream/1/web"


@pytest.fixture
def routed(env: Env) -> Env:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    env.a.requests.clear()
    return env


def test_each_event_arrives_before_the_next_is_produced(routed: Env) -> None:
    env = routed
    env.a.sse_written.clear()
    arrivals: list[float] = []
    buffer = b""
    with httpx.stream("GET", f"{env.gateway.url}/{V1}/events/sse", timeout=10) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        for piece in response.iter_raw():
            buffer += piece
            while b"\n\n" in buffer:
                _, buffer = buffer.split(b"\n\n", 1)
                arrivals.append(time.monotonic())
    written = env.a.sse_written
    assert len(arrivals) == len(written) == 5
    for i in range(4):
        # Event i is at the client before the replica even writes event i + 1.
        assert arrivals[i] < written[i + 1], f"event {i} was held back"


async def _websocket_session(url: str) -> tuple[list[object], str | None, int | None]:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url, protocols=("echo.v1",), timeout=aiohttp.ClientWSTimeout(ws_close=5)
        ) as ws,
    ):
        got: list[object] = []
        await ws.send_str("hello")
        got.append((await ws.receive(timeout=5)).data)
        await ws.send_bytes(b"\x00\x01\x02")
        got.append((await ws.receive(timeout=5)).data)
        await ws.send_str("close")
        closing = await ws.receive(timeout=5)
        got.append(closing.type.name)
        return got, ws.protocol, ws.close_code


def test_websocket_upgrade_is_relayed_both_ways(routed: Env) -> None:
    env = routed
    url = f"{env.gateway.url.replace('http', 'ws')}/{V1}/chat/ws?room=1"
    got, protocol, code = asyncio.run(_websocket_session(url))
    assert got == ["a:hello", b"\x02\x01\x00", "CLOSE"]
    assert protocol == "echo.v1"  # the subprotocol the replica chose
    assert code == 4000  # the replica's close code, passed on
    (seen,) = env.a.requests
    assert seen.raw_path == f"/{V1}/chat/ws?room=1"
    headers = {name.lower(): value for name, value in seen.headers}
    assert headers["x-vh-prefix"] == V1
    assert httpx.get(env.gateway.url + "/-/health", timeout=5).status_code == 200


def test_websocket_to_a_replica_that_refuses_it_is_a_502(env: Env) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    response = httpx.get(
        f"{env.gateway.url}/{V1}/not-a-socket",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
        timeout=5,
    )
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"
