"""h1client against real servers on loopback: pooling, keep-alive, framing, failures.

Each test runs a scripted ``asyncio`` server on a free 127.0.0.1 port whose handler
says exactly what goes on the wire; ``Script`` counts the connections it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httptools
import pytest

from tests.integration.gateway.support import garbage_left
from waypost.gateway.h1client import (
    H1Pool,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Script"], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Request:
    """One request as the scripted server parsed it."""

    def __init__(self) -> None:
        self.method = ""
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True

    def header(self, name: bytes) -> bytes | None:
        return next((v for n, v in self.headers if n == name.lower()), None)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection (``None``: the client closed it first)."""
    request = Request()
    parser = httptools.HttpRequestParser(request)
    for _ in range(10_000):
        data = await reader.read(65536)
        if not data:
            return None
        parser.feed_data(data)
        if request.done:
            request.method = parser.get_method().decode()
            return request
    raise AssertionError("request never ended")


class Script:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[Request] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def next(self, reader: asyncio.StreamReader) -> Request | None:
        request = await read_request(reader)
        if request is not None:
            self.requests.append(request)
        return request


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Script]:
    script = Script(handler)
    server = await asyncio.start_server(script._serve, "127.0.0.1", 0)
    script.server = server
    script.port = server.sockets[0].getsockname()[1]
    try:
        yield script
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await server.wait_closed()


@contextlib.asynccontextmanager
async def pool(**kwargs: float) -> AsyncIterator[H1Pool]:
    p = H1Pool(**kwargs)  # type: ignore[arg-type]
    try:
        yield p
    finally:
        await p.close()


async def keep_alive_ok(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Script
) -> None:
    for _ in range(1000):
        if await s.next(reader) is None:
            return
        writer.write(OK)
        await writer.drain()


async def get(p: H1Pool, address: str, method: str = "GET", body: bytes | None = None) -> bytes:
    response = await p.request(address, method, "/x", [], body, read_timeout=10)
    try:
        return await response.read()
    finally:
        response.release()


async def test_connections_are_pooled_and_reused() -> None:
    async with serving(keep_alive_ok) as s, pool() as p:
        for _ in range(5):
            assert await get(p, s.address) == b"ok"
        assert s.connections == 1
        assert p.idle_count(s.address) == 1
        assert [r.header(b"host") for r in s.requests] == [s.address.encode()] * 5


async def test_a_released_response_leaves_no_garbage_for_the_collector() -> None:
    """A response and its parser refer to each other until ``release``: a cycle per
    request left to the garbage collector cost a worker about a tenth of its CPU."""
    async with serving(keep_alive_ok) as s, pool() as p:
        assert await get(p, s.address) == b"ok"  # the connection is open and pooled
        with garbage_left() as left:
            for _ in range(20):
                assert await get(p, s.address) == b"ok"
    assert "H1Response" not in left
    assert "HttpResponseParser" not in left


async def test_request_line_headers_and_known_body_arrive() -> None:
    async with serving(keep_alive_ok) as s, pool() as p:
        response = await p.request(
            s.address, "POST", "/a/b?q=1", [("X-One", "1"), ("X-One", "2")], b"hello"
        )
        assert (response.status, response.reason, response.complete) == (200, "OK", True)
        assert response.headers == [("Content-Length", "2")]
        assert response.body() == b"ok"
        response.release()
        (request,) = s.requests
        assert (request.method, request.url, request.body) == ("POST", b"/a/b?q=1", b"hello")
        assert [v for n, v in request.headers if n == b"x-one"] == [b"1", b"2"]
        assert request.header(b"content-length") == b"5"


