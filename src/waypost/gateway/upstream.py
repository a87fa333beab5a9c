"""The upstream client: one keep-alive connection pool per worker, towards replicas.

``Upstream.send`` opens a request to a replica address taken from the route table
(never from the request) with the path exactly as received, streams the request
body from the client (or sends a mirror copy's kept body), and returns as soon as
the response headers are in; the caller streams the body on (``UpstreamResponse``).
Proxy hygiene on this side: no cookie jar, no decompression, no default headers
added, no proxies from the environment, no redirects followed, a bounded number of
connections per replica.

The client is the gateway's own (``h1client``: HTTP/1.1 on asyncio Protocols with
``httptools``), not aiohttp's ``ClientSession``: under ``bench.gateway`` aiohttp's
client request path was most of the CPU a proxied request cost. WebSocket
handshakes open a connection of their own (``websocket``), outside the pool.

A failure to connect is ``UpstreamConnectError``: the request was not sent, so the
caller may try another replica. A failure after that, before the response headers,
is ``UpstreamError``; no response headers within the target's ``timeout`` is
``UpstreamTimeout``. Their messages name the replica: for logs, not for clients.
While the body is read, a broken body is ``UpstreamError``, a read that waits past
the target's ``timeout`` is ``UpstreamTimeout``.

Timeouts are per request, from the target (``Timeouts``): ``connect`` to open a
connection, ``read`` for the response headers and then for each read of the body
(one timer per read, so a long stream that keeps sending is never cut, a hung one
is). An idempotent request with a body known in advance is sent once more on a fresh
connection when a pooled keep-alive connection turns out to be closed (RFC 9112
section 9.3.1); every other retry decision is the caller's.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from waypost.gateway.h1client import (
    Body,
    H1Pool,
    H1Response,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from waypost.gateway.replay import ReplayBody

__all__ = [
    "Timeouts",
    "Upstream",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamOptions",
    "UpstreamResponse",
    "UpstreamTimeout",
]

#: A response being read from a replica.
UpstreamResponse = H1Response


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    read: float = 60.0


@dataclass(frozen=True)
class UpstreamOptions:
    #: Seconds to open a TCP connection to a replica.
    connect_timeout: float = 5.0
    #: Seconds to wait for a free pooled connection.
    pool_timeout: float = 30.0
    #: Connections per replica address, per worker.
    per_replica: int = 256
    #: Idle seconds before a pooled connection is closed; below gunicorn's 2 s and
    #: uvicorn's 5 s keep-alive, so the gateway never reuses one the replica is closing.
    keepalive: float = 1.5


class Upstream:
    def __init__(self, pool: H1Pool, options: UpstreamOptions | None = None) -> None:
        self._pool = pool
        self._options = options or UpstreamOptions()

    @classmethod
    def create(cls, options: UpstreamOptions | None = None) -> Upstream:
        """A pool for this worker; call inside the running event loop."""
        opts = options or UpstreamOptions()
        pool = H1Pool(
            per_replica=opts.per_replica,
            keepalive=opts.keepalive,
            connect_timeout=opts.connect_timeout,
            pool_timeout=opts.pool_timeout,
        )
        return cls(pool, opts)

    @property
    def pool(self) -> H1Pool:
        return self._pool

    def send(
        self,
        address: str,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: Body,
        timeouts: Timeouts | None = None,
    ) -> Coroutine[Any, Any, UpstreamResponse]:
        """Send a request to ``address`` (host:port); the caller releases the response.

        A plain function handing back the pool's coroutine: one frame less per request.
        """
        target = f"{path}?{query}" if query else path
        if isinstance(body, ReplayBody) and body.whole is not None:
            body = body.whole  # sent with the head, in one write
        if timeouts is None:
            return self._pool.request(address, method, target, headers, body)
        return self._pool.request(
            address,
            method,
            target,
            headers,
            body,
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
        )

    async def close(self) -> None:
        await self._pool.close()
