"""Per-target concurrency caps: requests beyond a target's cap wait their turn, briefly.

``Limiter.admit(target)`` is entered around everything a request does with a replica
of a target that has a ``max_concurrency``. Up to the cap run at once (per worker: the
cap is shared out over the gateway's workers, rounding up); up to ``queue_size`` wait
in arrival order, each at most ``queue_timeout`` seconds; the rest, and those that wait
too long, get ``Unavailable`` (503 with ``Retry-After``). Like ``holds``, a waiting
request's body is not read, so its client is held back by TCP flow control and the
memory a waiting request costs is its handler, not its body. The counting is
``core.admission.Admission``; this module only parks and wakes futures.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import AsyncIterator

from waypost.errors import Unavailable
from waypost.gateway.core.admission import Admission, Admit
from waypost.model.routes import RouteTarget

__all__ = ["Limiter"]


class Limiter:
    def __init__(self, workers: int = 1) -> None:
        self._workers = max(1, workers)
        self.admission = Admission()
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._tickets = itertools.count()
        #: Requests refused (queue full or waited too long), for metrics.
        self.refused = 0

    def cap(self, target: RouteTarget) -> int | None:
        """This worker's share of the target's cap (None: no cap)."""
        if target.max_concurrency is None:
            return None
        return max(1, math.ceil(target.max_concurrency / self._workers))

    @contextlib.asynccontextmanager
    async def admit(self, target: RouteTarget) -> AsyncIterator[None]:
        cap = self.cap(target)
        if cap is None:
            yield
            return
        key = target.key
        ticket = next(self._tickets)
        admit = self.admission.enter(key, ticket, cap, max(0, target.queue_size))
        if admit is Admit.FULL:
            self.refused += 1
            raise Unavailable(f"{key} is at its concurrency limit and its queue is full; retry")
        if admit is Admit.QUEUED:
            waiter = self._waiters[ticket] = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(target.queue_timeout):
                    await waiter
            except BaseException as exc:
                self._waiters.pop(ticket, None)
                if self.admission.abandon(key, ticket):  # still waiting: give up the place
                    if isinstance(exc, TimeoutError):
                        self.refused += 1
                        raise Unavailable(
                            f"{key} is at its concurrency limit; "
                            f"waited {target.queue_timeout:g} s; retry"
                        ) from exc
                    raise
                # Promoted just as it gave up: it holds a running place; pass it on.
                self._release(target)
                raise
        try:
            yield
        finally:
            self._release(target)

    def _release(self, target: RouteTarget) -> None:
        for ticket in self.admission.leave(target.key, self.cap(target)):
            waiter = self._waiters.pop(ticket, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def depths(self) -> dict[str, int]:
        return self.admission.depths()
