"""The request handler: match, choose, balance, forward, stream back, log.

``ProxyHandler`` is an aiohttp low-level handler (no router, no middlewares): every
decision is a call into ``core``; this module only moves bytes and turns failures
into JSON errors of one shape (``{"error", "message"}``):

- malformed path: 400; no route: 404; route without a ready replica: 503 with
  ``Retry-After: 1``; no connection to any replica: 502 (a connect failure is
  retried once on another ready replica, since nothing was sent, and the replica
  is set aside for a few seconds until the route table catches up);
- paths under ``/-/`` are the gateway's own (no org name can be ``-``):
  ``GET /-/health`` answers ``{"status": "ok", "routes": N, "revision": R}``.

Bodies stream both ways: the client's body is handed to the upstream client as a
stream, and the response is written back chunk by chunk as it arrives, so chunked
responses and server-sent events reach the client without delay.
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

from waypost.errors import NotFound, Unavailable, WaypostError
from waypost.gateway.accesslog import CLIENT_CLOSED, AccessEntry, AccessLog
from waypost.gateway.core.balance import RoundRobin
from waypost.gateway.core.errors import BadGateway, BadRequest
from waypost.gateway.core.headers import (
    EXPECT,
    HOST,
    RETRY_AFTER,
    X_REQUEST_ID,
    Forwarding,
    request_headers,
    response_headers,
)
from waypost.gateway.core.paths import split_target
from waypost.gateway.core.split import choose, sticky_draw, sticky_key
from waypost.gateway.core.table import RouteMatch, RouteTable
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
        access_log: AccessLog,
        *,
        table: RouteTable | None = None,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.perf_counter,
        new_request_id: Callable[[], str] = _new_request_id,
    ) -> None:
        self.table = table or RouteTable.empty()
        self._upstream = upstream
        self._log = access_log
        self._balancer = RoundRobin()
        self._draw = draw
        self._clock = clock
        self._new_request_id = new_request_id

    def swap(self, table: RouteTable) -> None:
        """Serve ``table`` from now on; requests in flight keep the one they matched."""
        self.table = table
        self._balancer.retain(table.targets)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        started = self._clock()
        path, query = split_target(request.raw_path)
        entry = AccessEntry(self._new_request_id(), request.method, path)
        try:
            return await self._handle(request, path, query, entry)
        except asyncio.CancelledError:
            entry.status = CLIENT_CLOSED
            raise
        finally:
            self._log.write(entry, (self._clock() - started) * 1000.0)

    async def _handle(
        self, request: web.BaseRequest, path: str, query: str, entry: AccessEntry
    ) -> web.StreamResponse:
        if path.startswith(_RESERVED):
            return self._own(request, path, entry)
        try:
            match = self.table.match(path)
        except BadRequest as exc:
            return _error(exc, entry)
        if match is None:
            return _error(NotFound(f"no endpoint at {path}"), entry)
        entry.prefix = match.prefix
        route = match.route
        key = sticky_key(route.sticky, request.headers)
        choice = choose(route, sticky_draw(key) if key is not None else self._draw())
        if choice is None:
            return _error(Unavailable(f"/{match.prefix} has no backend taking traffic"), entry)
        entry.backend, entry.target = choice.backend_name, choice.backend_target_key
        target = match.target(choice.backend_target_key)
        replica = self._balancer.pick(target, now=self._clock()) if target is not None else None
        if target is None or replica is None:
            return _error(
                Unavailable(
                    f"/{match.prefix} has no ready replica "
                    f"(backend {choice.backend_name}: {choice.backend_target_key})"
                ),
                entry,
            )
        try:
            upstream_response = await self._send(request, match, target, replica, query, entry)
        except WaypostError as exc:
            return _error(exc, entry)
        try:
            return await _relay(request, upstream_response, entry)
        finally:
            upstream_response.release()

    async def _send(
        self,
        request: web.BaseRequest,
        match: RouteMatch,
        target: RouteTarget,
        replica: ReplicaAddress,
        query: str,
        entry: AccessEntry,
    ) -> aiohttp.ClientResponse:
        """Open the upstream request, retrying a connect failure once on another replica."""
        path = (match.rest or "/") if target.strip_prefix else entry.path
        headers = request_headers(
            request.headers.items(),
            Forwarding(match.prefix, request.remote, request.headers.get(HOST), entry.request_id),
        )
        has_body = request.body_exists
        if has_body and request.version == HttpVersion11:
            expect = request.headers.get(EXPECT, "")
            if expect.lower() == "100-continue":
                await request.writer.write(_CONTINUE)
                request.writer.output_size = 0  # the real response has not started yet
        failed: set[str] = set()
        while True:
            entry.replica = replica.id
            body = request.content if has_body else None
            try:
                return await self._upstream.send(
                    replica.address, request.method, path, query, headers, body
                )
            except UpstreamConnectError as exc:
                failed.add(replica.id)
                now = self._clock()
                self._balancer.failed(target.key, replica.id, now=now)
                log.warning("request %s: %s", entry.request_id, exc)
                retry = (
                    self._balancer.pick(target, failed, now=now)
                    if len(failed) < _ATTEMPTS
                    else None
                )
                if retry is None:
                    raise BadGateway(f"could not connect to a replica of /{match.prefix}") from exc
                replica = retry
            except UpstreamError as exc:
                log.warning("request %s: %s", entry.request_id, exc)
                raise BadGateway(f"the replica of /{match.prefix} failed to answer") from exc

    def _own(self, request: web.BaseRequest, path: str, entry: AccessEntry) -> web.Response:
        if path != HEALTH_PATH or request.method not in ("GET", "HEAD"):
            return _error(NotFound(f"no gateway resource at {path}"), entry)
        table = self.table
        body = {"status": "ok", "routes": len(table), "revision": table.revision}
        return _json(200, body, entry)


async def _relay(
    request: web.BaseRequest, upstream: aiohttp.ClientResponse, entry: AccessEntry
) -> web.StreamResponse:
    """Stream the upstream response to the client, chunk by chunk as it arrives."""
    headers = CIMultiDict(response_headers(upstream.headers.items(), entry.request_id))
    entry.status = upstream.status
    if upstream.content.is_eof():
        # The whole body arrived with the headers (the usual small JSON answer): nothing
        # to stream, so send status, headers and body in one write.
        try:
            body = await upstream.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("request %s: the replica's response is broken: %r", entry.request_id, exc)
            return _error(BadGateway("the replica sent a broken response"), entry)
        entry.bytes = len(body)
        return web.Response(
            status=upstream.status, reason=upstream.reason, body=body, headers=headers
        )
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    try:
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
            entry.bytes += len(chunk)
    except ConnectionError:
        entry.status = CLIENT_CLOSED  # the client went away; nothing left to tell it
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The status line is out: the client can only learn of the failure from a
        # response cut short, so close its connection instead of ending the body.
        log.warning("request %s: the replica broke off its response: %r", entry.request_id, exc)
        request.protocol.force_close()
    return response


def _error(exc: WaypostError, entry: AccessEntry) -> web.Response:
    response = _json(exc.status, exc.to_json(), entry)
    if isinstance(exc, Unavailable):
        response.headers[RETRY_AFTER] = "1"
    return response


def _json(status: int, body: dict[str, object], entry: AccessEntry) -> web.Response:
    data = json.dumps(body).encode()
    entry.status, entry.bytes = status, len(data)
    return web.Response(
        status=status,
        body=data,
        content_type="application/json",
        headers={X_REQUEST_ID: entry.request_id},
    )
