"""Requests held while their endpoint wakes, released the moment a replica is ready.

``HoldQueue.wait(key, lookup)`` parks a request whose target has no ready replica but
is waking (``core.hold.HoldBook.decide`` says ``hold``). Nothing polls: each waiting
target has an ``asyncio.Event`` that ``table_changed`` sets when a new route table
gives it a ready replica (or a state that cannot be waited for), and the held requests
then look the target up again in the new table. The first request held for a target
calls ``on_first_waiting`` so the gateway reports it at once and the wake starts.

Bounded: ``options.queue`` requests per target (beyond: ``Unavailable``, a 503 with
``Retry-After: 1``) and ``options.deadline`` seconds each (beyond: ``GatewayTimeout``,
a 504). A client that hangs up cancels its handler, which frees its place. The request
body is not touched while held, so the client is held back by TCP flow control.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from waypost.errors import GatewayTimeout, Unavailable
from waypost.gateway.core.hold import Decision, Entered, HoldBook
from waypost.gateway.options import HoldOptions
from waypost.model.routes import RouteTarget

__all__ = ["HoldQueue"]


class HoldQueue:
    def __init__(
        self,
        options: HoldOptions | None = None,
        *,
        on_first_waiting: Callable[[str], None] = lambda key: None,
    ) -> None:
        self.options = options or HoldOptions()
        self.book = HoldBook(self.options.queue)
        self._on_first_waiting = on_first_waiting
        self._events: dict[str, asyncio.Event] = {}

    def decide(self, target: RouteTarget | None) -> Decision:
        return self.book.decide(target)

    @property
    def waiting(self) -> tuple[str, ...]:
        return self.book.waiting

    def table_changed(self, targets: Mapping[str, RouteTarget]) -> None:
        """A new route table is serving: release the requests it lets through."""
        self.book.observe(targets)
        for key in [k for k in self._events if self.book.decide(targets.get(k)) != "hold"]:
            self._events.pop(key).set()

    async def wait(self, key: str, lookup: Callable[[str], RouteTarget | None]) -> RouteTarget:
        """Hold until ``lookup(key)`` has a ready replica; that target, or an error."""
        entered = self.book.enter(key)
        if entered is Entered.FULL:
            raise Unavailable(f"too many requests are waiting for {key} to wake; retry")
        try:
            if entered is Entered.FIRST:
                self._on_first_waiting(key)
            async with asyncio.timeout(self.options.deadline):
                while True:
                    target = lookup(key)
                    decision = self.book.decide(target)
                    if target is not None and decision == "proxy":
                        return target
                    if decision == "unavailable":
                        state = "gone" if target is None else target.state
                        raise Unavailable(f"{key} has no ready replica (it is {state})")
                    event = self._events.get(key)
                    if event is None:
                        event = self._events[key] = asyncio.Event()
                    await event.wait()
        except TimeoutError as exc:
            raise GatewayTimeout(
                f"{key} did not wake within {self.options.deadline:g} s; retry"
            ) from exc
        finally:
            self.book.leave(key)
            if not self.book.held(key):
                event = self._events.get(key)
                if event is not None and not event.is_set():
                    del self._events[key]
