"""Fire-and-forget work that must not be forgotten: ``Background.spawn_background``.

Every background coroutine of a request (mirror copies) goes through one helper that
keeps a reference to its task (the event loop holds only weak ones), caps how many run
at once, logs a failure instead of leaving it to "Task exception was never retrieved",
and never touches the request that spawned it: nothing awaits these tasks but ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["Background"]

log = logging.getLogger("waypost.gateway.background")


class Background:
    def __init__(self, limit: int = 4096) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._tasks: set[asyncio.Task[None]] = set()
        #: Coroutines refused because ``limit`` tasks were running.
        self.refused = 0

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn_background(self, coro: Coroutine[Any, Any, None], *, name: str) -> bool:
        """Run ``coro`` as a named task; False (and ``coro`` closed) if at the limit."""
        if len(self._tasks) >= self.limit:
            coro.close()
            self.refused += 1
            return False
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    async def close(self, grace: float = 0.0) -> None:
        """Give running tasks up to ``grace`` seconds, then cancel the rest and wait."""
        if self._tasks and grace > 0:
            await asyncio.wait(set(self._tasks), timeout=grace)
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
