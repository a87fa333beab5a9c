"""Background.spawn_background: referenced, capped, failures logged, closed on demand."""

from __future__ import annotations

import asyncio

import pytest

from waypost.gateway.background import Background


async def test_tasks_are_kept_until_done_and_capped() -> None:
    background = Background(limit=2)
    release = asyncio.Event()
    done: list[int] = []

    async def job(n: int) -> None:
        await release.wait()
        done.append(n)

    assert background.spawn_background(job(1), name="job-1")
    assert background.spawn_background(job(2), name="job-2")
    assert not background.spawn_background(job(3), name="job-3")  # closed, never run
    assert (len(background), background.refused) == (2, 1)
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(done) == [1, 2]
    assert len(background) == 0


async def test_a_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    background = Background()

    async def boom() -> None:
        raise RuntimeError("mirror broke")

    background.spawn_background(boom(), name="mirror:x")
    for _ in range(3):
        await asyncio.sleep(0)
    assert "background task mirror:x failed" in caplog.text
    assert "mirror broke" in caplog.text


async def test_close_waits_for_the_grace_then_cancels() -> None:
    background = Background()
    finished: list[str] = []

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.append("quick")

    async def hung() -> None:
        await asyncio.sleep(60)
        finished.append("hung")

    background.spawn_background(quick(), name="quick")
    background.spawn_background(hung(), name="hung")
    await asyncio.wait_for(background.close(grace=0.2), 2)
    assert finished == ["quick"]
    assert len(background) == 0
