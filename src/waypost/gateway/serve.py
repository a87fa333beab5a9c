"""One gateway worker, from bind to drain.

``run_worker(config)`` binds the port (with ``SO_REUSEPORT`` when several workers
share it), serves at once with an empty table while the route sync fills it in, and
runs its background tasks: the route sync (each new table goes to the handler and the
log sinks), the traffic reporter, the log flusher and the log sink senders. On SIGTERM
or SIGINT it drains: it stops accepting, lets requests in flight finish for up to
``config.grace`` seconds (the route sync still runs, so held requests can still be
released), gives mirror copies a second, sends a last traffic report and what the log
sinks still hold (each bounded in time), closes its client pools and returns 0. A
worker that cannot bind returns ``EXIT_CANNOT_START`` so its supervisor does not retry
in a loop. The event loop is uvloop's when uvloop is installed.

The drain, in order (``grace`` bounds all of it, once): the listening socket is closed
(new connections go to the other sockets of the ``SO_REUSEPORT`` group: sibling
workers, or the gateway that replaces this one); every response from then on carries
``Connection: close``; keep-alive connections get up to ``_SETTLE_SECONDS`` to send
their next request (answered, then closed) instead of being closed under a client
that is about to use them; then the worker waits for the requests in flight, and only
what is still running at the deadline is cancelled. (Closing idle keep-alive
connections at once would race clients that are sending on them.)

Two more periodic tasks: the event loop lag monitor (a timer every
``_LAG_INTERVAL`` seconds; how late it fires feeds ``core.lag.LoopLag``, which sheds
mirror copies) and the metrics gauges (``ProxyHandler.refresh_metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from waypost.gateway.core.lag import LoopLag
from waypost.gateway.core.table import RouteTable
from waypost.gateway.h1server import H1Server
from waypost.gateway.options import GatewayOptions
from waypost.gateway.reporter import Reporter
from waypost.gateway.requestlog import RequestLog
from waypost.gateway.server import ProxyHandler
from waypost.gateway.sinks import SinkSet
from waypost.gateway.sync import RouteSync
from waypost.gateway.upstream import Upstream

__all__ = ["EXIT_CANNOT_START", "WorkerConfig", "bind_socket", "run_worker", "serve", "tune_gc"]

log = logging.getLogger("waypost.gateway")

#: A worker exits with this when it cannot bind; restarting it would not help.
EXIT_CANNOT_START = 3
_PARENT_CHECK_SECONDS = 1.0
_FLUSH_SECONDS = 0.2
#: Seconds mirror copies in flight get after the drain, then the final report and sinks.
_MIRROR_GRACE = 1.0
_FINAL_REPORT_SECONDS = 2.0
_FINAL_SINK_SECONDS = 2.0
#: Seconds idle keep-alive connections get, at the start of a drain, to send one more
#: request (answered with ``Connection: close``) before they are closed.
_SETTLE_SECONDS = 1.0
_LAG_INTERVAL = 0.025
_METRICS_SECONDS = 1.0
#: Seconds handlers still running at the drain deadline get to end once cancelled.
_CANCEL_SECONDS = 1.0
#: After an answer that closes the connection (401/403/413...) while the client is still
#: sending its body, seconds the body is read and thrown away before the close, so the
#: client is not reset before it reads the answer.
_LINGER_SECONDS = 2.0
#: Allocations (minus frees) between young-generation collections; the default is 700.
_GC_THRESHOLD = 20_000


@dataclass(frozen=True)
class WorkerConfig:
    host: str
    port: int
    control_url: str
    token_file: Path
    #: Share the port with sibling workers (pre-fork mode).
    reuse_port: bool = False
    #: Seconds requests in flight get to finish after SIGTERM.
    grace: float = 10.0
    backlog: int = 1024
    #: In pre-fork mode, the supervisor's pid: a worker whose parent is gone drains and exits.
    parent_pid: int | None = None
    #: Limits: held requests, mirrors, log sinks, traffic reports.
    options: GatewayOptions = field(default_factory=GatewayOptions)
    #: Workers of this gateway (per-target concurrency caps are shared out over them).
    workers: int = 1


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for ``host:port`` (IPv4 or IPv6), not yet listening."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def run_worker(config: WorkerConfig) -> int:
    """Run one worker to completion on a fresh event loop (uvloop if available)."""
    return _run(serve(config))


def _run(main: Coroutine[Any, Any, int]) -> int:
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


async def serve(config: WorkerConfig) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        sock = bind_socket(config.host, config.port, reuse_port=config.reuse_port)
    except OSError as exc:
        log.error("cannot bind %s:%s: %s", config.host, config.port, exc)
        return EXIT_CANNOT_START
    upstream = Upstream.create()
    internal = _internal_session()
    sinks = SinkSet(internal, config.options.sink)
    request_log = RequestLog(sys.stdout, sinks=sinks)
    reporter: Reporter | None = None

    def nudge() -> None:
        if reporter is not None:
            reporter.nudge()

    handler = ProxyHandler(
        upstream, request_log, options=config.options, on_waiting=nudge, workers=config.workers
    )
    tune_gc()

    def on_table(table: RouteTable) -> None:
        handler.swap(table)
        sinks.update(table.log_sinks)

    sync = RouteSync(config.control_url, config.token_file, on_table)
    reporter = Reporter(
        config.control_url,
        config.token_file,
        sync.gateway_id,
        handler.traffic,
        handler.take_waiting,
        options=config.options.report,
        replicas=handler.balancer.in_flight,
    )
    limits = config.options.request
    server = H1Server(
        handler,
        max_header_size=limits.max_header_size,
        header_timeout=limits.header_timeout,
        linger=_LINGER_SECONDS,
    )
    background: list[asyncio.Task[None]] = []
    crashed: list[str] = []

    def start(coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(lambda t: _background_done(t, stopping, crashed))
        background.append(task)

    listener: asyncio.Server | None = None
    try:
        listener = await loop.create_server(server, sock=sock, backlog=config.backlog)
        log.info("worker %s serving on http://%s:%s", os.getpid(), config.host, config.port)
        start(sync.run(), "gateway-route-sync")
        start(reporter.run(internal), "gateway-traffic-report")
        start(_flush_periodically(request_log), "gateway-request-log")
        start(_watch_lag(handler.lag), "gateway-loop-lag")
        start(_refresh_metrics(handler), "gateway-metrics")
        if config.parent_pid is not None:
            start(_watch_parent(config.parent_pid, stopping), "gateway-parent-watch")
        await stopping.wait()
        log.info("worker %s draining (up to %gs)", os.getpid(), config.grace)
        await _drain(listener, server, handler, config.grace)
    finally:
        if listener is not None:
            listener.close()
        await _cancel_all(server, handler)
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await handler.close(_MIRROR_GRACE)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FINAL_REPORT_SECONDS):
                await reporter.send_once(internal)
        await sinks.close(_FINAL_SINK_SECONDS)
        await internal.close()
        await upstream.close()
        sock.close()
        request_log.flush()
        handler.metrics.flush()  # the requests since the last periodic flush
    log.info("worker %s stopped", os.getpid())
    return 1 if crashed else 0


def tune_gc() -> None:
    """Fewer, cheaper garbage collections on the request path.

    A proxied request allocates a few hundred short-lived containers that reference
    counting frees; with the default threshold (700) a young-generation collection ran
    every few requests (about 4 % of a worker's CPU under ``bench.gateway``). Objects
    alive now (modules, the worker's setup) are moved out of the collector's sight.
    """
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(_GC_THRESHOLD, second, third)


def _internal_session() -> aiohttp.ClientSession:
    """The client for the control plane's report endpoint and for log sinks."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64, limit_per_host=8),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=30.0, sock_connect=5.0),
        trust_env=False,
    )


def _background_done(task: asyncio.Task[None], stopping: asyncio.Event, crashed: list[str]) -> None:
    """A background task that ends on its own is a bug: log it and stop the worker."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("worker %s: %s failed; stopping", os.getpid(), task.get_name(), exc_info=exc)
        crashed.append(task.get_name())
        stopping.set()


async def _drain(
    listener: asyncio.Server, server: H1Server, handler: ProxyHandler, grace: float
) -> None:
    """Stop accepting, let keep-alive clients move on, wait for requests in flight."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    listener.close()
    server.draining = True
    settle = loop.time() + min(_SETTLE_SECONDS, grace)
    # Neither "a connection closed" nor "a handler ended" is signalled: poll.
    while server.connections and loop.time() < settle:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    server.close_idle()  # busy connections close after their response
    while handler.active and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    if handler.active:
        log.warning(
            "worker %s: %s requests still running after %gs; cancelling them",
            os.getpid(),
            handler.active,
            grace,
        )


async def _cancel_all(server: H1Server, handler: ProxyHandler) -> None:
    """Cancel what still runs and close every connection; give handlers a moment to end."""
    server.cancel_all()
    loop = asyncio.get_running_loop()
    end = loop.time() + _CANCEL_SECONDS
    while handler.active and loop.time() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def _watch_lag(lag: LoopLag) -> None:
    """Measure how late a short timer fires: the event loop's lag."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + _LAG_INTERVAL
        await asyncio.sleep(_LAG_INTERVAL)
        lag.observe(loop.time() - due)


async def _refresh_metrics(handler: ProxyHandler) -> None:
    while True:
        handler.refresh_metrics()
        await asyncio.sleep(_METRICS_SECONDS)


async def _flush_periodically(request_log: RequestLog) -> None:
    while True:
        await asyncio.sleep(_FLUSH_SECONDS)
        request_log.flush()


async def _watch_parent(parent_pid: int, stopping: asyncio.Event) -> None:
    """Drain when the supervisor is gone (it was killed without stopping its workers)."""
    # The kernel offers no event for this that asyncio can await portably; poll cheaply.
    while os.getppid() == parent_pid:  # noqa: ASYNC110
        await asyncio.sleep(_PARENT_CHECK_SECONDS)
    log.warning("worker %s: supervisor %s is gone; draining", os.getpid(), parent_pid)
    stopping.set()
