"""Shadow traffic: a copy of each request to every mirror of its route, in the background.

``Mirrors.begin`` is called once a request's primary replica is known. It returns a
``MirrorBatch`` that makes the copies: at once for a request without a body; for one
with a body, ``MirrorBatch.tee`` wraps the body stream the primary reads, keeps the
bytes as they pass (never delaying them), and sends the copies when the primary has
read the last byte. A body over ``body_limit`` (declared, or found while streaming),
one the primary never read to its end, or one that would take the worker's mirror
memory over ``memory`` is not copied: each mirror logs ``skipped``.

A copy goes to its mirror target under the target's own prefix (``core.mirror``), with
the client's headers under the same hygiene rules as a primary request and
``X-VH-Prefix`` set to the target key. Per target, ``concurrency`` copies run and
``queue`` wait (``core.mirror.Lane``); a copy that does not fit is ``dropped``, and so
is every copy made while the event loop lags (``core.lag.LoopLag.busy``: the worker
is short of CPU, and a copy would take it from primary requests). A copy
has ``timeout`` seconds to be answered and its answer read (and thrown away). Every
copy runs through ``Background.spawn_background``: nothing here can change the
primary's status, body or latency. Each copy ends in one request-log line of kind
``mirror`` and in the mirror's traffic counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from waypost.gateway.background import Background
from waypost.gateway.bodylimit import ChunkSource, ChunkStream
from waypost.gateway.core.access import PRIVATE
from waypost.gateway.core.balance import Balancer
from waypost.gateway.core.headers import HOST, Forwarding, request_headers
from waypost.gateway.core.hold import SLEEPING
from waypost.gateway.core.lag import LoopLag
from waypost.gateway.core.logline import MirrorOutcome, MirrorRecord, RequestRecord
from waypost.gateway.core.mirror import Admit, Lane, body_plan, mirror_path
from waypost.gateway.core.table import RouteMatch
from waypost.gateway.core.traffic import TrafficCounter
from waypost.gateway.h1server import Headers, HttpRequest
from waypost.gateway.metrics import Metrics
from waypost.gateway.options import MirrorOptions
from waypost.gateway.requestlog import RequestLog
from waypost.gateway.upstream import Upstream, UpstreamConnectError, UpstreamError
from waypost.model.routes import RouteTarget

__all__ = ["MirrorBatch", "Mirrors"]


class _Body:
    """A copied body, shared by the copies of one request; its bytes count against memory."""

    __slots__ = ("data", "refs")

    def __init__(self, data: bytes | bytearray | None) -> None:
        self.data = data
        self.refs = 0

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


@dataclass(slots=True)
class _Copy:
    record: MirrorRecord
    query: str
    headers: Headers  # the client's, as received
    client_ip: str | None
    client_host: str | None
    rest: str
    body: _Body
    #: The primary target is private: the client's Authorization is not copied on.
    private: bool = False


class Mirrors:
    def __init__(
        self,
        upstream: Upstream,
        balancer: Balancer,
        request_log: RequestLog,
        traffic: TrafficCounter,
        lookup: Callable[[str], RouteTarget | None],
        *,
        options: MirrorOptions | None = None,
        on_sleeping: Callable[[str], None] = lambda key: None,
        clock: Callable[[], float] = time.perf_counter,
        lag: LoopLag | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.options = options or MirrorOptions()
        self._lag = lag or LoopLag(self.options.shed_lag)
        self._metrics = metrics
        self.background = Background(self.options.tasks)
        self._upstream = upstream
        self._balancer = balancer
        self._log = request_log
        self._traffic = traffic
        self._lookup = lookup
        self._on_sleeping = on_sleeping
        self._clock = clock
        self._lanes: dict[str, Lane[_Copy]] = {}
        #: Body bytes held by copies and tees now.
        self.memory = 0

    def begin(
        self, request: HttpRequest, match: RouteMatch, record: RequestRecord, query: str
    ) -> MirrorBatch:
        """The copies of ``request``; sent now if it has no body, else once it is read."""
        batch = MirrorBatch(self, request, match, record, query)
        plan = body_plan(request.body_exists, request.content_length, self.options.body_limit)
        if plan == "none":
            batch.send(_Body(None))
        elif plan == "skip":
            batch.skip(f"the body is over the mirror limit of {self.options.body_limit} bytes")
        return batch

    async def close(self, grace: float) -> None:
        """Give copies in flight ``grace`` seconds, cancel the rest; queued ones are dropped."""
        await self.background.close(grace)
        for lane in self._lanes.values():
            while (copy := lane.next_or_idle()) is not None:
                self.unref(copy.body)
                self.finish(copy, "dropped", reason="the gateway stopped")
        self._lanes.clear()

    def reserve(self, size: int) -> bool:
        if self.memory + size > self.options.memory:
            return False
        self.memory += size
        return True

    def release(self, size: int) -> None:
        self.memory -= size

    def dispatch(self, copy: _Copy) -> None:
        key = copy.record.target
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(self.options.concurrency, self.options.queue)
        if self._lag.busy:
            self.finish(copy, "dropped", reason="the gateway is busy")
            return
        admit = lane.offer(copy)
        if admit is Admit.DROPPED:
            self.finish(copy, "dropped", reason="the mirror queue is full")
            return
        copy.body.refs += 1
        if admit is Admit.RUN and not self.background.spawn_background(
            self._run_lane(key, lane, copy), name=f"mirror:{key}"
        ):
            # Not started: give the run slot back (nothing queues while a slot is free).
            lane.next_or_idle()
            self.unref(copy.body)
            self.finish(copy, "dropped", reason="too many mirror tasks")

    def finish(
        self,
        copy: _Copy,
        outcome: MirrorOutcome,
        *,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Log and count a copy's end (dropped, skipped or sent)."""
        record = copy.record
        record.outcome, record.status, record.reason = outcome, status, reason
        never_sent = outcome in ("dropped", "skipped")
        error = outcome in ("timeout", "error") or (status is not None and status >= 500)
        self._traffic.mirror(
            record.route, record.mirror, record.target, error=error, dropped=never_sent
        )
        if never_sent and self._metrics is not None:
            self._metrics.mirror_dropped(record.project, record.target)
        self._log.mirror(record)

    async def _run_lane(self, key: str, lane: Lane[_Copy], first: _Copy) -> None:
        copy: _Copy | None = first
        try:
            while copy is not None:
                try:
                    await self._send(copy)
                finally:
                    self.unref(copy.body)
                copy = lane.next_or_idle()
        finally:
            if lane.idle and self._lanes.get(key) is lane:
                del self._lanes[key]

    def unref(self, body: _Body) -> None:
        """One holder of ``body`` is done with it; the last one gives its bytes back."""
        body.refs -= 1
        if body.refs == 0:
            self.release(body.size)

    async def _send(self, copy: _Copy) -> None:
        record = copy.record
        target = self._lookup(record.target)
        replica = (
            self._balancer.pick(target, now=self._clock())
            if target is not None and target.replicas
            else None
        )
        if target is None or replica is None:
            if target is not None and target.state == SLEEPING:
                self._on_sleeping(target.key)
            state = "not in the route table" if target is None else target.state
            self.finish(copy, "error", reason=f"no ready replica ({state})")
            return
        record.replica = replica.id
        headers = request_headers(
            copy.headers.items(),
            Forwarding(target.key, copy.client_ip, copy.client_host, record.request_id),
            private=copy.private or target.visibility == PRIVATE,
        )
        path = mirror_path(target.key, copy.rest, strip_prefix=target.strip_prefix)
        outcome: MirrorOutcome = "error"
        connect_failed = False
        status: int | None = None
        reason: str | None = None
        self._traffic.begin(target.key)
        self._balancer.start(target.key, replica.id)
        started = self._clock()
        try:
            async with asyncio.timeout(self.options.timeout):
                response = await self._upstream.send(
                    replica.address, record.method, path, copy.query, headers, copy.body.data
                )
                try:
                    status = response.status
                    while await response.readany():
                        pass  # read to the end and thrown away, so the connection is reused
                finally:
                    response.release()
            outcome = "status"
        except TimeoutError:
            outcome, reason = "timeout", f"no answer within {self.options.timeout:g} s"
        except UpstreamConnectError:
            connect_failed = True
            reason = "could not connect"
        except UpstreamError as exc:
            reason = type(exc).__name__
        except asyncio.CancelledError:
            reason = "the gateway stopped"
            raise
        finally:
            now = self._clock()
            ok = None if outcome == "timeout" else outcome == "status" and (status or 0) < 500
            ejected = self._balancer.finish(
                target.key, replica.id, None if connect_failed else ok, now=now
            )
            if connect_failed:
                ejected = self._balancer.connect_failed(target.key, replica.id, now=now)
            if ejected and self._metrics is not None:
                self._metrics.ejection(target.key)
            latency_ms = (now - started) * 1000.0
            record.latency_ms = latency_ms
            answered = status if outcome == "status" else None
            counted = answered or (504 if outcome == "timeout" else 502)
            self._traffic.end(target.key, counted, latency_ms)
            self.finish(copy, outcome, status=answered, reason=reason)


