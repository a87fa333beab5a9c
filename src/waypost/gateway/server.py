"""The request handler: match, choose, hold, admit, balance, forward, mirror, stream back, log.

``ProxyHandler`` is the handler ``h1server`` calls for every request: every decision is
a call into ``core``; this module only moves bytes and turns failures into JSON errors
of one shape (``{"error", "message"}``):

- ambiguous body framing (``core.framing``): 400; a declared body over ``--max-body``:
  413 before the body is read, a chunked body that streams past it: 413, a chunk that
  breaks the framing: 400 (all three close the connection); malformed path: 400; no
  route: 404;
- a private backend target (``core.access``): 401 with ``WWW-Authenticate: Bearer``
  without a bearer token, 403 for a token that may not invoke it; checked before any
  replica is touched or woken, and the token is not passed on to the replica;
- a backend target without a ready replica: if it is asleep or waking, the request is
  held until a route table brings a ready replica (``holds``; 504 after the wake
  deadline, 503 with ``Retry-After: 1`` when too many wait); in any other state, 503
  with ``Retry-After: 1`` at once;
- a target at its ``max_concurrency``: the request waits its turn (``overload``), or
  gets 503 with ``Retry-After: 1`` when the queue is full or the wait too long;
- no answer from any replica: 502 after the retries ``forward`` allows; no response
  headers within the target's ``timeout``: 504;
- paths under ``/-/`` are the gateway's own (no org name can be ``-``):
  ``GET /-/health`` answers ``{"status": "ok", "routes": N, "revision": R}`` and
  ``GET /-/metrics`` the Prometheus metrics of all workers (``metrics``), to loopback
  clients unless the gateway runs with ``--metrics-public`` (they name every project).

The backend is ``core.split.choose(route, draw)`` with ``random.random()`` or, for a
sticky route, the sticky draw of the request's key; the replica is the balancer's
(least outstanding requests, ejected replicas left out). Bodies stream both ways: the
client's body is handed to the upstream client as a stream (through the mirror tee
when the route has mirrors, and kept up to ``REPLAY_LIMIT`` bytes so a failed attempt
can be replayed), and the response is written back chunk by chunk as it arrives, so
chunked responses and server-sent events reach the client without delay. A WebSocket
handshake is passed to the replica and the connections spliced by ``websocket``.
Every request ends in one request-log line, in the traffic counts of the report and
in the metrics.

Most requests go the express way (``_Express``): one without a body, to a target with
ready replicas, no concurrency cap and no mirror, is sent on an idle pooled connection
straight from the parser's callback, and the replica's answer is written from the
upstream connection's callback: no task, no coroutine, no future. An answer that
streams, a failed attempt (retried as ``forward`` would), a cold pool, and every other
request, go the awaited way; the decisions are the same functions either way
(``_plan``, ``_whole``, ``_ended``).

While the worker drains, ``h1server`` closes every connection after its response, so
keep-alive clients move to another worker or gateway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from waypost.errors import (
    BadGateway,
    BadRequest,
    Forbidden,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
    WaypostError,
)
from waypost.gateway.bodylimit import BodyTooLarge, LimitedBody
from waypost.gateway.core.access import PRIVATE, is_loopback
from waypost.gateway.core.balance import Balancer
from waypost.gateway.core.framing import body_too_large, framing_problem
from waypost.gateway.core.h1 import IDEMPOTENT
from waypost.gateway.core.headers import (
    AUTHORIZATION,
    EXPECT,
    HOST,
    RETRY_AFTER,
    UPGRADE,
    WWW_AUTHENTICATE,
    X_REQUEST_ID,
    Forwarding,
    request_headers,
    response_headers,
)
from waypost.gateway.core.lag import LoopLag
from waypost.gateway.core.logline import CLIENT_CLOSED, RequestRecord
from waypost.gateway.core.paths import split_target
from waypost.gateway.core.retry import REPLAY_LIMIT, Failure, RetryBudget
from waypost.gateway.core.split import choose, sticky_draw, sticky_key
from waypost.gateway.core.table import RouteMatch, RouteTable
from waypost.gateway.core.traffic import TrafficCounter
from waypost.gateway.deadlines import Deadlines
from waypost.gateway.forward import Forwarder, no_answer
from waypost.gateway.h1server import (
    HttpRequest,
    MalformedBody,
    RequestBody,
    Response,
    http_date,
    json_response,
)
from waypost.gateway.holds import HoldQueue
from waypost.gateway.metrics import CONTENT_TYPE, Metrics
from waypost.gateway.mirrors import MirrorBatch, Mirrors
from waypost.gateway.options import GatewayOptions
from waypost.gateway.overload import Limiter
from waypost.gateway.replay import ReplayBody
from waypost.gateway.requestlog import RequestLog
from waypost.gateway.upstream import (
    Timeouts,
    Upstream,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from waypost.gateway.websocket import is_upgrade, tunnel_websocket
from waypost.model.routes import ReplicaAddress, RouteTarget

__all__ = ["HEALTH_PATH", "METRICS_PATH", "ProxyHandler"]

log = logging.getLogger("waypost.gateway")

HEALTH_PATH = "/-/health"
METRICS_PATH = "/-/metrics"
_RESERVED = "/-/"
#: Responses with a declared body up to this size are passed on whole, in one write.
_WHOLE_LIMIT = 64 * 1024


class _RequestIds:
    """Random (version 4) UUIDs as 32 hex digits, without building a ``uuid.UUID``.

    The randomness is ``os.urandom``'s, read 4 KiB at a time: one system call per 256
    ids instead of one per request. The buffer is dropped in a forked child, so two
    worker processes never hand out the same ids.
    """

    __slots__ = ("_at", "_buffer")

    _SIZE = 4096

    def __init__(self) -> None:
        self._buffer = b""
        self._at = self._SIZE
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._at = self._SIZE

    def __call__(self) -> str:
        at = self._at
        if at >= self._SIZE:
            self._buffer, at = os.urandom(self._SIZE), 0
        self._at = at + 16
        raw = bytearray(self._buffer[at : at + 16])
        raw[6] = raw[6] & 0x0F | 0x40
        raw[8] = raw[8] & 0x3F | 0x80
        return raw.hex()


_new_request_id = _RequestIds()


#: Attempts made and failed: the replicas tried, how the last failed, its number.
_Retry = tuple[set[str], Failure, int]


@dataclass(slots=True)
class _Plan:
    """A request routed: what ``ProxyHandler._plan`` decided without waiting."""

    match: RouteMatch
    backend: str
    target_key: str
    target: RouteTarget | None
    query: str
    record: RequestRecord
    #: Nothing can make it wait (no body still to come, no hold, no cap, no mirror,
    #: no upgrade).
    express: bool
    #: The replica the express way picked but could not use at once (no idle
    #: connection): the awaited way sends to it, so balancing stays as picked.
    picked: ReplicaAddress | None = None


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
        metrics: Metrics | None = None,
        lag: LoopLag | None = None,
        workers: int = 1,
    ) -> None:
        opts = options or GatewayOptions()
        self._max_body = opts.request.max_body
        self._metrics_public = opts.request.metrics_public
        #: Unix seconds, for token expiry.
        self._wall_clock = wall_clock
        self.table = table or RouteTable.empty()
        self.traffic = TrafficCounter(max_entries=opts.report.max_entries)
        self.metrics = metrics or Metrics()
        self.lag = lag or LoopLag(opts.mirror.shed_lag)
        self._upstream = upstream
        self._log = request_log
        self.balancer = Balancer()
        self.forwarder = Forwarder(
            upstream,
            self.balancer,
            self.metrics,
            clock,
            max_attempts=opts.retry.attempts,
            budget=RetryBudget(
                ratio=opts.retry.budget_ratio, min_per_second=opts.retry.budget_min_per_second
            ),
        )
        self.limiter = Limiter(workers)
        self._draw = draw
        self._clock = clock
        self._new_request_id = new_request_id
        self._on_waiting = on_waiting
        self.holds = HoldQueue(opts.hold, on_first_waiting=self._first_waiting)
        self.mirrors = Mirrors(
            upstream,
            self.balancer,
            request_log,
            self.traffic,
            self._target,
            options=opts.mirror,
            on_sleeping=self._mirror_found_sleeping,
            clock=clock,
            lag=self.lag,
            metrics=self.metrics,
        )
        # Sleeping mirror targets a copy could not reach: reported once, so they wake.
        self._wake: set[str] = set()
        #: Requests being handled now.
        self.active = 0
        #: The answer deadlines of express requests.
        self.deadlines = Deadlines()

    def swap(self, table: RouteTable) -> None:
        """Serve ``table`` from now on; requests in flight keep the one they matched."""
        self.table = table
        self.balancer.retain(table.targets)
        self.forwarder.budget.retain(frozenset(table.targets))
        self.holds.table_changed(table.targets)

    def take_waiting(self) -> tuple[str, ...]:
        """Targets to wake: those with held requests, and sleeping mirrors seen since last."""
        if not self._wake:
            return self.holds.waiting
        keys = set(self.holds.waiting) | self._wake
        self._wake = set()
        return tuple(sorted(keys))

    def refresh_metrics(self) -> None:
        """Set the periodic gauges (the worker calls this every second)."""
        self.metrics.refresh(self.traffic.busy, self.limiter.depths(), self.lag.average)

    async def close(self, grace: float = 0.0) -> None:
        """Give mirror copies in flight up to ``grace`` seconds, then cancel them."""
        await self.mirrors.close(grace)
        self.deadlines.close()

    def _target(self, key: str) -> RouteTarget | None:
        return self.table.targets.get(key)

    def _first_waiting(self, key: str) -> None:
        log.info("holding requests for %s until it wakes", key)
        self._on_waiting()

    def _mirror_found_sleeping(self, key: str) -> None:
        self._wake.add(key)

    def __call__(
        self, request: HttpRequest
    ) -> Response | Coroutine[Any, Any, Response | None] | None:
        """Answer ``request``: a Response at once (a refusal, a gateway path), None when
        it went the express way (``_express``), else the coroutine that proxies it."""
        started = self._clock()
        path, query = split_target(request.raw_path)
        record = RequestRecord(self._new_request_id(), request.method, path)
        self.active += 1
        try:
            plan = self._plan(request, path, query, record)
            if isinstance(plan, Response):
                self._ended(request, record, started)
                return plan
            if plan.express and self._express(request, plan, started):
                return None
        except BaseException:
            self._ended(request, record, started)
            raise
        return self._run(request, plan, started, self._rest(request, plan))

    async def _run(
        self,
        request: HttpRequest,
        plan: _Plan,
        started: float,
        work: Coroutine[Any, Any, Response | None],
    ) -> Response | None:
        """Run ``work`` for the request, and account for it whatever the outcome."""
        try:
            return await work
        except asyncio.CancelledError:
            plan.record.status = CLIENT_CLOSED
            raise
        finally:
            self._ended(request, plan.record, started)

    def _ended(self, request: HttpRequest, record: RequestRecord, started: float) -> None:
        """The request is over: traffic counts, metrics, its request-log line."""
        self.active -= 1
        latency_ms = (self._clock() - started) * 1000.0
        record.bytes_in = request.content.total_bytes
        target, route, backend = record.target, record.route, record.backend
        if target is not None and route is not None and backend is not None:
            self.traffic.end(target, record.status, latency_ms, record.replica)
            self.traffic.backend(route, backend, target, record.status)
            self.metrics.request(
                record.project or "", route, backend, target, record.status, latency_ms / 1e3
            )
        self._log.request(record, latency_ms)

    def _plan(
        self, request: HttpRequest, path: str, query: str, record: RequestRecord
    ) -> Response | _Plan:
        """Everything decided without waiting: the route, the backend, the access check;
        or the answer, when that ends the request."""
        if path.startswith(_RESERVED):
            return self._own(request, path, record)
        if request.framed:
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
        record.project, record.alias = match.project, match.alias
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
        express = (
            target is not None
            and bool(target.replicas)
            and target.max_concurrency is None
            and not route.mirrors
            and (not request.body_exists or self._all_in(request.content))
            and request.headers.get(UPGRADE) is None
        )
        return _Plan(match, choice.backend_name, target_key, target, query, record, express)

    async def _rest(self, request: HttpRequest, plan: _Plan) -> Response | None:
        """What may wait: a held request, a concurrency cap, then the proxying."""
        match, record, target = plan.match, plan.record, plan.target
        if target is None or not target.replicas:
            if self.holds.decide(target) != "hold":
                return _error(
                    Unavailable(
                        f"/{match.prefix} has no ready replica "
                        f"(backend {plan.backend}: {plan.target_key})"
                    ),
                    record,
                )
            try:
                target = await self.holds.wait(plan.target_key, self._target)
            except WaypostError as exc:
                return _error(exc, record)
        if target.max_concurrency is None:  # no cap: skip the admission machinery
            return await self._proxy(request, match, target, plan.query, record, picked=plan.picked)
        try:
            async with self.limiter.admit(target):
                return await self._proxy(request, match, target, plan.query, record)
        except Unavailable as exc:
            self.metrics.refused(target.key)
            return _error(exc, record, close=request.body_exists)

    def _express(self, request: HttpRequest, plan: _Plan, started: float) -> bool:
        """Send a request whose body (if any) is all in on an idle pooled connection at
        once and answer it from that connection's callbacks (``_Express``): no task, no
        coroutine. False when no replica or no idle connection is at hand (the awaited
        way then). The body stays buffered: a retry sends it again."""
        target = plan.target
        assert target is not None
        now = self._clock()
        replica = self.balancer.pick(target, now=now)
        if replica is None:
            return False
        match, record = plan.match, plan.record
        path = (match.rest or "/") if target.strip_prefix else record.path
        headers = request_headers(
            request.headers.items(),
            Forwarding(match.prefix, request.remote, request.headers.get(HOST), record.request_id),
            private=target.visibility == PRIVATE,
        )
        upstream = self._upstream.pool.send_now(
            replica.address,
            request.method,
            f"{path}?{plan.query}" if plan.query else path,
            headers,
            target.timeout,
            request.content.whole() if request.body_exists else None,
        )
        if upstream is None:
            plan.picked = replica
            return False
        record.replica = replica.id
        self.balancer.start(target.key, replica.id)
        self.forwarder.budget.request(target.key, now)
        _Express(self, request, plan, target, replica, upstream, started)
        return True

    async def _express_stream(
        self,
        request: HttpRequest,
        plan: _Plan,
        target: RouteTarget,
        replica: ReplicaAddress,
        upstream: UpstreamResponse,
    ) -> Response | None:
        """An express request whose answer streams: relay it the awaited way."""
        match, query, record = plan.match, plan.query, plan.record
        return await self._relay_or_retry(
            request, match, target, query, record, replica, upstream, set(), 1
        )

    async def _relay_or_retry(
        self,
        request: HttpRequest,
        match: RouteMatch,
        target: RouteTarget,
        query: str,
        record: RequestRecord,
        replica: ReplicaAddress,
        upstream: UpstreamResponse,
        tried: set[str],
        attempt: int,
    ) -> Response | None:
        """Relay the answer of attempt ``attempt`` (on ``replica``, after ``tried``);
        one that broke off before reaching the client goes to ``_after_broken``."""
        ok: bool | None = None
        try:
            response, ok = await _relay(request, upstream, record)
            return response
        except _BrokeEarly as broke:
            ok = False
            error = broke
        finally:
            upstream.release()
            self._finish(target.key, replica.id, ok)
        retry: _Retry = (tried | {replica.id}, "sent", attempt)
        return await self._after_broken(request, match, target, query, record, error, retry)

    async def _after_broken(
        self,
        request: HttpRequest,
        match: RouteMatch,
        target: RouteTarget,
        query: str,
        record: RequestRecord,
        broke: _BrokeEarly,
        retry: _Retry,
    ) -> Response | None:
        """The replica's answer broke off before any of it reached the client: a 504 for
        a stall, a retry on another replica if ``forward``'s rules allow one (a request
        without a body: nothing was kept to send again), else a 502."""
        log.warning("request %s: %s", record.request_id, broke.error)
        if isinstance(broke.error, UpstreamTimeout):
            return _error(no_answer(match.prefix, target), record)
        if request.body_exists:
            return _error(
                BadGateway(f"the replica of /{match.prefix} broke off its answer"), record
            )
        return await self._proxy(
            request, match, target, query, record, retry_of=retry, counted=True
        )

    async def _proxy(
        self,
        request: HttpRequest,
        match: RouteMatch,
        target: RouteTarget,
        query: str,
        record: RequestRecord,
        *,
        retry_of: _Retry | None = None,
        counted: bool = False,
        picked: ReplicaAddress | None = None,
    ) -> Response | None:
        """Proxy the request (``retry_of``: attempts already made failed, the last on the
        last replica tried; ``counted``: the retry budget has the request already;
        ``picked``: the replica already chosen)."""
        tried: set[str] | None = None
        attempt = 1
        if picked is not None:
            replica: ReplicaAddress | None = picked
        elif retry_of is None:
            replica = self.balancer.pick(target, now=self._clock())
        else:
            tried, failure, failed_attempt = retry_of
            attempt = failed_attempt + 1
            try:
                replica = self.forwarder.next_after(
                    target, tried, request.method, failure, failed_attempt, match.prefix
                )
            except WaypostError as exc:
                return _error(exc, record)
        if replica is None:  # a table without ready replicas came in meanwhile
            return _error(Unavailable(f"/{match.prefix} has no ready replica"), record)
        path = (match.rest or "/") if target.strip_prefix else record.path
        headers = request_headers(
            request.headers.items(),
            Forwarding(match.prefix, request.remote, request.headers.get(HOST), record.request_id),
            private=target.visibility == PRIVATE,
        )
        if is_upgrade(request):
            return await self._websocket(
                request, match, target, replica, path, query, headers, record
            )
        # A retried request had its mirror copies made by the first attempt.
        mirrored = match.route.mirrors and retry_of is None
        batch = self.mirrors.begin(request, match, record, query) if mirrored else None
        try:
            try:
                upstream_response, replica = await self._send(
                    request,
                    match,
                    target,
                    replica,
                    path,
                    query,
                    headers,
                    record,
                    batch,
                    attempt=attempt,
                    tried=tried,
                    counted=counted,
                )
            except WaypostError as exc:
                return _error(exc, record, close=isinstance(exc, TooLarge | BadRequest))
            return await self._relay_or_retry(
                request, match, target, query, record, replica, upstream_response,
                tried or set(), attempt,
            )  # fmt: skip
        finally:
            if batch is not None:
                batch.close()

    async def _send(
        self,
        request: HttpRequest,
        match: RouteMatch,
        target: RouteTarget,
        replica: ReplicaAddress,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        record: RequestRecord,
        batch: MirrorBatch | None,
        *,
        attempt: int = 1,
        tried: set[str] | None = None,
        counted: bool = False,
    ) -> tuple[UpstreamResponse, ReplicaAddress]:
        """Open the upstream request (with the retries ``forward`` allows)."""
        has_body = request.body_exists
        if has_body and (request.headers.get(EXPECT) or "").lower() == "100-continue":
            request.send_continue()
        limited = LimitedBody(request.content, self._max_body)
        body: ReplayBody | None = None
        if has_body and batch is not None and batch.needs_body:
            # The mirrors keep the body as the primary reads it; the replay buffer sits
            # above the tee, so a retried attempt does not feed the tee twice.
            body = ReplayBody(batch.tee(limited), REPLAY_LIMIT)
        elif has_body and self._all_in(request.content):
            body = ReplayBody.of(request.content.take_whole())
        elif has_body:
            body = ReplayBody(limited, REPLAY_LIMIT)
        try:
            response, replica = await self.forwarder.open(
                target,
                replica,
                request.method,
                path,
                query,
                headers,
                body,
                record,
                match.prefix,
                attempt=attempt,
                tried=tried,
                counted=counted,
            )
        except (UpstreamError, BodyTooLarge) as exc:
            if limited.exceeded:
                raise _body_over(self._max_body) from exc
            if isinstance(request.content.error, MalformedBody):
                raise BadRequest(str(request.content.error)) from exc
            log.warning("request %s: %s", record.request_id, exc)
            raise BadGateway(f"the client's request body to /{match.prefix} broke off") from exc
        if limited.exceeded:  # the replica answered before the body was cut off
            response.release()
            self.balancer.finish(target.key, replica.id, None, now=self._clock())
            raise _body_over(self._max_body)
        return response, replica

    def _all_in(self, content: RequestBody) -> bool:
        """The body has arrived whole, unread, within the size and replay limits: it
        can go with the request head in one write, and again on a retry."""
        return content.all_buffered and content.total_bytes <= min(self._max_body, REPLAY_LIMIT)

    async def _websocket(
        self,
        request: HttpRequest,
        match: RouteMatch,
        target: RouteTarget,
        replica: ReplicaAddress,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        record: RequestRecord,
    ) -> Response | None:
        record.replica = replica.id
        self.balancer.start(target.key, replica.id)
        ok: bool | None = None
        try:
            target_path = f"{path}?{query}" if query else path
            timeouts = Timeouts(target.connect_timeout, target.timeout)
            try:
                tunnel = await tunnel_websocket(
                    request, replica.address, target_path, headers, record.request_id, timeouts
                )
            except UpstreamError as exc:
                ok = False
                log.warning("request %s: %s", record.request_id, exc)
                return _error(
                    BadGateway(f"the replica of /{match.prefix} refused the WebSocket"), record
                )
            ok = True
            record.status = 101
            record.bytes_out = await tunnel.closed()
            return None
        finally:
            self._finish(target.key, replica.id, ok)

    def _finish(self, target_key: str, replica_id: str, ok: bool | None) -> None:
        """An exchange with a replica ended (``ok``: see ``Balancer.finish``)."""
        if self.balancer.finish(target_key, replica_id, ok, now=self._clock()):
            log.warning("replica %s of %s ejected after failures", replica_id, target_key)
            self.metrics.ejection(target_key)

    def _own(self, request: HttpRequest, path: str, record: RequestRecord) -> Response:
        if request.method not in ("GET", "HEAD") or path not in (HEALTH_PATH, METRICS_PATH):
            return _error(NotFound(f"no gateway resource at {path}"), record)
        if path == METRICS_PATH:
            if not (self._metrics_public or is_loopback(request.remote)):
                return _error(
                    Forbidden(
                        "the gateway's metrics are served to loopback clients only "
                        "(start it with --metrics-public to serve them to any client)"
                    ),
                    record,
                )
            body = self.metrics.render()
            record.status, record.bytes_out = 200, len(body)
            headers = [(X_REQUEST_ID, record.request_id), ("Content-Type", CONTENT_TYPE)]
            return Response(200, headers, body)
        table = self.table
        health = {"status": "ok", "routes": len(table), "revision": table.revision}
        return _json(200, health, record)


async def _relay(
    request: HttpRequest, upstream: UpstreamResponse, record: RequestRecord
) -> tuple[Response | None, bool | None]:
    """Send the upstream response to the client: whole when it is in, else streamed chunk
    by chunk as it arrives (None is then returned in place of a response), and how the
    replica did (True: answered below 500, False: 5xx or broken off, None: the client
    left first)."""
    if upstream.complete:
        # The whole body arrived with the headers (the usual small JSON answer): nothing
        # to stream, so send status, headers and body in one write.
        return _whole(upstream, record)
    headers = response_headers(upstream.headers, record.request_id, http_date())
    status = record.status = upstream.status
    answered = status < 500
    whole = await upstream.wait_complete(_WHOLE_LIMIT)
    if not whole and upstream.error is not None:
        raise _BrokeEarly(upstream.error)  # nothing reached the client yet
    if whole:
        # A small declared body that came in a packet after the headers (gunicorn
        # writes them apart): one write to the client all the same. If it breaks off
        # instead, the client gets what came, cut short, as below.
        body = upstream.body()
        record.bytes_out = len(body)
        return Response(status, headers, body, reason=upstream.reason), answered
    try:
        await request.start(status, headers, reason=upstream.reason)
        for _ in range(1 << 62):  # bounded by the end of the upstream body
            chunk = await upstream.readany()
            if not chunk:
                break
            await request.write(chunk)
            record.bytes_out += len(chunk)
    except ConnectionError:
        record.status = CLIENT_CLOSED  # the client went away; nothing left to tell it
        return None, None
    except UpstreamError as exc:
        # The status line is out: the client can only learn of the failure from a
        # response cut short, so close its connection instead of ending the body.
        log.warning("request %s: the replica broke off its response: %r", record.request_id, exc)
        request.abort()
        return None, False
    request.end()
    return None, answered


class _BrokeEarly(Exception):
    """The replica's answer broke off (or stalled) before any of it reached the client."""

    def __init__(self, error: UpstreamError) -> None:
        super().__init__(str(error))
        self.error = error


