"""The gateway's HTTP/1.1 client towards replicas: keep-alive pools on asyncio Protocols.

Why not aiohttp's ``ClientSession``: profiled under ``bench.gateway``, its request
path (URL objects, request and response objects, payload wrappers, a writer task,
timer contexts, a cookie jar even when dummy) was most of the gateway's ~250 us of
CPU per proxied request, and the gateway needs none of that: the replica's address
comes from the route table, the path is passed through as received, and the response
is relayed as it is. This client writes the request head in one ``transport.write``
of pre-joined bytes, parses the response with ``httptools`` (llhttp, in C) straight
from ``data_received``, and keeps the body as a list of chunks. Measured with the
``bench.gateway`` setup (one worker, CPU time of the gateway process over a wrk run,
same machine and load): about 320 us of CPU per proxied request with aiohttp's
client, about 225 us with this one (about 150-175 us with the server-side trims that
came with it: header hygiene in one pass, no admission context without a cap,
request ids without ``uuid.UUID``, fewer garbage collections).

- ``H1Pool``: per replica address, idle connections (most recently used first) and
  at most ``per_replica`` connections; more requests wait for one up to
  ``pool_timeout``; an idle connection is closed after ``keepalive`` seconds (below
  the replicas' servers' own idle timeouts).
- ``H1Pool.request``: sends one request and returns an ``H1Response`` once the
  response headers are in. A request body is ``None``, bytes (sent with the head), or
  a stream (``readany()`` or async iteration) written by a task as it is read, with
  back-pressure (the transport's ``pause_writing``), ``Content-Length`` kept when
  declared, chunked otherwise; the response may come before the body is sent.
- ``H1Response``: status, reason, headers (as received, in order), and the body:
  ``complete`` (the whole body is already in), ``body()``, ``readany()``,
  ``read()``; the body is buffered up to ``_HIGH_WATER`` bytes, then the connection
  stops reading until the caller catches up. ``release()`` hands the connection back
  for reuse only if the response was read to its end, the replica keeps it open and
  the request body went out whole (``core.h1.reusable``); otherwise it is closed.

Failures are classified for retries and ejection: no connection (refused, timed out,
no free connection within ``pool_timeout``) is ``UpstreamConnectError``, nothing
was sent; a connection lost, a malformed response, or a failed request body before
the response headers is ``UpstreamError``; no headers within the read timeout is
``UpstreamTimeout``. While reading the body, a broken or cut-short body is
``UpstreamError`` and a read that waits past the read timeout is ``UpstreamTimeout``.
A pooled connection that the replica closed before answering (a keep-alive race) is
retried once on a fresh connection when the method is idempotent and the body is
known in advance (RFC 9112 section 9.3.1), as aiohttp did.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import AsyncIterable, Callable
from typing import Protocol, cast

import httptools

from waypost.gateway.core.h1 import (
    IDEMPOTENT,
    Framing,
    chunk,
    keeps_alive,
    request_head,
    response_framing,
    reusable,
)

__all__ = [
    "Body",
    "ChunkReader",
    "H1Pool",
    "H1Response",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamTimeout",
]

#: Body bytes buffered before the connection stops reading from the replica.
_HIGH_WATER = 256 * 1024
#: Bodies up to this size go out in the same write as the head.
_JOIN_BODY = 64 * 1024


class UpstreamError(Exception):
    """The replica failed before its response headers were in (the request may have run)."""


class UpstreamConnectError(UpstreamError):
    """No connection to the replica (refused, unreachable, timed out): nothing was sent."""


class UpstreamTimeout(UpstreamError):
    """The replica did not answer within the target's timeout (the request was sent)."""


class _Stale(UpstreamError):
    """A pooled connection was closed by the replica before any byte of a response."""


class ChunkReader(Protocol):
    async def readany(self) -> bytes: ...


Body = ChunkReader | AsyncIterable[bytes] | bytes | bytearray | None