class MirrorBatch:
    """The mirror copies of one request."""

    __slots__ = ("_copies", "_mirrors", "_pending", "_tee")

    def __init__(
        self,
        mirrors: Mirrors,
        request: HttpRequest,
        match: RouteMatch,
        record: RequestRecord,
        query: str,
    ) -> None:
        self._mirrors = mirrors
        headers = request.headers
        client_host = request.headers.get(HOST)
        project = record.project or ""
        route = record.route or match.prefix
        primary = match.target(record.target) if record.target is not None else None
        private = primary is not None and primary.visibility == PRIVATE
        self._copies = [
            _Copy(
                MirrorRecord(
                    record.request_id,
                    record.method,
                    record.path,
                    project,
                    route,
                    record.alias,
                    mirror.name,
                    mirror.target,
                ),
                query,
                headers,
                request.remote,
                client_host,
                match.rest,
                _Body(None),
                private,
            )
            for mirror in match.route.mirrors
        ]
        self._pending = True
        self._tee: BodyTee | None = None

    @property
    def needs_body(self) -> bool:
        """The copies wait for the request body, which must be read through ``tee``."""
        return self._pending

    def tee(self, content: ChunkSource) -> BodyTee:
        if self._tee is None:
            self._tee = BodyTee(content, self)
        return self._tee

    def send(self, body: _Body) -> None:
        if not self._pending:
            return
        self._pending = False
        body.refs += 1  # held while dispatching, so a copy ending early cannot free it
        for copy in self._copies:
            copy.body = body
            self._mirrors.dispatch(copy)
        self._mirrors.unref(body)

    def skip(self, reason: str) -> None:
        if not self._pending:
            return
        self._pending = False
        for copy in self._copies:
            self._mirrors.finish(copy, "skipped", reason=reason)

    def close(self) -> None:
        """The request is over: copies still waiting for its body are skipped."""
        if self._tee is not None:
            self._tee.drop()
        self.skip("the primary did not read the whole body")