def _whole(upstream: UpstreamResponse, record: RequestRecord) -> tuple[Response, bool]:
    """The answer to send for an upstream response that is all in, and whether the
    replica answered (below 500)."""
    status = record.status = upstream.status
    try:
        body = upstream.body()
    except UpstreamError as exc:
        log.warning("request %s: the replica's response is broken: %r", record.request_id, exc)
        return _error(BadGateway("the replica sent a broken response"), record), False
    record.bytes_out = len(body)
    headers = response_headers(upstream.headers, record.request_id, http_date())
    return Response(status, headers, body, reason=upstream.reason), status < 500


def _body_over(limit: int) -> TooLarge:
    return TooLarge(f"the request body is over the limit of {limit} bytes")


def _error(exc: WaypostError, record: RequestRecord, *, close: bool = False) -> Response:
    """The JSON error response; ``close``: end the connection after it (the request's
    body is left unread, or its framing cannot be trusted)."""
    headers = [(X_REQUEST_ID, record.request_id)]
    if isinstance(exc, Unavailable):
        headers.append((RETRY_AFTER, "1"))
    elif isinstance(exc, Unauthorized):
        headers.append((WWW_AUTHENTICATE, "Bearer"))
    return _json(exc.status, exc.to_json(), record, headers, close=close)


