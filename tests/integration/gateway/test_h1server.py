"""H1Server on loopback, spoken to over raw sockets: what goes on the wire, byte for byte.

Each test runs a scenario on a fresh uvloop event loop (the gateway's workers run
uvloop) with an ``H1Server`` on a free 127.0.0.1 port and a small handler of its own.
Every wait is bounded (``WAIT``, and ``SCENARIO`` for a whole test). The loop's
exception handler is checked at the end: a protocol callback that raised
(``protocol.data_received() call failed``) or a task error nobody read fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from tests.integration.gateway.support import garbage_left
from waypost.gateway.h1server import (
    H1Server,
    HttpRequest,
    MalformedBody,
    Response,
    json_response,
)

#: The longest any single wait on the wire may take.
WAIT = 3.0
#: The longest a whole scenario may take.
SCENARIO = 10.0
HEADER_TIMEOUT = 0.5
POLL = 0.005


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario`` on a fresh uvloop loop; fail on anything the loop had to report."""
    reported: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        async with asyncio.timeout(SCENARIO):
            await scenario()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
        gc.collect()  # a task whose exception was never retrieved reports it here
    assert not reported, [ctx.get("message") or ctx for ctx in reported]


@dataclass
class Answer:
    """One response as read from the wire."""

    raw: bytes
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One raw connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), WAIT)

    async def response(self, method: str = "GET") -> Answer:
        """Read one response: by its Content-Length, its chunks, or to the close."""
        read = self.reader
        head = await asyncio.wait_for(read.readuntil(b"\r\n\r\n"), WAIT)
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, _ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", head
        headers = [(n, v) for n, _, v in (line.partition(": ") for line in lines)]
        answer = Answer(head, int(status), headers, b"")
        length = answer.header("Content-Length")
        if method == "HEAD" or answer.status < 200 or answer.status in (204, 304):
            return answer
        if length is not None:
            answer.body = await asyncio.wait_for(read.readexactly(int(length)), WAIT)
            answer.raw += answer.body
        elif answer.header("Transfer-Encoding") == "chunked":
            for _ in range(100_000):
                size_line = await asyncio.wait_for(read.readuntil(b"\r\n"), WAIT)
                size = int(size_line, 16)
                chunk = await asyncio.wait_for(read.readexactly(size + 2), WAIT)
                answer.raw += size_line + chunk
                answer.body += chunk[:-2]
                if size == 0:
                    break
        else:
            answer.body = await asyncio.wait_for(read.read(), WAIT)
            answer.raw += answer.body
        return answer

    async def rest(self) -> bytes:
        """Everything the server still sends, up to its close (b"": it just closed)."""
        return await asyncio.wait_for(self.reader.read(), WAIT)

    async def stays_open(self, seconds: float = 0.2) -> bool:
        """Nothing arrives, not even the close, for ``seconds``."""
        try:
            await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), WAIT)


@dataclass
class Served:
    server: H1Server
    port: int
    clients: list[Client] = field(default_factory=list)

    async def connect(self) -> Client:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), WAIT
        )
        client = Client(reader, writer)
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def serving(server: H1Server) -> AsyncIterator[Served]:
    """``server`` listening on a free loopback port; clients and connections closed after."""
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", 0)
    served = Served(server, listener.sockets[0].getsockname()[1])
    try:
        yield served
    finally:
        for client in served.clients:
            await client.close()
        listener.close()
        server.cancel_all()
        await asyncio.wait_for(listener.wait_closed(), WAIT)
        await until(lambda: not server.connections)


async def until(condition: Callable[[], bool]) -> None:
    """Poll server state that has no event to wait on, for up to ``WAIT`` seconds."""
    for _ in range(int(WAIT / POLL)):
        if condition():
            return
        await asyncio.sleep(POLL)
    raise AssertionError("the condition never held")


def busy(server: H1Server) -> int:
    """Connections with a request being handled or waiting its turn."""
    return sum(1 for conn in server.connections if conn.busy)


async def read_all(request: HttpRequest) -> bytes:
    chunks = []
    while chunk := await request.content.readany():
        chunks.append(chunk)
    return b"".join(chunks)


async def hello(request: HttpRequest) -> Response:
    return Response(200, [("X-Path", request.raw_path)], b"hello")


def hello_raw(path: str, connection: str | None = None) -> bytes:
    line = f"Connection: {connection}\r\n" if connection else ""
    return f"HTTP/1.1 200 OK\r\nX-Path: {path}\r\nContent-Length: 5\r\n{line}\r\nhello".encode()


