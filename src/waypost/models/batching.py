"""Adaptive batching: concurrent requests are grouped into one model call.

A caller ``await batcher.submit(item)``; one worker task takes the first waiting
item, then gathers more until ``max_batch_size`` items or ``max_wait`` seconds have
passed, and runs the batch function in a worker thread so the event loop keeps
serving. While a batch runs, new items queue up and form the next batch at once:
under load batches fill by themselves, and an idle server adds at most
``max_wait`` to a lone request. Results go back to their own callers. When a batch
raises, its items are retried one by one, so a bad input fails only its own
request. Model calls are serialised on one thread (``executor``), which is what a
CPU model wants; streaming generation shares that executor.

Hand-written rather than taken from a library: the few batching helpers on PyPI
either block in threads or lack the per-item isolation this server needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BatchStats", "Batcher"]

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchStats:
    in_flight: int  # submitted, not yet answered (queued + running)
    queued: int  # waiting for a batch
    running: int  # items in the batch being computed
    batches: int  # batches run so far
    items: int  # items run so far (retries not counted twice)
    largest_batch: int


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class Batcher(Generic[T, R]):
    """Group concurrent ``submit`` calls into calls of ``run_batch(items) -> results``."""

    def __init__(
        self,
        run_batch: Callable[[list[T]], Sequence[R]],
        *,
        max_batch_size: int,
        max_wait: float,
        executor: Executor | None = None,
        name: str = "batcher",
    ) -> None:
        if max_batch_size < 1 or max_wait < 0:
            raise ValueError("max_batch_size must be >= 1 and max_wait >= 0")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.name = name
        self._own_executor = executor is None
        self.executor = executor or ThreadPoolExecutor(1, thread_name_prefix=name)
        self._queue: asyncio.Queue[_Pending[T, R]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._running = 0
        self._batches = 0
        self._items = 0
        self._largest = 0

    async def submit(self, item: T) -> R:
        """The result for ``item``; raises what computing it raised."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name=f"{self.name}-worker")
        future: asyncio.Future[R] = loop.create_future()
        self._in_flight += 1
        try:
            self._queue.put_nowait(_Pending(item, future))
            return await future
        finally:
            self._in_flight -= 1

    def stats(self) -> BatchStats:
        return BatchStats(
            in_flight=self._in_flight,
            queued=self._queue.qsize(),
            running=self._running,
            batches=self._batches,
            items=self._items,
            largest_batch=self._largest,
        )

    async def aclose(self) -> None:
        """Stop the worker; callers still waiting get CancelledError."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while not self._queue.empty():
            self._queue.get_nowait().future.cancel()
        if self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def _work(self) -> None:
        while True:
            batch = await self._gather()
            live = [p for p in batch if not p.future.done()]  # callers that gave up
            if not live:
                continue
            self._running = len(live)
            try:
                await self._execute(live)
            except Exception as exc:  # a bug here must not strand the callers
                log.exception("%s: batch failed outside the model call", self.name)
                _fail(live, exc)
            finally:
                self._running = 0

    async def _gather(self) -> list[_Pending[T, R]]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _execute(self, batch: list[_Pending[T, R]]) -> None:
        self._batches += 1
        self._items += len(batch)
        self._largest = max(self._largest, len(batch))
        try:
            results = await self._call([p.item for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch, exc)
                return
            log.info(
                "%s: a batch of %d failed (%s); retrying one by one", self.name, len(batch), exc
            )
            for pending in batch:
                await self._execute_alone(pending)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _execute_alone(self, pending: _Pending[T, R]) -> None:
        if pending.future.done():
            return
        try:
            result = (await self._call([pending.item]))[0]
        except Exception as exc:
            _fail([pending], exc)
        else:
            if not pending.future.done():
                pending.future.set_result(result)

    async def _call(self, items: list[T]) -> Sequence[R]:
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self.executor, self.run_batch, items)
        if len(results) != len(items):
            raise RuntimeError(f"{self.name}: {len(items)} inputs gave {len(results)} results")
        return results


def _fail(batch: list[_Pending[T, R]], exc: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)