def _json(
    status: int,
    body: dict[str, object],
    record: RequestRecord,
    headers: list[tuple[str, str]] | None = None,
    *,
    close: bool = False,
) -> Response:
    response = json_response(
        status, body, headers or [(X_REQUEST_ID, record.request_id)], close=close
    )
    record.status, record.bytes_out = status, len(response.body)
    return response


class _Express:
    """An express request (``ProxyHandler._express``): its replica's answer followed from
    the upstream connection's callbacks. A whole answer is written from there; one that
    streams, a failure (to retry), and nothing else, go on in a task the awaited way.
    The head must come within the target's ``timeout`` (504), and a client that leaves
    first ends it (499)."""

    __slots__ = (
        "_handler",
        "_over",
        "_plan",
        "_replica",
        "_request",
        "_started",
        "_target",
        "_upstream",
    )

    def __init__(
        self,
        handler: ProxyHandler,
        request: HttpRequest,
        plan: _Plan,
        target: RouteTarget,
        replica: ReplicaAddress,
        upstream: UpstreamResponse,
        started: float,
    ) -> None:
        self._handler = handler
        self._request = request
        self._plan = plan
        self._target = target
        self._replica = replica
        self._upstream = upstream
        self._started = started
        #: Accounted for (answered, cancelled, or handed to a task).
        self._over = False
        upstream.notify = self._answered
        request.on_cancel = self._cancelled
        if target.timeout:
            handler.deadlines.add(self, target.timeout, self._timed_out)

    def _stop(self) -> None:
        self._handler.deadlines.discard(self)
        self._request.on_cancel = None
        self._upstream.notify = None

    def _answered(self) -> None:
        try:
            self._follow()
        except Exception:  # a bug here must not leave the client waiting for ever
            log.exception("request %s: the express answer failed", self._plan.record.request_id)
            self._upstream.release()
            if not self._over:
                self._request.abort()
                self._plan.record.status = 500
                self._handler._ended(self._request, self._plan.record, self._started)
                self._request.finish()

    def _follow(self) -> None:
        self._stop()
        handler, request, plan, upstream = self._handler, self._request, self._plan, self._upstream
        target, replica = self._target, self._replica
        if upstream.status and upstream.complete:
            response, ok = _whole(upstream, plan.record)
            upstream.release()
            handler._finish(target.key, replica.id, ok)
            self._answer(response)
            return
        if upstream.status:  # a body still to come: stream it the awaited way
            work = handler._express_stream(request, plan, target, replica, upstream)
        else:
            upstream.release()
            key, now = target.key, handler._clock()
            if upstream.stale and request.method in IDEMPOTENT:
                # A keep-alive race, not the replica's fault: once more (as ``request``
                # does; for other methods, the replica may have acted on it).
                handler.balancer.finish(key, replica.id, None, now=now)
                work = handler._proxy(
                    request, plan.match, target, plan.query, plan.record, counted=True
                )
            else:
                if handler.balancer.finish(key, replica.id, False, now=now):
                    handler.metrics.ejection(key)
                log.warning("request %s: %s", plan.record.request_id, upstream.error)
                work = handler._proxy(
                    request,
                    plan.match,
                    target,
                    plan.query,
                    plan.record,
                    retry_of=({replica.id}, "sent", 1),
                    counted=True,
                )
        self._over = True  # the task accounts for it from here
        request.continue_with(handler._run(request, plan, self._started, work))

    def _timed_out(self) -> None:
        self._stop()
        self._upstream.release()
        handler, target, record = self._handler, self._target, self._plan.record
        handler.balancer.finish(target.key, self._replica.id, None, now=handler._clock())
        log.warning(
            "request %s: %s did not answer within %g s",
            record.request_id,
            self._replica.address,
            target.timeout,
        )
        self._answer(_error(no_answer(self._plan.match.prefix, target), record))

    def _cancelled(self) -> None:
        """The client left (or the worker stops) before the answer came."""
        self._stop()
        self._upstream.release()
        handler = self._handler
        handler.balancer.finish(self._target.key, self._replica.id, None, now=handler._clock())
        self._plan.record.status = CLIENT_CLOSED
        self._over = True
        handler._ended(self._request, self._plan.record, self._started)
        self._request.finish()

    def _answer(self, response: Response) -> None:
        self._over = True
        request = self._request
        request.respond(response)
        self._handler._ended(request, self._plan.record, self._started)
        request.finish()