class _Conn(asyncio.Protocol):
    """One connection to a replica; carries one exchange at a time."""

    __slots__ = ("_drain", "address", "closed", "idle_since", "response", "transport", "used")

    def __init__(self, address: str) -> None:
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False
        self.idle_since = 0.0
        self.response: H1Response | None = None
        self._drain: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        response.feed(data)

    def eof_received(self) -> bool:
        return False  # close the transport: a half-closed replica is a closed one

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None:
            response.connection_lost(exc)
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain = self._drain
        self._drain = None
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def drain(self) -> None:
        drain = self._drain
        if drain is not None and not self.closed:
            await drain

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class H1Response:
    """A response being read from a replica (also the ``httptools`` parser's callbacks)."""

    __slots__ = (
        "_body_sent",
        "_buffered",
        "_chunked",
        "_chunks",
        "_connection",
        "_done",
        "_error",
        "_framing",
        "_got_bytes",
        "_head",
        "_head_waiter",
        "_loop",
        "_parser",
        "_paused",
        "_pool",
        "_read_timeout",
        "_released",
        "_waiter",
        "_writer",
        "conn",
        "content_length",
        "headers",
        "notify",
        "reason",
        "status",
    )

    def __init__(
        self,
        pool: H1Pool,
        conn: _Conn,
        head_request: bool,
        read_timeout: float | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._pool = pool
        self.conn = conn
        self._loop = loop
        self._head = head_request
        self._read_timeout = read_timeout
        #: Refers back to this response (its callbacks): dropped at ``release`` to break
        #: the cycle, which only the garbage collector would otherwise undo.
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = ""
        #: The replica's headers, as received and in order.
        self.headers: list[tuple[str, str]] = []
        #: The response's Content-Length, when it sent one as digits.
        self.content_length: int | None = None
        self._chunked = False
        self._connection: str | None = None
        self._framing: Framing = "none"
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._done = False  # the message is complete
        self._error: UpstreamError | None = None
        self._got_bytes = False
        self._head_waiter: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._body_sent = True
        self._released = False
        #: Called once, after the read that brought the head (or a failure), when set:
        #: for a caller that follows the response from callbacks instead of awaiting it.
        self.notify: Callable[[], None] | None = None

    # -- parser callbacks ------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason = reason.decode("utf-8", "surrogateescape")

    def on_header(self, name: bytes, value: bytes) -> None:
        text = name.decode("utf-8", "surrogateescape")
        size = len(name)
        if size in (10, 14, 17):
            lower = text.lower()
            if lower == "content-length":
                self.content_length = int(value) if value.isdigit() else 0
            elif lower == "transfer-encoding":
                self._chunked = value.strip().lower().endswith(b"chunked")
            elif lower == "connection":
                previous = self._connection
                decoded = value.decode("latin-1")
                self._connection = decoded if previous is None else f"{previous}, {decoded}"
        self.headers.append((text, value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None  # it is the caller
        status = parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise UpstreamError(f"{self.conn.address} switched protocols unasked")
            # An interim response (103 Early Hints): the final one follows.
            self.headers = []
            self.reason = ""
            self.content_length = None
            self._chunked = False
            self._connection = None
            return
        self.status = status
        self._framing = response_framing(
            status, self._head, self.content_length is not None, self._chunked
        )
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._head:
            self._finish()  # no body follows, whatever the headers say

    def on_body(self, body: bytes) -> None:
        if self._done:  # after a HEAD response, or a failure: not ours to keep
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused:
            transport = self.conn.transport
            if transport is not None:
                self._paused = True
                transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status:  # not an interim response
            self._finish()

    # -- fed by the connection -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._got_bytes = True
        parser = self._parser
        if self._done or parser is None:  # after a complete response: out of step
            self.conn.close()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError(f"{self.conn.address} sent an unexpected upgrade"))
            self.conn.abort()
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, UpstreamError):
                self._fail(cause)
            else:
                self._fail(UpstreamError(f"{self.conn.address} sent a malformed response: {exc}"))
            self.conn.abort()
        if self.notify is not None and (self.status or self._done):
            self._notify()

    def _notify(self) -> None:
        notify, self.notify = self.notify, None
        if notify is not None:
            notify()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._done:
            return
        if self.status and self._framing == "eof" and exc is None:
            self._finish()  # the body ended with the connection, as announced
            return
        address = self.conn.address
        if not self.status:
            if not self._got_bytes and self.conn.used:
                self._fail(_Stale(f"{address} closed a pooled connection: {exc!r}"))
            else:
                self._fail(UpstreamError(f"{address} closed the connection: {exc!r}"))
        else:
            self._fail(UpstreamError(f"{address} broke off its response: {exc!r}"))
        self._notify()

    def _finish(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if self._done:
            return
        self._error = error
        self._done = True
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- used by the pool ------------------------------------------------------------

    async def wait_head(self) -> None:
        """Wait until the head is in or the response failed (the read timeout applies)."""
        waiter = self._head_waiter = self._loop.create_future()
        timeout = self._read_timeout
        if timeout is None:
            await waiter
            return
        timer = self._loop.call_later(timeout, _expire, waiter, self, "did not answer")
        try:
            await waiter
        finally:
            timer.cancel()

    async def _wait(self, waiter: asyncio.Future[None], what: str) -> None:
        timeout = self._read_timeout
        if timeout is None:
            await waiter
            return
        timer = self._loop.call_later(timeout, _expire, waiter, self, what)
        try:
            await waiter
        finally:
            timer.cancel()

    # -- the body --------------------------------------------------------------------

    @property
    def stale(self) -> bool:
        """The replica had closed the pooled connection before it read the request."""
        return isinstance(self._error, _Stale)

    @property
    def error(self) -> UpstreamError | None:
        """Why the response failed, if it did."""
        return self._error

    @property
    def complete(self) -> bool:
        """The whole body is in (or the response failed: ``body()`` raises)."""
        return self._done

    def body(self) -> bytes:
        """The whole body, once ``complete``."""
        if self._error is not None:
            raise self._error
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        return data

    async def wait_complete(self, limit: int) -> bool:
        """Wait for the whole body if it is declared and at most ``limit`` bytes, so it
        can be passed on in one write; whether it is in, whole and without error.

        Never raises for the replica: a failure or a stall past the read timeout just
        returns False, and ``readany`` then hands out what came and the error."""
        if self._framing != "length" or (self.content_length or 0) > limit:
            return self._done and self._error is None
        for _ in range(limit + 1):  # each round brings at least one byte, or ends
            if self._done:
                break
            waiter = self._waiter = self._loop.create_future()
            try:
                await self._wait(waiter, "stopped sending its response")
            except UpstreamError:
                self._waiter = None
                return False
            except BaseException:
                self._waiter = None
                raise
        return self._done and self._error is None

    async def readany(self) -> bytes:
        """The next bytes of the body as they arrive; ``b""`` at its end."""
        chunks = self._chunks
        while not chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return b""
            waiter = self._waiter = self._loop.create_future()
            try:
                await self._wait(waiter, "stopped sending its response")
            except BaseException:
                self._waiter = None
                raise
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            transport = self.conn.transport
            if transport is not None and not self.conn.closed:
                transport.resume_reading()
        return data

    async def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        for _ in range(1 << 40):  # bounded by the body's end (or an error)
            data = await self.readany()
            if not data:
                break
            parts.append(data)
        return b"".join(parts)

    def __aiter__(self) -> H1Response:
        return self

    async def __anext__(self) -> bytes:
        data = await self.readany()
        if not data:
            raise StopAsyncIteration
        return data

    def release(self) -> None:
        """Done with the response: the connection goes back to the pool or is closed."""
        if self._released:
            return
        self._released = True
        parser, self._parser = self._parser, None
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            self._body_sent = False
        conn = self.conn
        keep = (
            not conn.closed
            and self._error is None
            and not self._chunks
            and reusable(
                complete=self._done,
                keep_alive=self._done
                and parser is not None
                and keeps_alive(_minor(parser.get_http_version()), self._connection),
                framing=self._framing,
                head_request=self._head,
                body_sent=self._body_sent,
            )
        )
        conn.response = None
        self._pool.give_back(conn, keep)


def _expire(waiter: asyncio.Future[None], response: H1Response, what: str) -> None:
    """The read timeout fired: the wait ends in ``UpstreamTimeout``."""
    if not waiter.done():
        seconds = response._read_timeout or 0.0
        waiter.set_exception(
            UpstreamTimeout(f"{response.conn.address} {what} within {seconds:g} s")
        )


def _minor(version: str) -> int:
    """The minor version of ``"1.1"``."""
    return 1 if version == "1.1" else int(version.rpartition(".")[2] or 0)


class _Replica:
    """The connections of one replica address."""

    __slots__ = ("count", "host", "idle", "port", "waiters")

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host = host.strip("[]") if host else address
        self.port = int(port) if port.isdigit() else 80
        self.idle: list[_Conn] = []
        self.count = 0  # open or opening connections, idle ones included
        self.waiters: deque[asyncio.Future[_Conn | None]] = deque()


class H1Pool:
    """Keep-alive connections per replica address, for one worker's event loop."""

    def __init__(
        self,
        *,
        per_replica: int = 256,
        keepalive: float = 1.5,
        connect_timeout: float = 5.0,
        pool_timeout: float = 30.0,
    ) -> None:
        self.per_replica = per_replica
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self._replicas: dict[str, _Replica] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the pool lives on, looked up once (each lookup asks the kernel for the
        process id)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    # -- requests --------------------------------------------------------------------

    def send_now(
        self,
        address: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        read_timeout: float | None,
        body: bytes | None = None,
    ) -> H1Response | None:
        """Send a request (with its whole ``body``, if any) on an idle pooled connection,
        at once; the response to follow (``notify``), or None when no idle connection
        is at hand.

        No retry on a fresh connection here: a stale one fails the response with
        ``stale`` true, and the caller decides whether to try again the awaited way.
        """
        conn = self._idle(address)
        if conn is None:
            return None
        length = None if body is None else len(body)
        head, _ = request_head(method, target, address, headers, body_length=length)
        response = H1Response(self, conn, method == "HEAD", read_timeout, self._running_loop())
        conn.response = response
        conn.used = True
        transport = conn.transport
        assert transport is not None
        if not body:
            transport.write(head)
        elif len(body) <= _JOIN_BODY:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)
        return response

    async def request(
        self,
        address: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body = None,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> H1Response:
        """Send a request; the response once its headers are in (the caller releases it)."""
        streamed: ChunkReader | AsyncIterable[bytes] | None = None
        # A CR or LF in the target or a header is ValueError, as in aiohttp: a bug of
        # the caller (the server's parser lets none through), not the replica's fault.
        if body is None:
            head, chunked = request_head(method, target, address, headers, body_length=None)
            payload = head
        elif isinstance(body, (bytes, bytearray)):
            head, chunked = request_head(method, target, address, headers, body_length=len(body))
            payload = head + body if len(body) <= _JOIN_BODY else head
        else:
            streamed = body
            head, chunked = request_head(
                method, target, address, headers, body_length=None, streamed=True
            )
            payload = head
        extra = body if payload is head and isinstance(body, (bytes, bytearray)) else None
        retry_stale = method in IDEMPOTENT and streamed is None
        loop = self._running_loop()
        fresh = False
        for _ in range(4):  # a stale connection is retried once; a closed one before use
            conn = None if fresh else self._idle(address)
            if conn is None:
                conn = await self._acquire(address, connect_timeout, fresh)
            if conn.closed:  # closed by the replica before it was used: nothing was sent
                self.give_back(conn, False)
                fresh = True
                continue
            response = H1Response(self, conn, method == "HEAD", read_timeout, loop)
            conn.response = response
            transport = conn.transport
            assert transport is not None
            was_used = conn.used
            conn.used = True
            try:
                transport.write(payload)
                if extra:
                    transport.write(extra)
                if streamed is not None:
                    response._body_sent = False
                    response._writer = loop.create_task(
                        _write_body(response, conn, streamed, chunked)
                    )
                if not response.status and response._error is None:
                    await response.wait_head()
                if not response.status:
                    raise response._error or UpstreamError(f"{address} did not answer")
            except _Stale:
                response.release()
                if was_used and retry_stale:
                    fresh = True
                    continue
                raise UpstreamError(f"{address} closed the connection before answering") from None
            except BaseException:
                response.release()
                raise
            return response
        raise UpstreamConnectError(f"could not connect to {address}: connections kept closing")

    def _idle(self, address: str) -> _Conn | None:
        """The most recently used idle connection to ``address`` still fit for use."""
        replica = self._replicas.get(address)
        if replica is None or self._closed:
            return None
        idle = replica.idle
        if idle:
            now = self._running_loop().time()
            while idle:
                conn = idle.pop()
                if conn.closed or now - conn.idle_since > self.keepalive:
                    self._discard(replica, conn)
                    continue
                return conn
        return None

    async def _acquire(self, address: str, connect_timeout: float | None, fresh: bool) -> _Conn:
        """A pooled connection (unless ``fresh``), else a new one within the cap."""
        if self._closed:
            raise UpstreamConnectError(f"could not connect to {address}: the pool is closed")
        replica = self._replicas.get(address)
        if replica is None:
            replica = self._replicas[address] = _Replica(address)
        conn = None if fresh else self._idle(address)
        if conn is not None:
            return conn
        if replica.count >= self.per_replica:
            found = await self._wait_for_slot(replica, address)
            if found is not None:
                if not found.closed:
                    return found
                found.close()  # its place in the count is ours: connect anew
        else:
            replica.count += 1
        try:
            return await self._connect(replica, address, connect_timeout)
        except BaseException:
            self._slot_freed(replica)
            raise

    async def _wait_for_slot(self, replica: _Replica, address: str) -> _Conn | None:
        """Wait for a connection handed back (or a slot, ``None``: the count is ours)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Conn | None] = loop.create_future()
        replica.waiters.append(waiter)
        timer = loop.call_later(
            self.pool_timeout, _pool_expired, waiter, address, self.pool_timeout
        )
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection or a slot as the caller was cancelled: pass it on.
                found = waiter.result()
                if found is not None:
                    self.give_back(found, True)
                else:
                    self._slot_freed(replica)
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):
                replica.waiters.remove(waiter)

    async def _connect(self, replica: _Replica, address: str, within: float | None) -> _Conn:
        loop = asyncio.get_running_loop()
        conn = _Conn(address)
        seconds = within if within is not None else self.connect_timeout
        try:
            async with asyncio.timeout(seconds):
                await loop.create_connection(lambda: conn, replica.host, replica.port)
        except TimeoutError as exc:
            raise UpstreamConnectError(
                f"could not connect to {address}: no connection within {seconds:g} s"
            ) from exc
        except OSError as exc:
            raise UpstreamConnectError(f"could not connect to {address}: {exc}") from exc
        return conn

    # -- connections coming back -----------------------------------------------------

    def give_back(self, conn: _Conn, keep: bool) -> None:
        replica = self._replicas.get(conn.address)
        if replica is None:  # the pool was closed meanwhile
            conn.close()
            return
        if not keep or conn.closed or self._closed:
            self._discard(replica, conn)
            return
        waiters = replica.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        loop = self._running_loop()
        conn.idle_since = loop.time()
        replica.idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self.keepalive, self._sweep)

    def _discard(self, replica: _Replica, conn: _Conn) -> None:
        conn.close()
        self._slot_freed(replica)

    def _slot_freed(self, replica: _Replica) -> None:
        waiters = replica.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        replica.count -= 1

    def _sweep(self) -> None:
        """Close connections idle past ``keepalive``; runs while any are idle."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        limit = loop.time() - self.keepalive
        left = False
        for address, replica in list(self._replicas.items()):
            fresh = []
            for conn in replica.idle:
                if conn.closed or conn.idle_since < limit:
                    self._discard(replica, conn)
                else:
                    fresh.append(conn)
            replica.idle = fresh
            left = left or bool(fresh)
            if replica.count == 0 and not replica.waiters:
                del self._replicas[address]
        if left:
            self._sweeper = loop.call_later(self.keepalive / 2, self._sweep)

    def idle_count(self, address: str) -> int:
        """Idle pooled connections to ``address`` (for tests and metrics)."""
        replica = self._replicas.get(address)
        return len(replica.idle) if replica is not None else 0

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for replica in self._replicas.values():
            for conn in replica.idle:
                conn.close()
            replica.idle.clear()
            for waiter in replica.waiters:
                if not waiter.done():
                    waiter.cancel()
        self._replicas.clear()


def _pool_expired(waiter: asyncio.Future[_Conn | None], address: str, seconds: float) -> None:
    if not waiter.done():
        waiter.set_exception(
            UpstreamConnectError(
                f"could not connect to {address}: no free connection within {seconds:g} s"
            )
        )


async def _write_body(
    response: H1Response, conn: _Conn, body: ChunkReader | AsyncIterable[bytes], chunked: bool
) -> None:
    """Stream the request body to the replica; a failure ends the exchange."""
    try:
        read = getattr(body, "readany", None)
        if read is not None:
            for _ in range(1 << 62):  # bounded by the body's end
                data: bytes = await read()
                if conn.closed:
                    return
                if not data:
                    break
                transport = conn.transport
                assert transport is not None
                transport.write(chunk(data) if chunked else data)
                await conn.drain()
        else:
            async for data in cast(AsyncIterable[bytes], body):
                if conn.closed:
                    return
                transport = conn.transport
                assert transport is not None
                if data:
                    transport.write(chunk(data) if chunked else data)
                    await conn.drain()
        if chunked and not conn.closed and conn.transport is not None:
            conn.transport.write(chunk(b""))
        response._body_sent = True
    except asyncio.CancelledError:
        conn.abort()
        raise
    except Exception as exc:
        # The client's body failed (over the size limit, the client went away): the
        # replica cannot be given a whole request, so the exchange ends here.
        response._fail(UpstreamError(f"the request body to {conn.address} failed: {exc!r}"))
        conn.abort()
