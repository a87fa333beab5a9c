"""The request handler: match, choose, hold, balance, forward, mirror, stream back, log.

``ProxyHandler`` is an aiohttp low-level handler (no router, no middlewares): every
decision is a call into ``core``; this module only moves bytes and turns failures
into JSON errors of one shape (``{"error", "message"}``):

- ambiguous body framing (``core.framing``): 400; a declared body over ``--max-body``:
  413 before the body is read, a chunked body that streams past it: 413 (both close
  the connection); malformed path: 400; no route: 404;
- a private backend target (``core.access``): 401 with ``WWW-Authenticate: Bearer``
  without a bearer token, 403 for a token that may not invoke it; checked before any
  replica is touched or woken, and the token is not passed on to the replica;
- no connection to any replica: 502 (a connect
  failure is retried once on another ready replica, since nothing was sent, and the
  replica is set aside for a few seconds until the route table catches up);
- a backend target without a ready replica: if it is asleep or waking, the request is
  held until a route table brings a ready replica (``holds``; 504 after the wake
  deadline, 503 with ``Retry-After: 1`` when too many wait); in any other state, 503
  with ``Retry-After: 1`` at once;
- paths under ``/-/`` are the gateway's own (no org name can be ``-``):
  ``GET /-/health`` answers ``{"status": "ok", "routes": N, "revision": R}``.

The backend is ``core.split.choose(route, draw)`` with ``random.random()`` or, for a
sticky route, the sticky draw of the request's key. Bodies stream both ways: the
client's body is handed to the upstream client as a stream (through the mirror tee when
the route has mirrors), and the response is written back chunk by chunk as it arrives,
so chunked responses and server-sent events reach the client without delay. Every
request ends in one request-log line and in the traffic counts of the report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable

import aiohttp
from aiohttp import web
from aiohttp.http import HttpVersion11
from multidict import CIMultiDict

from waypost.errors import (
    BadGateway,
    BadRequest,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    WaypostError,
)
from waypost.gateway.bodylimit import LimitedBody
from waypost.gateway.core.access import PRIVATE
from waypost.gateway.core.balance import RoundRobin
from waypost.gateway.core.framing import body_too_large, framing_problem
from waypost.gateway.core.headers import (
    AUTHORIZATION,
    EXPECT,
    HOST,
    RETRY_AFTER,
    WWW_AUTHENTICATE,
    X_REQUEST_ID,
    Forwarding,
    request_headers,
    response_headers,
)
from waypost.gateway.core.logline import CLIENT_CLOSED, RequestRecord, alias_of
from waypost.gateway.core.paths import split_target
from waypost.gateway.core.split import choose, sticky_draw, sticky_key
from waypost.gateway.core.table import RouteMatch, RouteTable
from waypost.gateway.core.traffic import TrafficCounter
from waypost.gateway.holds import HoldQueue
from waypost.gateway.mirrors import BodyTee, MirrorBatch, Mirrors
from waypost.gateway.options import GatewayOptions
from waypost.gateway.requestlog import RequestLog
from waypost.gateway.upstream import Upstream, UpstreamConnectError, UpstreamError
from waypost.model.routes import ReplicaAddress, RouteTarget

__all__ = ["HEALTH_PATH", "ProxyHandler"]

log = logging.getLogger("waypost.gateway")

HEALTH_PATH = "/-/health"
_RESERVED = "/-/"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Connect attempts per request: the first replica and one other.
_ATTEMPTS = 2


def _new_request_id() -> str:
    return uuid.uuid4().hex


class ProxyHandler:
    """Handles every request of one worker; ``swap`` installs a new route table."""

    def __init__(
        self,
        upstream: Upstream,
        request_log: RequestLog,
        *,
        table: RouteTable | None = None,
        options: GatewayOptions | None = None,
        on_waiting: Callable[[], None] = lambda: None,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.perf_counter,
        wall_clock: Callable[[], float] = time.time,
        new_request_id: Callable[[], str] = _new_request_id,
    ) -> None:
        opts = options or GatewayOptions()
        self._max_body = opts.request.max_body
        #: Unix seconds, for token expiry.
        self._wall_clock = wall_clock
        self.table = table or RouteTable.empty()
        self.traffic = TrafficCounter(max_entries=opts.report.max_entries)
        self._upstream = upstream
        self._log = request_log
        self._balancer = RoundRobin()
        self._draw = draw
        self._clock = clock
        self._new_request_id = new_request_id
        self._on_waiting = on_waiting
        self.holds = HoldQueue(opts.hold, on_first_waiting=self._first_waiting)
        self.mirrors = Mirrors(
            upstream,
            self._balancer,
            request_log,
            self.traffic,
            self._target,
            options=opts.mirror,
            on_sleeping=self._mirror_found_sleeping,
            clock=clock,
        )
        # Sleeping mirror targets a copy could not reach: reported once, so they wake.
        self._wake: set[str] = set()

    def swap(self, table: RouteTable) -> None:
        """Serve ``table`` from now on; requests in flight keep the one they matched."""
        self.table = table
        self._balancer.retain(table.targets)
        self.holds.table_changed(table.targets)

    def take_waiting(self) -> tuple[str, ...]:
        """Targets to wake: those with held requests, and sleeping mirrors seen since last."""
        if not self._wake:
            return self.holds.waiting
        keys = set(self.holds.waiting) | self._wake
        self._wake = set()
        return tuple(sorted(keys))

    async def close(self, grace: float = 0.0) -> None:
        """Give mirror copies in flight up to ``grace`` seconds, then cancel them."""
        await self.mirrors.close(grace)

    def _target(self, key: str) -> RouteTarget | None:
        return self.table.targets.get(key)

    def _first_waiting(self, key: str) -> None:
        log.info("holding requests for %s until it wakes", key)
        self._on_waiting()

    def _mirror_found_sleeping(self, key: str) -> None:
        self._wake.add(key)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        started = self._clock()
        path, query = split_target(request.raw_path)
        record = RequestRecord(self._new_request_id(), request.method, path)
        try:
            return await self._handle(request, path, query, record)
        except asyncio.CancelledError:
            record.status = CLIENT_CLOSED
            raise
        finally:
            latency_ms = (self._clock() - started) * 1000.0
            record.bytes_in = request.content.total_bytes
            target, route, backend = record.target, record.route, record.backend
            if target is not None and route is not None and backend is not None:
                self.traffic.end(target, record.status, latency_ms)
                self.traffic.backend(route, backend, target, record.status)
            self._log.request(record, latency_ms)

    async def _handle(
        self, request: web.BaseRequest, path: str, query: str, record: RequestRecord
    ) -> web.StreamResponse:
        if path.startswith(_RESERVED):
            return self._own(request, path, record)
        problem = framing_problem(request.version, request.headers.items())
        if problem is not None:
            return _error(BadRequest(problem), record, close=True)
        if body_too_large(request.content_length, self._max_body):
            return _error(_body_over(self._max_body), record, close=True)
        table = self.table
        try:
            match = table.match(path)
        except BadRequest as exc:
            return _error(exc, record)
        if match is None:
            return _error(NotFound(f"no endpoint at {path}"), record)
        route = match.route
        record.route = match.prefix
        record.project = f"{route.org}/{route.project}"
        record.alias = alias_of(route.selector)
        key = sticky_key(route.sticky, request.headers)
        choice = choose(route, sticky_draw(key) if key is not None else self._draw())
        if choice is None:
            return _error(Unavailable(f"/{match.prefix} has no backend taking traffic"), record)
        target_key = choice.backend_target_key
        record.backend, record.target = choice.backend_name, target_key
        self.traffic.begin(target_key)
        target = match.target(target_key)
        if target is not None and target.visibility == PRIVATE:
            try:
                table.grants.check(
                    request.headers.get(AUTHORIZATION), target_key, self._wall_clock()
                )
            except WaypostError as exc:
                return _error(exc, record, close=request.body_exists)
        replica = self._balancer.pick(target, now=self._clock()) if target is not None else None
        if target is None or replica is None:
            if self.holds.decide(target) != "hold":
                return _error(
                    Unavailable(
                        f"/{match.prefix} has no ready replica "
                        f"(backend {choice.backend_name}: {target_key})"
                    ),
                    record,
                )
            try:
                target = await self.holds.wait(target_key, self._target)
            except WaypostError as exc:
                return _error(exc, record)
            replica = self._balancer.pick(target, now=self._clock())
            if replica is None:  # a table with a ready replica released it: not reachable
                return _error(Unavailable(f"/{match.prefix} has no ready replica"), record)
        batch = self.mirrors.begin(request, match, record, query) if route.mirrors else None
        try:
            try:
                upstream_response = await self._send(
                    request, match, target, replica, query, record, batch
                )
            except WaypostError as exc:
                return _error(exc, record, close=isinstance(exc, TooLarge))
            try:
                return await _relay(request, upstream_response, record)
            finally:
                upstream_response.release()
        finally:
            if batch is not None:
                batch.close()

    async def _send(
        self,
        request: web.BaseRequest,
        match: RouteMatch,
        target: RouteTarget,
        replica: ReplicaAddress,
        query: str,
        record: RequestRecord,
        batch: MirrorBatch | None,
    ) -> aiohttp.ClientResponse:
        """Open the upstream request, retrying a connect failure once on another replica."""
        path = (match.rest or "/") if target.strip_prefix else record.path
        headers = request_headers(
            request.headers.items(),
            Forwarding(match.prefix, request.remote, request.headers.get(HOST), record.request_id),
            private=target.visibility == PRIVATE,
        )
        has_body = request.body_exists
        if has_body and request.version == HttpVersion11:
            expect = request.headers.get(EXPECT, "")
            if expect.lower() == "100-continue":
                await request.writer.write(_CONTINUE)
                request.writer.output_size = 0  # the real response has not started yet
        failed: set[str] = set()
        limited = LimitedBody(request.content, self._max_body)
        while True:
            record.replica = replica.id
            body: LimitedBody | BodyTee | None = None
            if has_body:
                body = limited
                if batch is not None and batch.needs_body:
                    body = batch.tee(body)  # the mirrors keep the body as the primary reads it
            try:
                response = await self._upstream.send(
                    replica.address, request.method, path, query, headers, body
                )
            except UpstreamConnectError as exc:
                failed.add(replica.id)
                now = self._clock()
                self._balancer.failed(target.key, replica.id, now=now)
                log.warning("request %s: %s", record.request_id, exc)
                retry = (
                    self._balancer.pick(target, failed, now=now)
                    if len(failed) < _ATTEMPTS
                    else None
                )
                if retry is None:
                    raise BadGateway(f"could not connect to a replica of /{match.prefix}") from exc
                replica = retry
            except UpstreamError as exc:
                if limited.exceeded:
                    raise _body_over(self._max_body) from exc
                log.warning("request %s: %s", record.request_id, exc)
                raise BadGateway(f"the replica of /{match.prefix} failed to answer") from exc
            else:
                if limited.exceeded:  # the replica answered before the body was cut off
                    response.release()
                    raise _body_over(self._max_body)
                return response

    def _own(self, request: web.BaseRequest, path: str, record: RequestRecord) -> web.Response:
        if path != HEALTH_PATH or request.method not in ("GET", "HEAD"):
            return _error(NotFound(f"no gateway resource at {path}"), record)
        table = self.table
        body = {"status": "ok", "routes": len(table), "revision": table.revision}
        return _json(200, body, record)


async def _relay(
    request: web.BaseRequest, upstream: aiohttp.ClientResponse, record: RequestRecord
) -> web.StreamResponse:
    """Stream the upstream response to the client, chunk by chunk as it arrives."""
    headers = CIMultiDict(response_headers(upstream.headers.items(), record.request_id))
    record.status = upstream.status
    if upstream.content.is_eof():
        # The whole body arrived with the headers (the usual small JSON answer): nothing
        # to stream, so send status, headers and body in one write.
        try:
            body = await upstream.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("request %s: the replica's response is broken: %r", record.request_id, exc)
            return _error(BadGateway("the replica sent a broken response"), record)
        record.bytes_out = len(body)
        return web.Response(
            status=upstream.status, reason=upstream.reason, body=body, headers=headers
        )
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
            record.bytes_out += len(chunk)
    except ConnectionError:
        record.status = CLIENT_CLOSED  # the client went away; nothing left to tell it
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The status line is out: the client can only learn of the failure from a
        # response cut short, so close its connection instead of ending the body.
        log.warning("request %s: the replica broke off its response: %r", record.request_id, exc)
        request.protocol.force_close()
    return response


def _body_over(limit: int) -> TooLarge:
    return TooLarge(f"the request body is over the limit of {limit} bytes")


def _error(exc: WaypostError, record: RequestRecord, *, close: bool = False) -> web.Response:
    """The JSON error response; ``close``: end the connection after it (the request's
    body is left unread, or its framing cannot be trusted)."""
    response = _json(exc.status, exc.to_json(), record)
    if isinstance(exc, Unavailable):
        response.headers[RETRY_AFTER] = "1"
    elif isinstance(exc, Unauthorized):
        response.headers[WWW_AUTHENTICATE] = "Bearer"
    if close:
        response.force_close()
    return response


def _json(status: int, body: dict[str, object], record: RequestRecord) -> web.Response:
    data = json.dumps(body).encode()
    record.status, record.bytes_out = status, len(data)
    return web.Response(
        status=status,
        body=data,
        content_type="application/json",
        headers={X_REQUEST_ID: record.request_id},
    )
