"""The upstream client: one keep-alive connection pool per worker, towards replicas.

``Upstream.send`` opens a request to a replica address taken from the route table
(never from the request) with the path exactly as received, streams the request
body from the client (or sends a mirror copy's kept body), and returns as soon as
the response headers are in; the caller streams the body on. Proxy hygiene on this
side: no cookie jar, no decompression, no default headers added, no proxies from the
environment, no redirects followed, a bounded number of connections per replica.

A failure to connect is ``UpstreamConnectError``: the request was not sent, so the
caller may try another replica. A failure after that, before the response headers,
is ``UpstreamError``. Their messages name the replica: for logs, not for clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass

import aiohttp
from aiohttp import hdrs
from aiohttp.streams import StreamReader
from yarl import URL

__all__ = ["Upstream", "UpstreamConnectError", "UpstreamError", "UpstreamOptions"]


class UpstreamError(Exception):
    """The replica failed before its response headers were in (the request may have run)."""


class UpstreamConnectError(UpstreamError):
    """No connection to the replica (refused, unreachable, timed out): nothing was sent."""


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
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

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
        return cls(session)

    async def send(
        self,
        address: str,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: StreamReader | AsyncIterable[bytes] | bytes | bytearray | None,
    ) -> aiohttp.ClientResponse:
        """Send a request to ``address`` (host:port); the caller releases the response."""
        url = URL.build(
            scheme="http", authority=address, path=path, query_string=query, encoded=True
        )
        try:
            return await self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise UpstreamConnectError(f"could not connect to {address}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(f"{address} failed before answering: {exc!r}") from exc

    async def close(self) -> None:
        await self._session.close()
