"""Deadlines of requests in flight, kept by one timer per worker instead of one each.

A timer per request (``loop.call_later``, then ``cancel``) costs about 4 µs on uvloop:
each allocates, starts, stops and closes a libuv handle, and the close is one more
callback. The requests in flight are few (at most one per client connection), so a
single timer that looks them over every ``tick`` seconds while any is in flight costs
a dictionary insert and delete per request instead. A deadline fires at most ``tick``
late (10 ms: 1 % of a one-second timeout), plus whatever the event loop lags.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["Deadlines"]

log = logging.getLogger("waypost.gateway")


class Deadlines:
    """Callbacks due at a time, unless discarded first."""

    __slots__ = ("_due", "_loop", "_tick", "_timer")

    def __init__(self, tick: float = 0.01) -> None:
        self._tick = tick
        #: Owner -> (when, what to call), in the loop's time.
        self._due: dict[object, tuple[float, Callable[[], None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._due)

    def add(self, owner: object, after: float, on_due: Callable[[], None]) -> None:
        """Call ``on_due`` in ``after`` seconds unless ``discard(owner)`` comes first."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._due[owner] = (loop.time() + after, on_due)
        if self._timer is None:
            self._timer = loop.call_later(self._tick, self._sweep)

    def discard(self, owner: object) -> None:
        self._due.pop(owner, None)

    def close(self) -> None:
        """Forget every deadline (the worker stops)."""
        self._due.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due = [(owner, on_due) for owner, (when, on_due) in self._due.items() if when <= now]
        for owner, on_due in due:
            if self._due.pop(owner, None) is None:
                continue  # an earlier callback discarded it
            try:
                on_due()
            except Exception:  # the others are still due, and so is the next sweep
                log.exception("a deadline callback failed")
        if self._due and self._timer is None:
            self._timer = loop.call_later(self._tick, self._sweep)
