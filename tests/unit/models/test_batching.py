"""The adaptive batcher, driven with fake model functions (no model, no sockets)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from waypost.models.batching import Batcher


class FakeModel:
    """Doubles numbers; refuses negative ones; records each batch and its thread."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if any(i < 0 for i in items):
            raise ValueError(f"negative input in {items}")
        return [i * 2 for i in items]


async def test_concurrent_requests_share_batches_and_get_their_own_results() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=8, max_wait=0.05)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(i) for i in range(20))), 10
        )
    finally:
        await batcher.aclose()
    assert results == [i * 2 for i in range(20)]
    assert [len(b) for b in model.batches] == [8, 8, 4]
    assert sorted(i for b in model.batches for i in b) == list(range(20))
    stats = batcher.stats()
    assert (stats.batches, stats.items, stats.largest_batch, stats.in_flight) == (3, 20, 8, 0)


async def test_batch_size_one_runs_every_request_alone() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=1, max_wait=0.05)
    try:
        await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(5))), 10)
    finally:
        await batcher.aclose()
    assert [len(b) for b in model.batches] == [1] * 5


async def test_a_bad_input_fails_only_its_own_request() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_batch_size=8, max_wait=0.05)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(i) for i in (1, -1, 3)), return_exceptions=True), 10
        )
    finally:
        await batcher.aclose()
    assert results[0] == 2
    assert results[2] == 6
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "negative input in [-1]"
    # One batch of three, then each retried alone.
    assert model.batches == [[1, -1, 3], [1], [-1], [3]]


async def test_results_of_the_wrong_length_fail_the_callers() -> None:
    batcher: Batcher[int, int] = Batcher(lambda items: [0], max_batch_size=4, max_wait=0.05)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True), 10
        )
    finally:
        await batcher.aclose()
    # Batched: 2 inputs gave 1 result, so each is retried alone and gets its one result.
    assert list(results) == [0, 0]


async def test_a_lone_request_waits_at_most_about_max_wait() -> None:
    batcher = Batcher(FakeModel(), max_batch_size=64, max_wait=0.2)
    try:
        started = time.perf_counter()
        assert await asyncio.wait_for(batcher.submit(21), 10) == 42
        elapsed = time.perf_counter() - started
    finally:
        await batcher.aclose()
    assert 0.15 <= elapsed < 5.0


async def test_the_model_runs_off_the_event_loop_on_one_thread() -> None:
    model = FakeModel(delay=0.3)
    batcher = Batcher(model, max_batch_size=2, max_wait=0.0, name="fake")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(4))), 10)
    finally:
        ticker.cancel()
        await batcher.aclose()
    assert ticks >= 10  # the loop kept running while the model slept 2 x 0.3 s
    assert len(model.threads) == 1
    assert next(iter(model.threads)).startswith("fake")
    assert threading.current_thread().name not in model.threads


async def test_stats_while_busy_and_cancelled_callers_are_skipped() -> None:
    model = FakeModel(delay=0.3)
    batcher = Batcher(model, max_batch_size=1, max_wait=0.0)
    try:
        first = asyncio.create_task(batcher.submit(1))
        second = asyncio.create_task(batcher.submit(2))
        third = asyncio.create_task(batcher.submit(3))
        await asyncio.sleep(0.1)
        stats = batcher.stats()
        assert (stats.in_flight, stats.running, stats.queued) == (3, 1, 2)
        second.cancel()
        assert await asyncio.wait_for(first, 10) == 2
        assert await asyncio.wait_for(third, 10) == 6
    finally:
        await batcher.aclose()
    assert model.batches == [[1], [3]]


def test_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(FakeModel(), max_batch_size=0, max_wait=0.01)
