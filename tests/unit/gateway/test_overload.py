"""Limiter: the I/O half of concurrency caps, on a real event loop (no sockets)."""

from __future__ import annotations

import asyncio

import pytest

from waypost.errors import Unavailable
from waypost.gateway.overload import Limiter
from waypost.model.routes import ReplicaAddress, RouteTarget


def target(cap: int | None, queue: int = 2, wait: float = 5.0) -> RouteTarget:
    return RouteTarget(
        "acme/shop/hello/1/web",
        "Running",
        "public",
        False,
        (ReplicaAddress("r", "127.0.0.1:1"),),
        max_concurrency=cap,
        queue_size=queue,
        queue_timeout=wait,
    )


async def test_requests_beyond_the_cap_wait_in_order_and_the_rest_are_refused() -> None:
    limiter = Limiter()
    t = target(cap=1, queue=2)
    release = asyncio.Event()
    order: list[int] = []

    async def call(n: int) -> str:
        try:
            async with limiter.admit(t):
                order.append(n)
                await release.wait()
                return "ok"
        except Unavailable:
            return "refused"

    tasks = [asyncio.create_task(call(n)) for n in range(4)]
    await asyncio.sleep(0.01)
    assert order == [0]
    assert limiter.depths() == {t.key: 2}
    release.set()
    assert await asyncio.gather(*tasks) == ["ok", "ok", "ok", "refused"]
    assert order == [0, 1, 2]
    assert limiter.refused == 1
    assert limiter.admission.running(t.key) == 0


async def test_a_wait_beyond_the_queue_timeout_is_a_503() -> None:
    limiter = Limiter()
    t = target(cap=1, wait=0.05)
    hold = asyncio.Event()

    async def first() -> None:
        async with limiter.admit(t):
            await hold.wait()

    task = asyncio.create_task(first())
    await asyncio.sleep(0.01)
    with pytest.raises(Unavailable, match="waited"):
        async with limiter.admit(t):
            pass
    assert limiter.depths() == {}
    hold.set()
    await task


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    limiter = Limiter()
    t = target(cap=1, queue=1)
    hold = asyncio.Event()

    async def use() -> None:
        async with limiter.admit(t):
            await hold.wait()

    running = asyncio.create_task(use())
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(use())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter.depths() == {}
    hold.set()
    await running
    assert limiter.admission.running(t.key) == 0


async def test_no_cap_admits_everything() -> None:
    limiter = Limiter()
    async with limiter.admit(target(None)), limiter.admit(target(None)):
        assert limiter.depths() == {}


@pytest.mark.parametrize(
    ("cap", "workers", "share"),
    [
        pytest.param(10, 1, 10, id="one"),
        pytest.param(10, 3, 4, id="rounded-up"),
        pytest.param(1, 4, 1, id="at-least-one"),
    ],
)
def test_the_cap_is_shared_out_over_workers(cap: int, workers: int, share: int) -> None:
    assert Limiter(workers).cap(target(cap)) == share
