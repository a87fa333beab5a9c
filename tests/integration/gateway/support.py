"""Test doubles around a real gateway process: a fake control plane, recording replicas.

The doubles are aiohttp servers on a private event loop in a thread (``ServerThread``),
so tests stay plain synchronous code with httpx. ``GatewayProcess`` runs
``python -m waypost.gateway`` on a free loopback port and is stopped by PID; it
reports the PIDs of its workers so tests can check that none is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web

from waypost.model.routes import (
    ReplicaAddress,
    Route,
    RouteBackend,
    RouteSnapshot,
    RouteTarget,
)

T = TypeVar("T")

TOKEN = "wp_gateway_test_token"
_revisions = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refusing_address() -> tuple[socket.socket, str]:
    """A loopback address that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"


def next_revision() -> int:
    return next(_revisions)


def build_snapshot(
    routes: Mapping[str, Sequence[tuple[str, int, str]]],
    targets: Mapping[str, Sequence[str]],
    *,
    revision: int | None = None,
    sticky: Mapping[str, str] | None = None,
    strip_prefix: Iterable[str] = (),
) -> RouteSnapshot:
    """``routes``: URL (4 or 5 segments) -> [(backend, weight, target key)];
    ``targets``: key -> ready replica addresses."""
    stripped = set(strip_prefix)
    return RouteSnapshot(
        revision=next_revision() if revision is None else revision,
        targets=tuple(
            RouteTarget(
                key,
                "Running",
                "public",
                key in stripped,
                tuple(ReplicaAddress(f"r{i}-{a}", a) for i, a in enumerate(addresses)),
            )
            for key, addresses in targets.items()
        ),
        routes=tuple(
            _route(url, backends, (sticky or {}).get(url)) for url, backends in routes.items()
        ),
    )


def _route(url: str, backends: Sequence[tuple[str, int, str]], sticky: str | None) -> Route:
    org, project, deployment, selector, *endpoint = url.split("/")
    return Route(
        org,
        project,
        deployment,
        selector,
        endpoint[0] if endpoint else None,
        tuple(RouteBackend(n, w, t) for n, w, t in backends),
        (),
        sticky,
    )


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
    """``GET /api/v1/internal/routes?after=&wait=`` over a snapshot the test sets."""

    def __init__(self, thread: ServerThread, port: int) -> None:
        super().__init__(thread, port)
        self.snapshot = RouteSnapshot(0, (), ())
        self.polls = 0
        self.unauthorized = 0
        self._changed: asyncio.Event | None = None

    def publish(self, snapshot: RouteSnapshot) -> None:
        async def set_it() -> None:
            self.snapshot = snapshot
            if self._changed is not None:
                self._changed.set()
                self._changed = None

        self.thread.call(set_it())

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path != "/api/v1/internal/routes":
            return web.json_response({"error": "not_found", "message": "?"}, status=404)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.unauthorized += 1
            return web.json_response({"error": "unauthorized", "message": "no"}, status=401)
        self.polls += 1
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
    ``cookies`` (two Set-Cookie headers), ``break`` (hangs up in the middle of its body);
    anything else echoes what it received as JSON.
    """

    def __init__(self, thread: ServerThread, port: int, name: str) -> None:
        super().__init__(thread, port)
        self.name = name
        self.requests: list[Recorded] = []

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
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
        if action == "slow":
            await asyncio.sleep(float(request.query.get("seconds", "1")))
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


@dataclass
class GatewayProcess:
    """``python -m waypost.gateway`` on a free port; stopped by PID."""

    port: int
    control_url: str
    token_file: Path
    log_dir: Path
    workers: int = 1
    grace: float = 10.0
    process: subprocess.Popen[bytes] | None = None
    known_pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"gateway-{self.port}.out"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"gateway-{self.port}.err"

    def start(self, timeout: float = 20.0) -> None:
        argv = [
            sys.executable, "-m", "waypost.gateway",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--control-url", self.control_url, "--token-file", str(self.token_file),
            "--workers", str(self.workers), "--grace", str(self.grace),
        ]  # fmt: skip
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=err, start_new_session=True, cwd=self.log_dir
            )
        self.known_pids.add(self.process.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway exited with {self.process.returncode}:\n{self.stderr()}"
                )
            if self._healthy() and (self.workers == 1 or len(self.worker_pids()) == self.workers):
                self.known_pids.update(self.worker_pids())
                return
            time.sleep(0.05)
        raise RuntimeError(f"gateway not healthy within {timeout}s:\n{self.stderr()}")

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/-/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(self.url + "/-/health", timeout=5).json()
        return result

    def wait_revision(self, revision: int, timeout: float = 5.0) -> float:
        """Seconds until the gateway serves ``revision`` (on this connection's worker)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.health()["revision"] >= revision:
                return time.monotonic() - started
            time.sleep(0.01)
        raise AssertionError(f"gateway did not reach revision {revision} in {timeout}s")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def access_log(self) -> list[dict[str, Any]]:
        if not self.stdout_path.exists():
            return []
        lines = self.stdout_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL every known PID left; the exit code (None if killed)."""
        if self.process is None:
            return None
        self.known_pids.update(self.worker_pids())
        code: int | None = None
        if self.process.poll() is None:
            self.terminate()
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
        else:
            code = self.process.returncode
        for pid in sorted(self.known_pids):
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        return code


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