async def test_connection_close_is_not_reused() -> None:
    async def close_each(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

    async with serving(close_each) as s, pool() as p:
        for _ in range(3):
            assert await get(p, s.address) == b"ok"
        assert s.connections == 3
        assert p.idle_count(s.address) == 0


async def test_http10_without_keep_alive_is_not_reused() -> None:
    async def http10(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

    async with serving(http10) as s, pool() as p:
        assert await get(p, s.address) == b"ok"
        assert await get(p, s.address) == b"ok"
        assert s.connections == 2


async def answer_once(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
    """Answers the first request of a connection; hangs up on the second unanswered: a
    keep-alive connection closed just as the client reused it."""
    await s.next(r)
    w.write(OK)
    await w.drain()
    await s.next(r)


async def test_pooled_connection_closed_by_replica_is_retried_for_idempotent() -> None:
    async with serving(answer_once) as s, pool() as p:
        assert await get(p, s.address) == b"ok"
        assert p.idle_count(s.address) == 1
        assert await get(p, s.address) == b"ok"  # GET: sent again on a fresh connection
        assert s.connections == 2
        assert len(s.requests) == 3


async def test_pooled_connection_closed_by_replica_fails_a_post() -> None:
    async with serving(answer_once) as s, pool() as p:
        assert await get(p, s.address) == b"ok"
        with pytest.raises(UpstreamError, match="before answering") as caught:
            await get(p, s.address, "POST", b"data")
        assert not isinstance(caught.value, UpstreamConnectError | UpstreamTimeout)
        assert s.connections == 1


async def test_chunked_response_streams() -> None:
    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(3):
            await asyncio.sleep(0.05)
            w.write(b"%x\r\n%b\r\n" % (7, b"chunk-%d" % i))
            await w.drain()
        w.write(b"0\r\n\r\n")
        await keep_alive_ok(r, w, s)

    async with serving(chunked) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        assert not response.complete
        parts = [part async for part in response]
        response.release()
        assert b"".join(parts) == b"chunk-0chunk-1chunk-2"
        assert len(parts) >= 2  # arrived as sent, not at the end
        assert await get(p, s.address) == b"ok"
        assert s.connections == 1  # a chunked body read to its end: reused


async def test_body_until_close() -> None:
    async def until_close(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\n\r\nall of ")
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(b"it")
        await w.drain()

    async with serving(until_close) as s, pool() as p:
        assert await get(p, s.address) == b"all of it"
        assert p.idle_count(s.address) == 0


async def test_large_body_with_back_pressure() -> None:
    size = 3 * 1024 * 1024 + 17

    async def big(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for offset in range(0, size, 65536):
            w.write(bytes([offset // 65536 % 256]) * min(65536, size - offset))
            await w.drain()
        await keep_alive_ok(r, w, s)

    async with serving(big) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        total = 0
        for _ in range(10_000):
            part = await response.readany()
            if not part:
                break
            total += len(part)
            await asyncio.sleep(0.001)  # a slow client
        response.release()
        assert total == size
        assert await get(p, s.address) == b"ok"
        assert s.connections == 1


async def test_streamed_request_body_is_chunked_or_declared() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(3):
            yield b"part%d " % i

    async with serving(keep_alive_ok) as s, pool() as p:
        response = await p.request(s.address, "POST", "/", [], parts(), read_timeout=10)
        await response.read()
        response.release()
        response = await p.request(
            s.address, "POST", "/", [("Content-Length", "18")], parts(), read_timeout=10
        )
        await response.read()
        response.release()
        first, second = s.requests
        assert first.body == second.body == b"part0 part1 part2 "
        assert first.header(b"transfer-encoding") == b"chunked"
        assert second.header(b"content-length") == b"18"
        assert second.header(b"transfer-encoding") is None
        assert s.connections == 1


async def test_failing_request_body_is_an_upstream_error() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"some"
        raise RuntimeError("the client went away")

    async def read_forever(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        for _ in range(1000):
            if not await r.read(65536):
                return

    async with serving(read_forever) as s, pool() as p:
        with pytest.raises(UpstreamError, match="request body"):
            await p.request(s.address, "POST", "/", [], broken(), read_timeout=10)
        assert p.idle_count(s.address) == 0


async def test_refused_connection_is_a_connect_error() -> None:
    async with serving(keep_alive_ok) as s:
        address = s.address
    async with pool() as p:
        with pytest.raises(UpstreamConnectError, match=address):
            await get(p, address)


async def test_close_without_answer_is_an_upstream_error() -> None:
    async def hang_up(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)

    async with serving(hang_up) as s, pool() as p:
        with pytest.raises(UpstreamError) as caught:
            await get(p, s.address)
        assert not isinstance(caught.value, UpstreamConnectError | UpstreamTimeout)


async def test_body_cut_short_is_an_upstream_error() -> None:
    async def cut(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await w.drain()
        await asyncio.sleep(0.05)

    async with serving(cut) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        assert response.status == 200
        with pytest.raises(UpstreamError, match="broke off"):
            await response.read()
        response.release()
        assert p.idle_count(s.address) == 0


async def test_malformed_response_is_an_upstream_error() -> None:
    async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"NOT HTTP AT ALL\r\n\r\n")
        await w.drain()
        await asyncio.sleep(0.5)

    async with serving(garbage) as s, pool() as p:
        with pytest.raises(UpstreamError, match="malformed"):
            await get(p, s.address)


async def test_no_headers_in_time_is_a_timeout() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        await asyncio.sleep(5)

    async with serving(silent) as s, pool() as p:
        with pytest.raises(UpstreamTimeout):
            await p.request(s.address, "GET", "/", [], read_timeout=0.2)


async def test_stalled_body_is_a_timeout() -> None:
    async def stall(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        await w.drain()
        await asyncio.sleep(5)

    async with serving(stall) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=0.2)
        with pytest.raises(UpstreamTimeout):
            await response.read()
        response.release()


async def test_per_replica_cap_queues_requests() -> None:
    async def slow(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        for _ in range(1000):
            if await s.next(r) is None:
                return
            await asyncio.sleep(0.05)
            w.write(OK)
            await w.drain()

    async with serving(slow) as s, pool(per_replica=1) as p:
        results = await asyncio.gather(*(get(p, s.address) for _ in range(4)))
        assert results == [b"ok"] * 4
        assert s.connections == 1


async def test_no_free_connection_in_time_is_a_connect_error() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        await asyncio.sleep(5)

    async with serving(silent) as s, pool(per_replica=1, pool_timeout=0.2) as p:
        first = asyncio.create_task(p.request(s.address, "GET", "/", []))
        await asyncio.sleep(0.05)
        with pytest.raises(UpstreamConnectError, match="no free connection"):
            await get(p, s.address)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first


async def test_head_and_interim_responses() -> None:
    async def answers(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        request = await s.next(r)
        assert request is not None
        assert request.method == "HEAD"
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        await w.drain()
        request = await s.next(r)

    async def early_hints(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
        await w.drain()
        await keep_alive_ok(r, w, s)

    async with serving(answers) as s, pool() as p:
        response = await p.request(s.address, "HEAD", "/", [], read_timeout=10)
        assert (response.status, response.complete, response.body()) == (200, True, b"")
        response.release()
        assert p.idle_count(s.address) == 0  # never reused after HEAD
    async with serving(early_hints) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        assert response.status == 200
        assert response.headers == [("Content-Length", "2")]
        assert await response.read() == b"ok"
        response.release()


async def test_header_injection_is_not_sent() -> None:
    async with serving(keep_alive_ok) as s, pool() as p:
        with pytest.raises(ValueError, match="CR or LF"):
            await p.request(s.address, "GET", "/", [("X-A", "1\r\nX-B: 2")])
        assert s.connections == 0


def test_on_uvloop() -> None:
    """The gateway's workers run uvloop: the same exchanges on it."""
    uvloop = pytest.importorskip("uvloop")

    async def scenarios() -> None:
        await test_connections_are_pooled_and_reused()
        await test_pooled_connection_closed_by_replica_is_retried_for_idempotent()
        await test_chunked_response_streams()
        await test_large_body_with_back_pressure()
        await test_streamed_request_body_is_chunked_or_declared()
        await test_body_cut_short_is_an_upstream_error()
        await test_refused_connection_is_a_connect_error()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenarios())


async def test_wait_complete_for_a_small_body_sent_apart() -> None:
    async def apart(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(b"hello")
        await w.drain()
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
        await w.drain()
        await asyncio.sleep(0.05)

    async with serving(apart) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        assert response.content_length == 5
        assert not response.complete
        assert await response.wait_complete(1000)
        assert response.body() == b"hello"
        response.release()
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        assert not await response.wait_complete(1000)  # cut short: what came, then the error
        assert await response.readany() == b"01234"
        with pytest.raises(UpstreamError, match="broke off"):
            await response.readany()
        response.release()
        assert s.connections == 1


async def test_wait_complete_leaves_big_or_unframed_bodies_to_stream() -> None:
    async def big(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Script) -> None:
        await s.next(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + b"x" * 10)
        await w.drain()
        await asyncio.sleep(5)

    async with serving(big) as s, pool() as p:
        response = await p.request(s.address, "GET", "/", [], read_timeout=10)
        assert not await response.wait_complete(1000)  # at once: over the limit
        assert await response.readany() == b"x" * 10
        response.release()
