"""HoldQueue: requests wait for a table with a ready replica, bounded in number and time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from waypost.errors import GatewayTimeout, Unavailable
from waypost.gateway.holds import HoldQueue
from waypost.gateway.options import HoldOptions
from waypost.model.routes import ReplicaAddress, RouteTarget

KEY = "acme/shop/hello/1/web"


def target(state: str, *replicas: str) -> RouteTarget:
    return RouteTarget(
        KEY,
        state,
        "public",
        False,
        tuple(ReplicaAddress(f"r{i}", a) for i, a in enumerate(replicas)),
    )


class Table:
    """What the handler's ``table.targets`` would be."""

    def __init__(self, queue: HoldQueue, first: RouteTarget) -> None:
        self.queue = queue
        self.targets: Mapping[str, RouteTarget] = {KEY: first}
        queue.table_changed(self.targets)

    def publish(self, new: RouteTarget) -> None:
        self.targets = {KEY: new}
        self.queue.table_changed(self.targets)

    def lookup(self, key: str) -> RouteTarget | None:
        return self.targets.get(key)


async def test_held_requests_are_released_by_a_table_with_a_ready_replica() -> None:
    first: list[str] = []
    queue = HoldQueue(HoldOptions(queue=10, deadline=5), on_first_waiting=first.append)
    table = Table(queue, target("Sleeping"))
    waiters = [asyncio.create_task(queue.wait(KEY, table.lookup)) for _ in range(5)]
    await asyncio.sleep(0)
    assert first == [KEY]  # once, for the first request held
    assert queue.waiting == (KEY,)
    table.publish(target("Startup"))  # waking, still no replica: keep holding
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)
    table.publish(target("Running", "127.0.0.1:9"))
    released = await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert {t.replicas[0].address for t in released} == {"127.0.0.1:9"}
    assert queue.waiting == ()


async def test_a_full_queue_refuses_at_once() -> None:
    queue = HoldQueue(HoldOptions(queue=2, deadline=5))
    table = Table(queue, target("Sleeping"))
    held = [asyncio.create_task(queue.wait(KEY, table.lookup)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Unavailable, match="too many requests"):
        await queue.wait(KEY, table.lookup)
    for task in held:
        task.cancel()
    await asyncio.gather(*held, return_exceptions=True)
    assert queue.book.held(KEY) == 0


async def test_the_deadline_is_a_gateway_timeout() -> None:
    queue = HoldQueue(HoldOptions(queue=2, deadline=0.05))
    table = Table(queue, target("Sleeping"))
    with pytest.raises(GatewayTimeout, match=r"did not wake within 0\.05 s"):
        await queue.wait(KEY, table.lookup)
    assert queue.waiting == ()


async def test_a_cancelled_request_frees_its_place() -> None:
    queue = HoldQueue(HoldOptions(queue=1, deadline=5))
    table = Table(queue, target("Sleeping"))
    held = asyncio.create_task(queue.wait(KEY, table.lookup))
    await asyncio.sleep(0)
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    second = asyncio.create_task(queue.wait(KEY, table.lookup))
    await asyncio.sleep(0)
    assert not second.done()  # admitted, not refused
    table.publish(target("Running", "127.0.0.1:9"))
    assert (await asyncio.wait_for(second, 1)).replicas


async def test_a_state_that_cannot_wake_ends_the_wait_with_503() -> None:
    queue = HoldQueue(HoldOptions(queue=5, deadline=5))
    table = Table(queue, target("Sleeping"))
    held = asyncio.create_task(queue.wait(KEY, table.lookup))
    await asyncio.sleep(0)
    table.publish(target("DeployFailed"))
    with pytest.raises(Unavailable, match="DeployFailed"):
        await asyncio.wait_for(held, 1)
