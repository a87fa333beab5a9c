"""WebSocket pass-through: the client's upgrade is replayed to the replica, then relayed.

A ``GET`` with ``Connection: upgrade`` and ``Upgrade: websocket`` is not proxied as
plain HTTP (``Upgrade`` is hop-by-hop): the gateway first opens a WebSocket to the
replica with the client's headers (under the usual hygiene) and offered subprotocols,
and only once the replica has accepted does it accept the client's upgrade, with the
subprotocol the replica chose. A replica that refuses or cannot be reached makes the
usual JSON 502 (nothing was accepted yet). Then messages are relayed as they come,
each way, text as text and binary as binary; a close from either side is passed on
with its code, and the other side closed. Pings are answered on each hop.

Relaying messages (rather than splicing the two TCP streams) lets the gateway keep
using aiohttp on both sides: frames are checked and size-limited (``max_message``)
on the way, and compression is negotiated per hop (off towards the replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import WSMsgType, web

from waypost.gateway.core.headers import canonical

__all__ = ["is_upgrade", "relay_websocket", "upstream_ws_headers"]

log = logging.getLogger("waypost.gateway")

#: Headers of the handshake that each hop sets for itself.
_HANDSHAKE = frozenset(
    canonical(h)
    for h in (
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Accept",
    )
)


def is_upgrade(request: web.BaseRequest) -> bool:
    """Is this a WebSocket opening handshake?"""
    if request.method != "GET":
        return False
    upgrade = request.headers.get("Upgrade", "")
    if upgrade.lower() != "websocket":
        return False
    connection = request.headers.get("Connection", "")
    return any(token.strip().lower() == "upgrade" for token in connection.split(","))


def upstream_ws_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Forwarded headers minus the handshake's own (the client session sets them)."""
    return [(n, v) for n, v in headers if canonical(n) not in _HANDSHAKE]


def offered_protocols(request: web.BaseRequest) -> tuple[str, ...]:
    values = request.headers.getall("Sec-WebSocket-Protocol", [])
    return tuple(p.strip() for value in values for p in value.split(",") if p.strip())


async def relay_websocket(
    request: web.BaseRequest, upstream: aiohttp.ClientWebSocketResponse, max_message: int
) -> tuple[web.WebSocketResponse, int]:
    """Accept the client's upgrade and relay until either side closes; (response, messages)."""
    protocols = (upstream.protocol,) if upstream.protocol else ()
    client = web.WebSocketResponse(
        protocols=protocols, autoclose=False, autoping=True, max_msg_size=max_message
    )
    await client.prepare(request)
    counted = [0]

    async def pump(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    ) -> None:
        while True:
            msg = await source.receive()
            if msg.type == WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            elif msg.type == WSMsgType.CLOSE:
                code = msg.data if isinstance(msg.data, int) else 1000
                await sink.close(code=code, message=(msg.extra or "").encode())
                return
            else:  # CLOSING, CLOSED, ERROR: the source is gone
                return
            counted[0] += 1

    tasks = [
        asyncio.create_task(pump(client, upstream), name="ws-to-replica"),
        asyncio.create_task(pump(upstream, client), name="ws-to-client"),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not upstream.closed:
            await upstream.close()
        if not client.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await client.close(code=upstream.close_code or 1000)
    return client, counted[0]