class BodyTee(ChunkStream):
    """The request body as the primary reads it, kept for the copies up to the limits."""

    __slots__ = ("_batch", "_buffer", "_content", "_mirrors")

    def __init__(self, content: ChunkSource, batch: MirrorBatch) -> None:
        self._content = content
        self._batch = batch
        self._mirrors = batch._mirrors
        self._buffer: bytearray | None = bytearray()

    async def readany(self) -> bytes:
        """The next chunk (``b""`` at the end, when the copies are sent)."""
        chunk = await self._content.readany()
        if not chunk:
            buffer = self._buffer
            if buffer is not None:
                self._buffer = None
                self._batch.send(_Body(buffer))  # its bytes stay reserved until sent
            return chunk
        buffer = self._buffer
        if buffer is not None:
            options = self._mirrors.options
            if len(buffer) + len(chunk) > options.body_limit:
                self.drop()
                self._batch.skip(f"the body is over the mirror limit of {options.body_limit} bytes")
            elif not self._mirrors.reserve(len(chunk)):
                self.drop()
                self._batch.skip("the mirror memory limit is reached")
            else:
                buffer += chunk
        return chunk

    def drop(self) -> None:
        """Stop keeping the body and give its bytes back."""
        if self._buffer is not None:
            self._mirrors.release(len(self._buffer))
            self._buffer = None
