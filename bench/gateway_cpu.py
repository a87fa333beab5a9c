"""The gateway's CPU per proxied request, in one process, without the scheduler's noise.

    .venv/bin/python -m bench.gateway_cpu [--requests 20000] [--connections 32] [--post] [--profile]

``bench.gateway`` runs wrk, the app and the proxy as processes on the same two cores,
so its figures move with whatever else runs. This one puts a client (32 keep-alive
connections, each sending the next request when the last answer is in), the gateway
(``H1Server`` + ``ProxyHandler`` with the bench's route table, the request log written
to /dev/null every 256 lines, metrics on) and a replica that answers a fixed 13-byte
response in one event loop (uvloop), over real loopback sockets, and divides the
process's CPU time (user + system) by the requests. It runs the same client straight
against the replica ("direct"); the gateway's own cost per request is the difference,
system calls included. ``--post`` sends POSTs with a small JSON body (a prediction)
instead of GETs. ``--profile`` prints the gateway functions cProfile finds costliest
(profiling roughly doubles every figure).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from typing import TextIO

import httptools
import uvloop

from bench.gateway import APP, PREDICTION, snapshot
from waypost.gateway.core.table import RouteTable
from waypost.gateway.h1server import H1Server
from waypost.gateway.requestlog import RequestLog
from waypost.gateway.serve import tune_gc
from waypost.gateway.server import ProxyHandler
from waypost.gateway.upstream import Upstream

_ANSWER = (
    b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Wed, 25 Nov 2026 07:00:00 GMT\r\n"
    b"Connection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
    b"Hello, world!"
)


class _Replica(asyncio.Protocol):
    """Answers every request with ``_ANSWER`` once the request is in."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        self._transport.write(_ANSWER)  # type: ignore[attr-defined]


class _Client(asyncio.Protocol):
    """Sends ``request`` again each time an answer is complete, until ``left`` runs out."""

    def __init__(self, request: bytes, left: list[int], done: asyncio.Future[None]) -> None:
        self._request = request
        self._left = left
        self._done = done
        self._parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        self._left[0] -= 1
        if self._left[0] > 0:
            self._transport.write(self._request)  # type: ignore[attr-defined]
        elif not self._done.done():
            self._done.set_result(None)


async def _load(port: int, path: str, requests: int, connections: int, post: bool) -> None:
    loop = asyncio.get_running_loop()
    head = f"HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n"
    if post:
        sent = f"POST {path} {head}Content-Type: application/json\r\n"
        request = f"{sent}Content-Length: {len(PREDICTION)}\r\n\r\n".encode() + PREDICTION
    else:
        request = f"GET {path} {head}\r\n".encode()
    left, done = [requests], loop.create_future()
    opened = [
        await loop.create_connection(lambda: _Client(request, left, done), "127.0.0.1", port)
        for _ in range(connections)
    ]
    try:
        await asyncio.wait_for(done, 300)
    finally:
        for transport, _ in opened:
            transport.close()


async def _measure(
    port: int, path: str, args: argparse.Namespace, profile: cProfile.Profile | None
) -> tuple[float, float]:
    """(CPU microseconds per request, requests per second of wall time)."""
    requests, connections, post = args.requests, args.connections, args.post
    await _load(port, path, min(2000, requests), connections, post)  # warm up
    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    await _load(port, path, requests, connections, post)
    if profile is not None:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1e6 / requests, requests / wall


async def _main(args: argparse.Namespace, null: TextIO) -> None:
    loop = asyncio.get_running_loop()
    replica = await loop.create_server(_Replica, "127.0.0.1", 0)
    replica_port = replica.sockets[0].getsockname()[1]
    address = f"127.0.0.1:{replica_port}"
    handler = ProxyHandler(
        Upstream.create(),
        # Written out every 256 lines, as by a worker (to stdout there, /dev/null here):
        # lines kept for the whole run would cost memory growth a worker never has.
        RequestLog(null),
        table=RouteTable.from_snapshot(snapshot(address, address, 1)),
    )
    gateway = await loop.create_server(H1Server(handler), "127.0.0.1", 0)
    tune_gc()  # as a worker does
    gateway_port = gateway.sockets[0].getsockname()[1]
    profile = cProfile.Profile() if args.profile else None
    try:
        direct = await _measure(replica_port, "/", args, None)
        proxied = await _measure(gateway_port, f"/{APP}/", args, profile)
    finally:
        gateway.close()
        replica.close()
    kind = f"POSTs of {len(PREDICTION)} bytes" if args.post else "GETs"
    print(f"{args.requests} {kind}, {args.connections} connections, one process\n")
    print(f"{'path':<28}{'CPU us/req':>12}{'req/s':>10}")
    print(f"{'direct':<28}{direct[0]:>12.1f}{direct[1]:>10.0f}")
    print(f"{'through the gateway':<28}{proxied[0]:>12.1f}{proxied[1]:>10.0f}")
    print(f"{'the gateway alone':<28}{proxied[0] - direct[0]:>12.1f}")
    if profile is not None:
        print()
        pstats.Stats(profile).sort_stats("tottime").print_stats(r"waypost", 30)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_cpu")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--post", action="store_true", help="POST a small JSON body")
    parser.add_argument("--profile", action="store_true", help="cProfile the proxied run")
    with open(os.devnull, "w") as null:
        uvloop.run(_main(parser.parse_args(), null))


if __name__ == "__main__":
    main()
