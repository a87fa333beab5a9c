"""WebSocket pass-through: the client's handshake goes to the replica, then bytes are spliced.

A ``GET`` with ``Connection: upgrade`` and ``Upgrade: websocket`` is not proxied as
plain HTTP (``Upgrade`` is hop-by-hop). The gateway opens a fresh connection to the
replica and sends it the client's handshake: the request headers under the usual
hygiene, ``Connection: Upgrade`` and ``Upgrade: websocket``, and the client's
``Sec-WebSocket-*`` headers as they are (key, version, subprotocols and extensions
are agreed between the two ends). Any answer but ``101`` (or none within the
target's timeout) is the usual JSON 502, since the client has been told nothing yet.
A ``101`` goes to the client with its headers under the response hygiene, and from
then on the two connections are spliced: bytes go each way as they come, with
back-pressure (a side whose peer cannot take more is not read), and when either side
closes, both are closed.

Splicing, as nginx and Envoy do, rather than decoding and re-encoding messages: a
read costs one copy and no frame parsing, any extension the ends agree on works, and
messages are limited by the replica's own WebSocket server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httptools

from waypost.gateway.core.h1 import request_head
from waypost.gateway.core.headers import response_headers
from waypost.gateway.h1client import UpstreamConnectError, UpstreamError
from waypost.gateway.h1server import HttpRequest
from waypost.gateway.upstream import Timeouts

__all__ = ["Tunnel", "is_upgrade", "tunnel_websocket"]

#: Largest handshake answer read from a replica.
_MAX_HEAD = 64 * 1024
_UPGRADE_HEADERS = [("Connection", "Upgrade"), ("Upgrade", "websocket")]


def is_upgrade(request: HttpRequest) -> bool:
    """Is this a WebSocket opening handshake?"""
    if request.method != "GET":
        return False
    upgrade = request.headers.get("Upgrade") or ""
    if upgrade.lower() != "websocket":
        return False
    connection = request.headers.get("Connection") or ""
    return any(token.strip().lower() == "upgrade" for token in connection.split(","))


async def tunnel_websocket(
    request: HttpRequest,
    address: str,
    target: str,
    headers: list[tuple[str, str]],
    request_id: str,
    timeouts: Timeouts,
) -> Tunnel:
    """Open the WebSocket at the replica, answer the client's upgrade and splice the two.

    ``headers``: the request headers to send (hygiene applied). UpstreamConnectError
    when the replica cannot be reached, UpstreamError when it does not accept.
    """
    loop = asyncio.get_running_loop()
    host, _, port = address.rpartition(":")
    handshake = _Handshake(loop)
    try:
        async with asyncio.timeout(timeouts.connect):
            transport, _ = await loop.create_connection(lambda: handshake, host, int(port))
    except (OSError, TimeoutError) as exc:
        raise UpstreamConnectError(f"could not connect to {address}: {exc!r}") from exc
    try:
        head, _ = request_head(
            "GET", target, address, [*headers, *_UPGRADE_HEADERS], body_length=None
        )
        transport.write(head)
        async with asyncio.timeout(timeouts.read):
            status, answer = await handshake.answer
    except (ValueError, OSError, TimeoutError, UpstreamError) as exc:
        transport.close()
        raise UpstreamError(f"{address} did not answer the WebSocket handshake: {exc!r}") from exc
    except BaseException:
        transport.close()
        raise
    if status != 101:
        transport.close()
        raise UpstreamError(f"{address} answered the WebSocket handshake with {status}")
    client, pipelined = request.upgrade(response_headers(answer, request_id) + _UPGRADE_HEADERS)
    return Tunnel(client, transport, pipelined, handshake.take_rest())


class Tunnel:
    """Two spliced connections; ``closed`` waits until both are gone."""

    def __init__(
        self,
        client: asyncio.Transport,
        replica: asyncio.Transport,
        from_client: bytes,
        from_replica: bytes,
    ) -> None:
        self._done = asyncio.get_running_loop().create_future()
        self._client = _Side(client, self._end)
        self._replica = _Side(replica, self._end)
        self._client.peer, self._replica.peer = self._replica, self._client
        client.set_protocol(self._client)
        replica.set_protocol(self._replica)
        if from_client:
            self._client.data_received(from_client)
        if from_replica:
            self._replica.data_received(from_replica)

    def _end(self) -> None:
        self._client.close()
        self._replica.close()
        if not self._done.done():
            self._done.set_result(None)

    async def closed(self) -> int:
        """Wait until either side closes (then both are); the bytes sent to the client."""
        try:
            await asyncio.shield(self._done)
        finally:
            self._end()
        return self._replica.received


class _Side(asyncio.Protocol):
    """One end of the splice: what it reads is written to its peer's transport."""

    def __init__(self, transport: asyncio.Transport, on_end: Callable[[], None]) -> None:
        self.transport: asyncio.Transport | None = transport
        self.peer: _Side | None = None
        self.received = 0
        self._on_end = on_end
        # Reading may have been paused by the previous protocol.
        with contextlib.suppress(RuntimeError):
            transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        self._on_end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._on_end()

    def pause_writing(self) -> None:
        """This side's socket buffer is full: stop reading what would fill it."""
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.pause_reading()

    def resume_writing(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            with contextlib.suppress(RuntimeError):
                peer.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Handshake(asyncio.Protocol):
    """Reads the replica's answer to the handshake: status, headers, and any bytes after."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answer: asyncio.Future[tuple[int, list[tuple[str, str]]]] = loop.create_future()
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            self._buffer += data  # bytes after the head, before the splice takes over
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD:
                self.answer.set_exception(UpstreamError("the handshake answer is too large"))
            return
        head, self._buffer = self._buffer[: end + 4], self._buffer[end + 4 :]
        headers: list[tuple[str, str]] = []
        parser = httptools.HttpResponseParser(_HeadCollector(headers))
        try:
            parser.feed_data(head)
        except httptools.HttpParserUpgrade:
            pass  # the 101 itself
        except httptools.HttpParserError as exc:
            self.answer.set_exception(UpstreamError(f"a malformed handshake answer: {exc}"))
            return
        self.answer.set_result((parser.get_status_code(), headers))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(UpstreamError("the replica closed the connection"))

    def take_rest(self) -> bytes:
        rest, self._buffer = self._buffer, b""
        return rest


class _HeadCollector:
    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._headers = headers

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )
