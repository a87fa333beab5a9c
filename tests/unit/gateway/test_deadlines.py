"""One timer for the deadlines of all requests in flight."""

from __future__ import annotations

import asyncio

from waypost.gateway.deadlines import Deadlines


async def test_a_deadline_fires_after_its_time_and_within_a_tick() -> None:
    deadlines = Deadlines(tick=0.01)
    loop = asyncio.get_running_loop()
    fired = loop.create_future()
    started = loop.time()
    deadlines.add("a", 0.05, lambda: fired.set_result(loop.time()))
    at = await asyncio.wait_for(fired, 2)
    assert 0.05 <= at - started < 0.05 + 0.01 + 0.05  # a tick late at most, plus lag
    assert len(deadlines) == 0


async def test_a_discarded_deadline_never_fires_and_the_timer_stops() -> None:
    deadlines = Deadlines(tick=0.01)
    fired: list[str] = []
    deadlines.add("a", 0.02, lambda: fired.append("a"))
    deadlines.add("b", 0.02, lambda: fired.append("b"))
    deadlines.discard("a")
    await asyncio.sleep(0.1)
    assert fired == ["b"]
    assert deadlines._timer is None  # nothing in flight: no timer either


async def test_one_failing_callback_does_not_stop_the_others_or_later_sweeps() -> None:
    deadlines = Deadlines(tick=0.01)
    fired: list[str] = []

    def fail() -> None:
        raise RuntimeError("boom")

    deadlines.add("bad", 0.0, fail)
    deadlines.add("good", 0.0, lambda: fired.append("good"))
    await asyncio.sleep(0.05)
    deadlines.add("later", 0.02, lambda: fired.append("later"))
    await asyncio.sleep(0.1)
    assert fired == ["good", "later"]


async def test_a_callback_may_discard_another_due_at_the_same_sweep() -> None:
    deadlines = Deadlines(tick=0.01)
    fired: list[str] = []
    deadlines.add("first", 0.0, lambda: (fired.append("first"), deadlines.discard("second")))
    deadlines.add("second", 0.0, lambda: fired.append("second"))
    await asyncio.sleep(0.05)
    assert fired == ["first"]


async def test_close_forgets_everything() -> None:
    deadlines = Deadlines(tick=0.01)
    fired: list[str] = []
    deadlines.add("a", 0.01, lambda: fired.append("a"))
    deadlines.close()
    await asyncio.sleep(0.05)
    assert fired == []
    assert len(deadlines) == 0
