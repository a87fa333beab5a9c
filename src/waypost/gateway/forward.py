"""Sending a request to a replica of its target: attempts, retries, timeouts, ejection.

``Forwarder.open`` sends the request to the replica the balancer picked and returns
once the response headers are in. When an attempt fails it asks ``core.retry`` whether
to try another replica (any method if the connection could not be opened; after the
request went out, only idempotent methods or targets that opted in, and only with a
body that was kept for replay), at most ``max_attempts`` in all and within the target's
``RetryBudget``; then it is a 502. No response headers within the target's ``timeout``
is a 504 and is not retried. Every attempt is counted on its replica (``Balancer.start``
/ ``finish``): a failure counts towards ejecting the replica, the gateway's own 504
does not. The caller ends the counting of the attempt that answered
(``Balancer.finish`` once the response is relayed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from waypost.errors import BadGateway, GatewayTimeout
from waypost.gateway.core.balance import Balancer
from waypost.gateway.core.logline import RequestRecord
from waypost.gateway.core.retry import Failure, RetryBudget, may_retry
from waypost.gateway.metrics import Metrics
from waypost.gateway.replay import ReplayBody
from waypost.gateway.upstream import (
    Timeouts,
    Upstream,
    UpstreamConnectError,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from waypost.model.routes import ReplicaAddress, RouteTarget

__all__ = ["Forwarder", "no_answer"]

log = logging.getLogger("waypost.gateway")


def no_answer(prefix: str, target: RouteTarget) -> GatewayTimeout:
    """The 504 for a replica that sent nothing within the target's ``timeout``."""
    return GatewayTimeout(f"the replica of /{prefix} did not answer within {target.timeout:g} s")


class Forwarder:
    def __init__(
        self,
        upstream: Upstream,
        balancer: Balancer,
        metrics: Metrics,
        clock: Callable[[], float],
        *,
        max_attempts: int = 3,
        budget: RetryBudget | None = None,
    ) -> None:
        self._upstream = upstream
        self._balancer = balancer
        self._metrics = metrics
        self._clock = clock
        self.max_attempts = max_attempts
        self.budget = budget or RetryBudget()

    async def open(
        self,
        target: RouteTarget,
        replica: ReplicaAddress,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: ReplayBody | None,
        record: RequestRecord,
        prefix: str,
        *,
        attempt: int = 1,
        tried: set[str] | None = None,
        counted: bool = False,
    ) -> tuple[UpstreamResponse, ReplicaAddress]:
        """The response headers of the first attempt that got any; BadGateway or
        GatewayTimeout otherwise. UpstreamError escapes when ``body`` failed (the
        caller knows whether it was over the size limit).

        A request whose first attempt the caller made (the express path) comes with
        ``attempt`` and the replicas ``tried``, and ``counted`` in the retry budget.
        """
        key = target.key
        balancer = self._balancer
        timeouts = Timeouts(target.connect_timeout, target.timeout)
        if not counted:
            self.budget.request(key, self._clock())
        tried = set() if tried is None else tried
        while True:
            record.replica = replica.id
            balancer.start(key, replica.id)
            failure: Failure
            try:
                response = await self._upstream.send(
                    replica.address, method, path, query, headers, body, timeouts
                )
            except UpstreamConnectError as exc:
                now = self._clock()
                balancer.finish(key, replica.id, None, now=now)
                if balancer.connect_failed(key, replica.id, now=now):
                    self._metrics.ejection(key)
                log.warning("request %s: %s", record.request_id, exc)
                failure = "connect"
            except UpstreamTimeout as exc:
                balancer.finish(key, replica.id, None, now=self._clock())
                log.warning("request %s: %s", record.request_id, exc)
                raise no_answer(prefix, target) from exc
            except UpstreamError as exc:
                if balancer.finish(key, replica.id, False, now=self._clock()):
                    self._metrics.ejection(key)
                if body is not None and body.source_failed:
                    raise  # the client's body failed (over the limit, or cut off)
                log.warning("request %s: %s", record.request_id, exc)
                failure = "sent"
            except BaseException:
                balancer.finish(key, replica.id, None, now=self._clock())
                raise
            else:
                return response, replica
            tried.add(replica.id)
            replica = self._next(target, tried, method, failure, attempt, body, prefix)
            attempt += 1
            if body is not None:
                body.rewind()
            self._metrics.retry(key, failure)

    def next_after(
        self,
        target: RouteTarget,
        tried: set[str],
        method: str,
        failure: Failure,
        attempt: int,
        prefix: str,
    ) -> ReplicaAddress:
        """The replica for the attempt after number ``attempt`` failed on the last of
        ``tried`` (attempts the caller made itself, without a body); BadGateway if none
        may be tried."""
        replica = self._next(target, tried, method, failure, attempt, None, prefix)
        self._metrics.retry(target.key, failure)
        return replica

    def _next(
        self,
        target: RouteTarget,
        tried: set[str],
        method: str,
        failure: Failure,
        attempt: int,
        body: ReplayBody | None,
        prefix: str,
    ) -> ReplicaAddress:
        """The replica for the next attempt, or the 502 that ends the request."""
        if failure == "connect":
            message = f"could not connect to a replica of /{prefix}"
        else:
            message = f"the replica of /{prefix} failed to answer"
        allowed = may_retry(
            method,
            failure,
            attempt=attempt,
            max_attempts=self.max_attempts,
            opt_in=target.retry_non_idempotent,
            body_replayable=body is None or body.replayable,
        )
        if not allowed:
            raise BadGateway(message)
        now = self._clock()
        replica = self._balancer.pick(target, tried, now=now)
        if replica is None:
            raise BadGateway(message)
        if not self.budget.try_spend(target.key, now):
            log.warning("retry budget of %s spent: not retrying", target.key)
            raise BadGateway(message)
        return replica
