"""Test doubles around a real gateway: a fake control plane, recording replicas, a log sink.

The doubles are aiohttp servers on a private event loop in a thread (``ServerThread``),
so tests stay plain synchronous code with httpx. The fake control plane serves route
snapshots, takes the gateway's traffic reports (``reports``) and can wake a sleeping
target a while after a report lists it as waiting (``wake_on_waiting``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from tests.integration.gateway.support import TOKEN
from waypost.model.report import GatewayReport
from waypost.model.routes import RouteSnapshot

T = TypeVar("T")


class ServerThread:
    """An event loop in a daemon thread, for the test doubles."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="doubles", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class _Site:
    """One aiohttp low-level server on a fixed loopback port."""

    def __init__(self, thread: ServerThread, port: int) -> None:
        self.thread = thread
        self.port = port
        self._runner: web.ServerRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        raise NotImplementedError

    def start(self) -> None:
        self.thread.call(self._start())

    def stop(self) -> None:
        self.thread.call(self._stop())

    async def _start(self) -> None:
        runner = web.ServerRunner(
            web.Server(self.handle, access_log=None, handler_cancellation=True),
            shutdown_timeout=0.2,
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class FakeControlPlane(_Site):
    """``GET /api/v1/internal/routes?after=&wait=`` over a snapshot the test sets, and
    ``POST /api/v1/internal/report`` kept in ``reports`` (answered ``report_status``)."""

    def __init__(self, thread: ServerThread, port: int) -> None:
        super().__init__(thread, port)
        self.snapshot = RouteSnapshot(0, (), ())
        self.polls = 0
        self.unauthorized = 0
        self.poll_gateways: set[str] = set()
        self.reports: list[GatewayReport] = []
        self.report_status = 204
        self.refused_reports = 0
        #: target key -> (snapshot to publish, seconds after a report first lists it waiting)
        self.wake_on_waiting: dict[str, tuple[RouteSnapshot, float]] = {}
        #: target key -> loop time a report first listed it waiting
        self.first_waiting: dict[str, float] = {}
        self._changed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, snapshot: RouteSnapshot) -> None:
        self.thread.call(self._publish(snapshot))

    async def _publish(self, snapshot: RouteSnapshot) -> None:
        self.snapshot = snapshot
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def report_list(self) -> list[GatewayReport]:
        async def copy() -> list[GatewayReport]:
            return list(self.reports)

        return self.thread.call(copy())

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path not in ("/api/v1/internal/routes", "/api/v1/internal/report"):
            return web.json_response({"error": "not_found", "message": "?"}, status=404)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.unauthorized += 1
            return web.json_response({"error": "unauthorized", "message": "no"}, status=401)
        if request.path == "/api/v1/internal/report":
            return await self._report(request)
        self.polls += 1
        self.poll_gateways.add(request.query.get("gateway", ""))
        after = int(request.query.get("after", "-1"))
        deadline = time.monotonic() + min(float(request.query.get("wait", "0")), 60.0)
        while self.snapshot.revision <= after:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return web.Response(status=204)
            if self._changed is None:
                self._changed = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return web.json_response(self.snapshot.to_json())

    async def _report(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.json()
        if self.report_status >= 300:
            self.refused_reports += 1
            return web.json_response({"error": "down", "message": "?"}, status=self.report_status)
        report = GatewayReport.from_json(body)
        self.reports.append(report)
        now = asyncio.get_running_loop().time()
        for key in report.waiting:
            self.first_waiting.setdefault(key, now)
            wake = self.wake_on_waiting.pop(key, None)
            if wake is not None:
                task = asyncio.create_task(self._wake_later(*wake), name=f"wake:{key}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return web.Response(status=204)

    async def _wake_later(self, snapshot: RouteSnapshot, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._publish(snapshot)


class LogReceiver(_Site):
    """A log sink: keeps every NDJSON line POSTed to it; ``fail_next`` batches get a 503."""

    def __init__(self, thread: ServerThread, port: int) -> None:
        super().__init__(thread, port)
        self.lines: list[dict[str, Any]] = []
        self.batches = 0
        self.failed = 0
        self.fail_next = 0
        self.content_types: set[str] = set()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        if request.method != "POST":
            return web.Response(status=405)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.failed += 1
            return web.Response(status=503)
        self.batches += 1
        self.content_types.add(request.headers.get("Content-Type", ""))
        self.lines.extend(json.loads(line) for line in body.decode().splitlines() if line)
        return web.Response(status=204)

    def received(self) -> list[dict[str, Any]]:
        async def copy() -> list[dict[str, Any]]:
            return list(self.lines)

        return self.thread.call(copy())


@dataclass
class Recorded:
    replica: str
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    body_size: int
    body_sha256: str
    started: float
    first_body_byte: float | None
    finished: float


class RecordingUpstream(_Site):
    """A replica double. The last path segment picks the behaviour:

    ``stream`` (chunked, 5 chunks 0.2 s apart, as server-sent events), ``slow?seconds=S``,
    ``cookies`` (two Set-Cookie headers), ``echo-header`` (the request's ``X-Echo`` back
    as ``X-Echoed``), ``break`` (hangs up in the middle of its body),
    ``reset`` (reads the request, then hangs up without answering), ``sse`` (5 events
    0.3 s apart; the time each was written is kept in ``sse_written``), ``ws`` (a
    WebSocket echo: text and binary back as they came, ``close`` closes with 4000);
    anything else echoes what it received as JSON. ``delay`` (seconds before answering)
    and ``status`` (answer every request with it) and ``reset`` (hang up on every
    request) apply to every path.
    """

    def __init__(self, thread: ServerThread, port: int, name: str) -> None:
        super().__init__(thread, port)
        self.name = name
        self.requests: list[Recorded] = []
        self.delay = 0.0
        self.status: int | None = None
        self.sse_written: list[float] = []
        #: Hang up on every request (after reading it) without answering.
        self.reset = False

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if (
            request.path.endswith("/ws")
            and request.headers.get("Upgrade", "").lower() == "websocket"
        ):
            return await self._echo_websocket(request)
        started = time.monotonic()
        digest, size, first = hashlib.sha256(), 0, None
        async for chunk in request.content.iter_any():
            if first is None:
                first = time.monotonic()
            digest.update(chunk)
            size += len(chunk)
        record = Recorded(
            self.name,
            request.method,
            request.raw_path,
            list(request.headers.items()),
            size,
            digest.hexdigest(),
            started,
            first,
            time.monotonic(),
        )
        self.requests.append(record)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status is not None:
            return web.json_response({"replica": self.name}, status=self.status)
        action = request.path.rstrip("/").rsplit("/", 1)[-1]
        if action == "stream":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(5):
                await response.write(f"data: chunk-{i}\n\n".encode())
                await asyncio.sleep(0.2)
            await response.write_eof()
            return response
        if action == "break":  # promise 1000 bytes, send 10, hang up
            response = web.StreamResponse(headers={"Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b"0123456789")
            await asyncio.sleep(0.1)
            if request.transport is not None:
                request.transport.close()
            return response
        if action == "reset" or self.reset:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        if action == "sse":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(5):
                await response.write(f"event: tick\ndata: {i}\n\n".encode())
                self.sse_written.append(time.monotonic())
                await asyncio.sleep(0.3)
            await response.write_eof()
            return response
        if action == "slow":
            await asyncio.sleep(float(request.query.get("seconds", "1")))
        if action == "echo-header":  # X-Echo back as it came, as X-Echoed
            return web.Response(text="echo", headers={"X-Echoed": request.headers["X-Echo"]})
        if action == "cookies":
            response = web.Response(text="cookies")
            response.headers.add("Set-Cookie", "a=1; Path=/")
            response.headers.add("Set-Cookie", "b=2; HttpOnly")
            return response
        return web.json_response(
            {
                "replica": self.name,
                "method": record.method,
                "raw_path": record.raw_path,
                "headers": record.headers,
                "body_size": size,
                "body_sha256": record.body_sha256,
            },
            headers={"X-Replica": self.name, "Connection": "X-Hop", "X-Hop": "1"},
        )

    async def _echo_websocket(self, request: web.BaseRequest) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("echo.v1",))
        await ws.prepare(request)
        self.requests.append(
            Recorded(
                self.name, "GET", request.raw_path, list(request.headers.items()), 0, "", 0, None, 0
            )
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if msg.data == "close":
                    await ws.close(code=4000, message=b"bye")
                    break
                await ws.send_str(f"{self.name}:{msg.data}")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws
