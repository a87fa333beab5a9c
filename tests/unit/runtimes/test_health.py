"""Probes against in-process asyncio servers: status lines, timeouts, refusals."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from waypost.runtimes.local.health import parse_status_line, probe


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"HTTP/1.1 200 OK\r\n", 200),
        (b"HTTP/1.0 302 Found\r\n", 302),
        (b"HTTP/1.1 503\r\n", 503),
        (b"HTTP/2 204 No Content\r\n", 204),
        (b"SSH-2.0-OpenSSH_9.6\r\n", None),
        (b"HTTP/1.1 abc\r\n", None),
        (b"HTTP/1.1 42 Nope\r\n", None),
        (b"", None),
    ],
)
def test_parse_status_line(line: bytes, status: int | None) -> None:
    assert parse_status_line(line) == status


class Servers:
    """Tiny HTTP-ish servers on free loopback ports, answering with fixed bytes."""

    def __init__(self) -> None:
        self.servers: list[asyncio.Server] = []
        self.requests: list[bytes] = []
        self.handlers: set[asyncio.Task[None]] = set()

    async def start(self, answer: bytes | None) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self.handlers.add(task)
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            if answer is None:
                await reader.read()  # never answers: wait for the prober to hang up
            else:
                writer.write(answer)
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    found = Servers()
    yield found
    for server in found.servers:
        server.close()
        await server.wait_closed()
    async with asyncio.timeout(5):
        await asyncio.gather(*found.handlers, return_exceptions=True)


async def test_health_path_needs_2xx_or_3xx(servers: Servers) -> None:
    ok = await servers.start(b"HTTP/1.1 204 No Content\r\n\r\n")
    result = await probe("127.0.0.1", ok, "/health", 2.0)
    assert (result.ok, result.detail) == (True, "HTTP 204")
    assert servers.requests[-1].startswith(b"GET /health HTTP/1.1\r\n")
    bad = await servers.start(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    assert (await probe("127.0.0.1", bad, "/health", 2.0)).ok is False


async def test_without_a_path_any_http_answer_will_do(servers: Servers) -> None:
    port = await servers.start(b"HTTP/1.1 404 Not Found\r\n\r\n")
    result = await probe("127.0.0.1", port, None, 2.0)
    assert (result.ok, result.detail) == (True, "HTTP 404")
    assert servers.requests[-1].startswith(b"GET / HTTP/1.1\r\n")


async def test_not_http_and_silence_fail(servers: Servers) -> None:
    garbage = await servers.start(b"hello\r\n")
    assert (await probe("127.0.0.1", garbage, None, 2.0)).detail == "not an HTTP answer"
    silent = await servers.start(None)
    result = await probe("127.0.0.1", silent, None, 0.2)
    assert (result.ok, result.detail) == (False, "no answer within 0.2s")


async def test_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await probe("127.0.0.1", port, "/health", 1.0)
    assert (result.ok, result.detail) == (False, "connection refused")
