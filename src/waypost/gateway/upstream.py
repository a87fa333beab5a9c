"""The upstream client: one keep-alive connection pool per worker, towards replicas.

``Upstream.send`` opens a request to a replica address taken from the route table
(never from the request) with the path exactly as received, streams the request
body from the client (or sends a mirror copy's kept body), and returns as soon as
the response headers are in; the caller streams the body on. Proxy hygiene on this
side: no cookie jar, no decompression, no default headers added, no proxies from the
environment, no redirects followed, a bounded number of connections per replica.

A failure to connect is ``UpstreamConnectError``: the request was not sent, so the
caller may try another replica. A failure after that, before the response headers,
is ``UpstreamError``; no response headers within the target's ``timeout`` is
``UpstreamTimeout``. Their messages name the replica: for logs, not for clients.

Timeouts are per request, from the target (``Timeouts``): ``connect`` to open a
connection, ``read`` for the response headers and then for each read of the body
(aiohttp's ``sock_read``, one timer per read, so a long stream that keeps sending
is never cut, a hung one is). aiohttp retries an idempotent request once on a fresh
connection when a pooled keep-alive connection turns out to be closed (RFC 9112
section 9.3.1); every other retry decision is the caller's.

``websocket`` opens a WebSocket to a replica through the same pool (``websocket``
module relays it).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp import hdrs
from aiohttp.streams import StreamReader
from yarl import URL

__all__ = [
    "Timeouts",
    "Upstream",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamOptions",
    "UpstreamTimeout",
]


class UpstreamError(Exception):
    """The replica failed before its response headers were in (the request may have run)."""


class UpstreamConnectError(UpstreamError):
    """No connection to the replica (refused, unreachable, timed out): nothing was sent."""


class UpstreamTimeout(UpstreamError):
    """The replica did not answer within the target's timeout (the request was sent)."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    read: float = 60.0


@dataclass(frozen=True)
class UpstreamOptions:
    #: Seconds to open a TCP connection to a replica.
    connect_timeout: float = 5.0
    #: Seconds to wait for a free pooled connection plus connecting.
    pool_timeout: float = 30.0
    #: Connections per replica address, per worker.
    per_replica: int = 256
    #: Idle seconds before a pooled connection is closed; below gunicorn's 2 s and
    #: uvicorn's 5 s keep-alive, so the gateway never reuses one the replica is closing.
    keepalive: float = 1.5


class Upstream:
    def __init__(self, session: aiohttp.ClientSession, pool_timeout: float = 30.0) -> None:
        self._session = session
        self._pool_timeout = pool_timeout
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}

    @classmethod
    def create(cls, options: UpstreamOptions | None = None) -> Upstream:
        """A pool for this worker; call inside the running event loop."""
        opts = options or UpstreamOptions()
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=opts.per_replica,
            keepalive_timeout=opts.keepalive,
            use_dns_cache=True,
        )
        session = aiohttp.ClientSession(
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
        return cls(session, opts.pool_timeout)

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        found = self._timeouts.get(timeouts)
        if found is None:
            if len(self._timeouts) > 1000:  # distinct settings are few; bound it anyway
                self._timeouts.clear()
            found = self._timeouts[timeouts] = aiohttp.ClientTimeout(
                total=None,
                connect=self._pool_timeout + timeouts.connect,
                sock_connect=timeouts.connect,
                sock_read=timeouts.read,
            )
        return found

    async def send(
        self,
        address: str,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: StreamReader | AsyncIterable[bytes] | bytes | bytearray | None,
        timeouts: Timeouts | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request to ``address`` (host:port); the caller releases the response."""
        url = URL.build(
            scheme="http", authority=address, path=path, query_string=query, encoded=True
        )
        try:
            return await self._session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._client_timeout(timeouts) if timeouts is not None else None,
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise UpstreamConnectError(f"could not connect to {address}: {exc}") from exc
        except aiohttp.SocketTimeoutError as exc:
            raise UpstreamTimeout(f"{address} did not answer in time: {exc!r}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(f"{address} failed before answering: {exc!r}") from exc

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
            return await self._session.ws_connect(
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
        await self._session.close()