def refused(answer: Answer, status: int, code: str) -> None:
    """``answer`` is the server's JSON refusal that closes the connection."""
    assert answer.status == status, answer.raw
    assert answer.header("Content-Type") == "application/json; charset=utf-8"
    assert answer.header("Connection") == "close"
    body = answer.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]


# -- 1. keep-alive ----------------------------------------------------------------------


def test_http11_keeps_the_connection_for_the_next_request() -> None:
    async def scenario() -> None:
        async with serving(H1Server(hello)) as s:
            c = await s.connect()
            await c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response()).raw == hello_raw("/a")
            await c.send(b"GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response()).raw == hello_raw("/b?q=1")
            assert await c.stays_open()
            assert len(s.server.connections) == 1

    run(scenario)


@pytest.mark.parametrize(
    ("request_head", "connection", "keeps"),
    [
        pytest.param(b"GET /a HTTP/1.0\r\n\r\n", "close", False, id="http10"),
        pytest.param(
            b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "keep-alive",
            True,
            id="http10-keep-alive",
        ),
        pytest.param(
            b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n", "close", False, id="http11-close"
        ),
    ],
)
def test_connection_header_decides_keep_alive(
    request_head: bytes, connection: str, keeps: bool
) -> None:
    async def scenario() -> None:
        async with serving(H1Server(hello)) as s:
            c = await s.connect()
            await c.send(request_head)
            assert (await c.response()).raw == hello_raw("/a", connection)
            if keeps:
                await c.send(request_head)
                assert (await c.response()).raw == hello_raw("/a", connection)
                assert await c.stays_open()
            else:
                assert await c.rest() == b""

    run(scenario)


# -- 2. pipelining ----------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order_one_at_a_time() -> None:
    events: list[str] = []

    async def recording(request: HttpRequest) -> Response:
        events.append(f"start {request.raw_path}")
        await asyncio.sleep(0.2 if request.raw_path == "/slow" else 0)
        events.append(f"end {request.raw_path}")
        return Response(200, [("X-Path", request.raw_path)], b"hello")

    async def scenario() -> None:
        async with serving(H1Server(recording)) as s:
            c = await s.connect()
            await c.send(
                b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            for path in ("/slow", "/b", "/c"):
                assert (await c.response()).raw == hello_raw(path)
            assert await c.stays_open()

    run(scenario)
    assert events == ["start /slow", "end /slow", "start /b", "end /b", "start /c", "end /c"]


def test_queued_request_body_flows_when_its_turn_comes() -> None:
    big = random.Random(9).randbytes(3 * 1024 * 1024)

    async def hashing(request: HttpRequest) -> Response:
        if request.raw_path == "/first":
            await asyncio.sleep(0.1)
        body = await read_all(request)
        return Response(200, [], hashlib.sha256(body).hexdigest().encode())

    async def scenario() -> None:
        async with serving(H1Server(hashing)) as s:
            c = await s.connect()
            c.writer.write(
                b"POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%b"
                b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n" % (len(big), big)
            )
            for body in (b"hello", big, b""):
                assert (await c.response()).body == hashlib.sha256(body).hexdigest().encode()
            await asyncio.wait_for(c.writer.drain(), WAIT)

    run(scenario)


# -- 3. streamed responses ----------------------------------------------------------------


async def streaming(request: HttpRequest) -> None:
    headers = [("X-Stream", "1")]
    if request.raw_path == "/length":
        headers.append(("Content-Length", "32"))
    await request.start(200, headers)
    if request.method != "HEAD":
        await request.write(b"a" * 26)
        await request.write(b"")  # nothing to send: no empty (last) chunk either
        await request.write(b"012345")


STREAMED = b"a" * 26 + b"012345"


def test_streamed_response_without_length_is_chunked_on_http11() -> None:
    async def scenario() -> None:
        async with serving(H1Server(streaming)) as s:
            c = await s.connect()
            await c.send(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await c.response()
            assert answer.raw == (
                b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1a\r\n" + b"a" * 26 + b"\r\n6\r\n012345\r\n0\r\n\r\n"
            )
            await c.send(b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n")  # the framing held
            assert (await c.response()).body == STREAMED
            assert await c.stays_open()

    run(scenario)


def test_streamed_response_without_length_is_close_delimited_on_http10() -> None:
    async def scenario() -> None:
        async with serving(H1Server(streaming)) as s:
            c = await s.connect()
            await c.send(b"GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            answer = await c.response()  # read to the close
            assert answer.raw == (
                b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\nConnection: close\r\n\r\n" + STREAMED
            )

    run(scenario)


def test_streamed_response_with_length_is_sent_raw() -> None:
    async def scenario() -> None:
        async with serving(H1Server(streaming)) as s:
            c = await s.connect()
            for _ in range(2):
                await c.send(b"GET /length HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = await c.response()
                assert answer.raw == (
                    b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\nContent-Length: 32\r\n\r\n" + STREAMED
                )
            assert await c.stays_open()

    run(scenario)


def test_streamed_write_waits_for_a_slow_client() -> None:
    piece, pieces = b"z" * 65536, 256  # 16 MiB: more than the socket buffers hold
    written: list[int] = []

    async def flood(request: HttpRequest) -> None:
        await request.start(200, [("Content-Length", str(len(piece) * pieces))])
        for _ in range(pieces):
            await request.write(piece)
            written.append(len(piece))

    async def scenario() -> None:
        async with serving(H1Server(flood)) as s:
            c = await s.connect()
            await c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.sleep(0.3)  # not reading
            assert len(written) < pieces  # the handler waits in write
            answer = await c.response()
            assert answer.body == piece * pieces
            assert len(written) == pieces

    run(scenario)


def test_head_answers_carry_no_body() -> None:
    async def whole(request: HttpRequest) -> Response:
        return Response(200, [("Content-Length", "5")], b"hello")

    async def scenario() -> None:
        async with serving(H1Server(streaming)) as s:
            c = await s.connect()
            await c.send(b"HEAD /s HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response("HEAD")).raw == b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\n\r\n"
            await c.send(b"HEAD /length HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response("HEAD")).raw == (
                b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\nContent-Length: 32\r\n\r\n"
            )
            # Nothing stray (a last chunk, a body) sits before the next answer.
            await c.send(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response()).body == STREAMED
        async with serving(H1Server(whole)) as s:
            c = await s.connect()
            await c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")  # keeps the GET length
            assert (await c.response("HEAD")).raw == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
            await c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response()).body == b"hello"

    run(scenario)


def test_streamed_body_written_on_head_is_dropped() -> None:
    async def scenario() -> None:
        async def body_anyway(request: HttpRequest) -> None:
            await request.start(200, [("Content-Length", "5")])
            await request.write(b"hello")

        async with serving(H1Server(body_anyway)) as s:
            c = await s.connect()
            await c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response("HEAD")).raw == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
            assert (await c.response()).raw == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

    run(scenario)


# -- 4. request bodies --------------------------------------------------------------------


async def digest(request: HttpRequest) -> Response:
    """Read the body slowly at first (the connection must stop reading), then report it."""
    await asyncio.sleep(0.1)
    sha, size, reads, largest = hashlib.sha256(), 0, 0, 0
    while chunk := await request.content.readany():
        sha.update(chunk)
        size += len(chunk)
        reads += 1
        largest = max(largest, len(chunk))
    report = {
        "size": size,
        "largest_read": largest,
        "sha256": sha.hexdigest(),
        "reads": reads,
        "total_bytes": request.content.total_bytes,
        "complete": request.content.complete,
        "content_length": request.content_length,
        "body_exists": request.body_exists,
    }
    return Response(200, [], json.dumps(report).encode())


def test_chunked_upload_streams_to_the_handler() -> None:
    data = random.Random(7).randbytes(2 * 1024 * 1024)
    piece = 48 * 1024 + 5  # odd chunk sizes: framing, not alignment

    async def scenario() -> None:
        async with serving(H1Server(digest)) as s:
            c = await s.connect()
            await c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for at in range(0, len(data), piece):
                chunk = data[at : at + piece]
                await c.send(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            await c.send(b"0\r\n\r\n")
            report = (await c.response()).json()
            assert report["sha256"] == hashlib.sha256(data).hexdigest()
            assert report["size"] == report["total_bytes"] == len(data)
            assert report["complete"] is True
            assert report["content_length"] is None
            assert report["body_exists"] is True
            # What piled up while the handler slept: the connection stopped reading
            # past its high-water mark instead of buffering all 2 MiB.
            assert report["largest_read"] <= 1024 * 1024
            await c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # read to its end: reused
            assert (await c.response()).json()["size"] == 0

    run(scenario)


def test_declared_length_body_streams_to_the_handler() -> None:
    data = random.Random(8).randbytes(1024 * 1024 + 3)

    async def scenario() -> None:
        async with serving(H1Server(digest)) as s:
            c = await s.connect()
            await c.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(data))
            for at in range(0, len(data), 64 * 1024):
                await c.send(data[at : at + 64 * 1024])
            report = (await c.response()).json()
            assert report["sha256"] == hashlib.sha256(data).hexdigest()
            assert report["size"] == report["total_bytes"] == report["content_length"] == len(data)
            assert report["complete"] is True
            assert report["body_exists"] is True
            await c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            report = (await c.response()).json()
            assert (report["size"], report["content_length"], report["body_exists"]) == (
                0,
                0,
                False,
            )

    run(scenario)


def test_a_body_that_came_with_its_head_is_whole_when_the_handler_gets_it() -> None:
    """It is handed over at the end of the read that brought the head, not at the end of
    the head: a small body sent with it is then all there (sent on in one write), and a
    body still to come streams in behind the handler."""
    seen: list[tuple[bool, int]] = []

    async def echo(request: HttpRequest) -> Response:
        return Response(200, [], await read_all(request))

    def handler(request: HttpRequest) -> Coroutine[Any, Any, Response]:
        # What the handler has when it is called, before any task of its own runs.
        seen.append((request.content.all_buffered, request.content.total_bytes))
        return echo(request)

    async def scenario() -> None:
        async with serving(H1Server(handler)) as s:
            c = await s.connect()
            body = b'{"inputs": [1, 2, 3]}'
            head = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
            await c.send(head + body)
            assert (await c.response()).body == body
            assert seen == [(True, len(body))]
            await c.send(head + body[:5])  # the rest comes later
            await until(lambda: len(seen) == 2)
            assert seen[1] == (False, 5)  # the handler runs before the body is in
            await c.send(body[5:])
            assert (await c.response()).body == body

    run(scenario)


# -- 5. Expect: 100-continue -------------------------------------------------------------


def test_send_continue_writes_100_before_the_answer() -> None:
    go = asyncio.Event()

    async def continuing(request: HttpRequest) -> Response:
        await go.wait()
        request.send_continue()
        return Response(200, [], await read_all(request))

    async def scenario() -> None:
        async with serving(H1Server(continuing)) as s:
            c = await s.connect()
            await c.send(
                b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
            )
            assert await c.stays_open(0.1)  # not before the handler asks for the body
            go.set()
            assert (await c.response()).raw == b"HTTP/1.1 100 Continue\r\n\r\n"
            await c.send(b"hello")
            assert (await c.response()).raw == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
            # HTTP/1.0 has no interim answers: the final one comes alone.
            c = await s.connect()
            await c.send(
                b"POST /up HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
            )
            answer = await c.response()
            assert (answer.status, answer.body) == (200, b"hello")

    run(scenario)


# -- 6. limits ----------------------------------------------------------------------------


LIMITS = {"max_header_size": 1024, "max_headers": 10}
NINE_FIELDS = "".join(f"X-H{i}: {i}\r\n" for i in range(9))  # the tenth: Host, X-Big


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        pytest.param(
            f"GET / HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 1020}\r\n\r\n".encode(),
            431,
            "header_too_large",
            id="header-field",
        ),
        pytest.param(
            f"GET /{'a' * 1030} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            431,
            "header_too_large",
            id="request-line",
        ),
        pytest.param(
            f"GET / HTTP/1.1\r\nHost: x\r\n{NINE_FIELDS}X-One-More: 1\r\n\r\n".encode(),
            400,
            "bad_request",
            id="too-many-fields",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "bad_request", id="malformed-field"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "bad_request",
            id="ambiguous-framing",
        ),
    ],
)
def test_limits_and_malformed_heads_are_refused(
    request_bytes: bytes, status: int, code: str
) -> None:
    calls: list[str] = []

    async def never(request: HttpRequest) -> Response:
        calls.append(request.raw_path)
        return Response(200, [], b"")

    async def scenario() -> None:
        async with serving(H1Server(never, **LIMITS)) as s:
            c = await s.connect()
            await c.send(request_bytes)
            refused(await c.response(), status, code)
            assert await c.rest() == b""

    run(scenario)
    assert calls == []


def test_fields_at_the_limits_are_accepted() -> None:
    async def scenario() -> None:
        async with serving(H1Server(hello, **LIMITS)) as s:
            c = await s.connect()
            field_value = "a" * (1024 - len("X-Big") - 2)
            await c.send(f"GET / HTTP/1.1\r\nX-Big: {field_value}\r\n{NINE_FIELDS}\r\n".encode())
            assert (await c.response()).raw == hello_raw("/")

    run(scenario)


def test_a_head_growing_past_its_bound_is_refused() -> None:
    async def scenario() -> None:
        server = H1Server(hello, max_header_size=1024, max_headers=100_000)
        async with serving(server) as s:
            c = await s.connect()
            await c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
            ten_fields = "".join(f"X-Field-{i}: {'v' * 40}\r\n" for i in range(10)).encode()
            for _ in range(40):  # ~24 KiB, every field far under the limit; never ends
                await asyncio.sleep(0.003)  # separate reads
                await c.send(ten_fields)
            answer = await c.response()
            refused(answer, 431, "header_too_large")
            assert "head" in answer.json()["message"]
            assert await c.rest() == b""

    run(scenario)


def test_bad_request_behind_a_closing_answer_gets_no_answer() -> None:
    """Refused while the request before it was handled: that answer says ``close``
    and is the last one on the connection."""

    async def slow(request: HttpRequest) -> Response:
        await asyncio.sleep(0.1)
        return await hello(request)

    async def scenario() -> None:
        async with serving(H1Server(slow)) as s:
            c = await s.connect()
            await c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad Header\r\n\r\n")
            assert (await c.response()).raw == hello_raw("/a", "close")
            assert await c.rest() == b""

    run(scenario)


def test_bad_request_behind_a_streamed_answer_is_refused_after_it() -> None:
    """The streamed head went out before the refusal: the answer ends, then the 400."""
    streaming_started = asyncio.Event()
    go = asyncio.Event()

    async def held_stream(request: HttpRequest) -> None:
        await request.start(200, [])
        streaming_started.set()
        await go.wait()
        await request.write(b"done")

    async def scenario() -> None:
        async with serving(H1Server(held_stream)) as s:
            c = await s.connect()
            await c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.wait_for(streaming_started.wait(), WAIT)
            await c.send(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
            await asyncio.sleep(0.05)
            go.set()
            assert (await c.response()).raw == (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndone\r\n0\r\n\r\n"
            )
            refused(await c.response(), 400, "bad_request")
            assert await c.rest() == b""

    run(scenario)


# -- 7. header timeout --------------------------------------------------------------------


async def closed_within(c: Client) -> float:
    """Seconds until the server closes ``c`` without an answer."""
    start = time.monotonic()
    assert await c.rest() == b""
    return time.monotonic() - start


def test_header_timeout() -> None:
    async def handler(request: HttpRequest) -> Response:
        if request.raw_path == "/slow":
            await asyncio.sleep(2 * HEADER_TIMEOUT)  # handling is not waiting for a head
        return await hello(request)

    async def half_a_request_line(s: Served) -> float:
        c = await s.connect()
        await c.send(b"GET /pa")
        return await closed_within(c)

    async def idle_after_a_response(s: Served) -> float:
        c = await s.connect()
        await c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await c.response()).raw == hello_raw("/a")
        return await closed_within(c)

    async def busy_client(s: Served) -> None:
        c = await s.connect()
        for i in range(6):  # 1.5 s, three times the timeout
            await c.send(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            assert (await c.response()).raw == hello_raw(f"/{i}")
            await asyncio.sleep(HEADER_TIMEOUT / 2)
        await c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await c.response()).raw == hello_raw("/slow")
        assert await c.stays_open(HEADER_TIMEOUT / 4)

    async def scenario() -> None:
        async with serving(H1Server(handler, header_timeout=HEADER_TIMEOUT)) as s:
            partial, idle, _ = await asyncio.gather(
                half_a_request_line(s), idle_after_a_response(s), busy_client(s)
            )
        assert 0.8 * HEADER_TIMEOUT <= partial <= 3 * HEADER_TIMEOUT
        assert 0.8 * HEADER_TIMEOUT <= idle <= 3 * HEADER_TIMEOUT

    run(scenario)


# -- 8. handler failures ------------------------------------------------------------------


async def failing(request: HttpRequest) -> Response | None:
    if request.raw_path == "/boom":
        raise ValueError("boom")
    if request.raw_path == "/nothing":
        return None
    if request.raw_path == "/late":
        await request.start(200, [])
        await request.write(b"partial")
        raise ValueError("late boom")
    return Response(200, [], b"ok")


@pytest.mark.parametrize("path", ["/boom", "/nothing"])
def test_handler_failure_is_a_500_and_the_server_serves_on(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with serving(H1Server(failing)) as s:
            other = await s.connect()
            c = await s.connect()
            await c.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            refused(await c.response(), 500, "internal")
            assert await c.rest() == b""
            for client in (other, await s.connect()):
                await client.send(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
                assert (await client.response()).body == b"ok"

    run(scenario)
    assert f"the gateway failed on GET {path}" in caplog.text


def test_handler_failure_after_the_head_cuts_the_response_short() -> None:
    async def scenario() -> None:
        async with serving(H1Server(failing)) as s:
            c = await s.connect()
            await c.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), WAIT)
            assert head == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            try:
                rest = await c.rest()
            except ConnectionResetError:  # aborted: the client must not take it as whole
                rest = b""
            assert not rest.endswith(b"0\r\n\r\n"), rest

    run(scenario)


# -- 9. client disconnects ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "half-close"])
def test_client_leaving_cancels_the_handler(how: str) -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def waiting(request: HttpRequest) -> Response:
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(200, [], b"too late")

    async def scenario() -> None:
        async with serving(H1Server(waiting)) as s:
            c = await s.connect()
            await c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.wait_for(entered.wait(), WAIT)
            assert busy(s.server) == 1
            if how == "close":
                await c.close()
            else:
                c.writer.write_eof()
            await asyncio.wait_for(cancelled.wait(), WAIT)
            await until(lambda: busy(s.server) == 0 and not s.server.connections)

    run(scenario)


# -- 10. lingering close ------------------------------------------------------------------


def test_refused_body_is_drained_so_the_client_reads_the_answer() -> None:
    size = 8 * 1024 * 1024
    calls: list[bool] = []

    async def too_large(request: HttpRequest) -> Response:
        calls.append(request.content.complete)
        return Response(413, [("Content-Type", "text/plain")], b"too large", close=True)

    async def scenario() -> None:
        async with serving(H1Server(too_large, linger=2.0)) as s:
            c = await s.connect()
            # A naive client: the whole body first, only then the answer.
            await c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
            piece = b"x" * (256 * 1024)
            for _ in range(size // len(piece)):
                await c.send(piece)
            answer = await c.response()
            assert answer.raw == (
                b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 9\r\nConnection: close\r\n\r\ntoo large"
            )
            assert await c.rest() == b""  # EOF, not a reset

    run(scenario)
    assert calls == [False]


# -- 11. draining -------------------------------------------------------------------------


def test_draining_closes_after_the_next_response() -> None:
    async def scenario() -> None:
        async with serving(H1Server(hello)) as s:
            c = await s.connect()
            await c.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response()).raw == hello_raw("/a")
            s.server.draining = True
            await c.send(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await c.response()).raw == hello_raw("/b", "close")
            assert await c.rest() == b""

    run(scenario)


def test_close_idle_spares_busy_connections() -> None:
    release = asyncio.Event()

    async def holding(request: HttpRequest) -> Response:
        if request.raw_path == "/hold":
            await release.wait()
        return await hello(request)

    async def scenario() -> None:
        async with serving(H1Server(holding)) as s:
            answered, silent, holder = [await s.connect() for _ in range(3)]
            await answered.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await answered.response()).raw == hello_raw("/a")
            await holder.send(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            await until(lambda: busy(s.server) == 1 and len(s.server.connections) == 3)
            s.server.close_idle()
            assert await answered.rest() == b""
            assert await silent.rest() == b""
            assert await holder.stays_open()
            release.set()
            assert (await holder.response()).raw == hello_raw("/hold")

    run(scenario)


# -- 12. trailers -------------------------------------------------------------------------


def test_trailers_are_not_taken_for_headers() -> None:
    async def headers_after_body(request: HttpRequest) -> Response:
        body = await read_all(request)
        report = {"headers": request.headers.items(), "body": body.decode()}
        return Response(200, [], json.dumps(report).encode())

    async def scenario() -> None:
        async with serving(H1Server(headers_after_body)) as s:
            c = await s.connect()
            await c.send(
                b"POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Trailer: X-Trailer\r\n\r\n"
                b"5\r\nhello\r\n0\r\nX-Trailer: secret\r\nHost: evil\r\n\r\n"
                b"GET /next HTTP/1.1\r\nHost: y\r\n\r\n"
            )
            assert (await c.response()).json() == {
                "headers": [
                    ["Host", "x"],
                    ["Transfer-Encoding", "chunked"],
                    ["Trailer", "X-Trailer"],
                ],
                "body": "hello",
            }
            assert (await c.response()).json() == {"headers": [["Host", "y"]], "body": ""}

    run(scenario)


# -- 13. malformed request bodies ---------------------------------------------------------


@pytest.mark.parametrize("apart", [False, True], ids=["one-write", "bad-chunk-later"])
def test_malformed_chunk_fails_the_body_read(apart: bool) -> None:
    errors: list[BaseException] = []
    got: list[bytes] = []

    async def reading(request: HttpRequest) -> Response:
        try:
            while chunk := await request.content.readany():
                got.append(chunk)
        except MalformedBody as exc:
            errors.append(exc)
            return json_response(400, {"error": "bad_body", "message": str(exc)}, [])
        return Response(200, [], b"".join(got))

    async def scenario() -> None:
        async with serving(H1Server(reading)) as s:
            c = await s.connect()
            head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
            bad = b"zz\r\nmore\r\n0\r\n\r\n"
            if apart:
                await c.send(head)
                await until(lambda: got == [b"hello"])
                await c.send(bad)
            else:
                await c.send(head + bad)
            answer = await c.response()
            assert answer.status == 400
            assert answer.json()["error"] == "bad_body"
            assert answer.header("Connection") == "close"
            assert await c.rest() == b""  # no second answer (the server's own refusal)

    run(scenario)
    assert got == [b"hello"]
    assert len(errors) == 1


def test_malformed_chunk_after_an_early_answer_is_dropped() -> None:
    async def early(request: HttpRequest) -> Response:
        return Response(200, [], b"early")

    async def scenario() -> None:
        async with serving(H1Server(early)) as s:
            c = await s.connect()
            await c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            assert (await c.response()).body == b"early"
            await c.send(b"5\r\nhello\r\nzz\r\n")
            assert await c.rest() == b""  # the connection ends without a second answer

    run(scenario)


# -- 14. upgrade --------------------------------------------------------------------------


class Echo(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def test_upgrade_hands_over_the_transport_and_the_early_bytes() -> None:
    handed: list[tuple[asyncio.Transport, bytes]] = []

    async def upgrading(request: HttpRequest) -> None:
        transport, rest = request.upgrade([("Upgrade", "echo"), ("Connection", "Upgrade")])
        handed.append((transport, rest))
        echo = Echo(transport)
        transport.set_protocol(echo)
        echo.data_received(rest)

    async def scenario() -> None:
        async with serving(H1Server(upgrading)) as s:
            c = await s.connect()
            try:
                await c.send(
                    b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
                    b"\r\nEARLY-BYTES"
                )
                head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade"
                expected = head + b"\r\n\r\nEARLY-BYTES"
                got = await asyncio.wait_for(c.reader.readexactly(len(expected)), WAIT)
                assert got == expected
                await c.send(b"ping")
                assert await asyncio.wait_for(c.reader.readexactly(4), WAIT) == b"ping"
                assert [rest for _, rest in handed] == [b"EARLY-BYTES"]
                assert not s.server.connections  # no longer the server's
            finally:
                for transport, _ in handed:
                    transport.close()

    run(scenario)


def test_upgrade_request_answered_normally_closes() -> None:
    async def scenario() -> None:
        async with serving(H1Server(hello)) as s:
            c = await s.connect()
            await c.send(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nRAW"
            )
            assert (await c.response()).raw == hello_raw("/ws", "close")
            assert await c.rest() == b""

    run(scenario)


def test_a_closed_connection_leaves_no_garbage_for_the_collector() -> None:
    """The request parser and its connection refer to each other: with a client that
    opens a connection per request, a cycle left to the collector each time."""

    async def scenario() -> None:
        async with serving(H1Server(hello)) as s:
            with garbage_left() as left:
                for n in range(10):
                    c = await s.connect()
                    await c.send(
                        f"GET /{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                    )
                    assert (await c.response()).status == 200
                    await c.close()
                await until(lambda: not s.server.connections)
                s.clients.clear()
        assert "_Connection" not in left
        assert "HttpRequestParser" not in left

    run(scenario)
