"""Wake-ups for long-polling gateways: writers ``notify()``, waiters get an event."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["ChangeSignal"]


class ChangeSignal:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def close(self) -> None:
        """Release every waiter now and from now on: the process is shutting down."""
        self.closed = True
        self._event.set()

    def notify(self) -> None:
        if self.closed:
            return
        # Swap in a new event so each waiter sees exactly the changes after it started waiting.
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
