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
handshakes, rare and long-lived, still go through an aiohttp session, opened on
the first one.

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

``websocket`` opens a WebSocket to a replica (``websocket`` module relays it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import hdrs
from yarl import URL

from waypost.gateway.h1client import (
    Body,
    H1Pool,
    H1Response,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)

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
        #: For WebSocket handshakes only; opened on the first.
        self._session: aiohttp.ClientSession | None = None

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

    async def send(
        self,
        address: str,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: Body,
        timeouts: Timeouts | None = None,
    ) -> UpstreamResponse:
        """Send a request to ``address`` (host:port); the caller releases the response."""
        target = f"{path}?{query}" if query else path
        if timeouts is None:
            return await self._pool.request(address, method, target, headers, body)
        return await self._pool.request(
            address,
            method,
            target,
            headers,
            body,
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.read,
        )

    def _websocket_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            opts = self._options
            connector = aiohttp.TCPConnector(
                limit=0,
                limit_per_host=opts.per_replica,
                keepalive_timeout=opts.keepalive,
                use_dns_cache=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=(
                    hdrs.ACCEPT,
                    hdrs.ACCEPT_ENCODING,
                    hdrs.USER_AGENT,
                    hdrs.CONTENT_TYPE,
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=opts.pool_timeout,
                    sock_connect=opts.connect_timeout,
                    sock_read=None,
                ),
                trust_env=False,
            )
        return self._session

    async def websocket(
        self,
        address: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        protocols: Sequence[str],
        timeouts: Timeouts,
        max_message: int,
    ) -> aiohttp.ClientWebSocketResponse:
        """Open a WebSocket to ``address``; the caller closes it."""
        url = URL.build(
            scheme="http", authority=address, path=path, query_string=query, encoded=True
        )
        try:
            return await self._websocket_session().ws_connect(
                url,
                headers=headers,
                protocols=tuple(protocols),
                autoclose=False,
                autoping=True,
                max_msg_size=max_message,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeouts.connect),
                compress=0,
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise UpstreamConnectError(f"could not connect to {address}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(f"{address} refused the WebSocket: {exc!r}") from exc

    async def close(self) -> None:
        await self._pool.close()
        if self._session is not None:
            await self._session.close()
