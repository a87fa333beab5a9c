"""Log sinks: a project's request-log lines POSTed to a real receiver on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from tests.integration.gateway.conftest import Env, GatewayFactory
from tests.integration.gateway.doubles import LogReceiver
from tests.integration.gateway.support import GatewayProcess, build_snapshot, free_port
from waypost.model.routes import LogSink

V1 = "acme/shop/hello/1/web"
OTHER = "acme/other/hello/1/web"
SHADOWED = "acme/shop/hello/shadowed/web"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture
def receiver(env: Env) -> Iterator[LogReceiver]:
    site = LogReceiver(env.thread, free_port())
    site.start()
    yield site
    site.stop()


def with_sink(env: Env, receiver: LogReceiver) -> None:
    env.publish(
        build_snapshot(
            {V1: [("v1", 1, V1)], OTHER: [("v1", 1, OTHER)]},
            {V1: [env.a.address], OTHER: [env.a.address]},
            log_sinks=[LogSink("acme/shop", receiver.url + "/logs")],
        )
    )


async def send(gateway: GatewayProcess, path: str, count: int) -> list[str]:
    """``count`` GETs over 16 connections; their request ids."""
    ids: list[str] = []
    remaining = iter(range(count))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in remaining:
            async with session.get(gateway.url + path) as response:
                assert response.status == 200
                ids.append(response.headers["X-Request-ID"])
                await response.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        await asyncio.wait_for(asyncio.gather(*(worker(session) for _ in range(16))), 60)
    return ids


def request_ids(lines: list[dict[str, Any]]) -> list[str]:
    return [line["request_id"] for line in lines if line.get("kind") == "request"]


async def test_the_sink_receives_every_line_of_its_project(env: Env, receiver: LogReceiver) -> None:
    with_sink(env, receiver)
    ids = await send(env.gateway, f"/{V1}/predict", 1000)
    other = await send(env.gateway, f"/{OTHER}/", 10)
    await asyncio.to_thread(
        wait_until,
        lambda: set(ids) <= set(request_ids(receiver.received())),
        10,
        "every line at the sink",
    )
    received = request_ids(receiver.received())
    assert len(received) == len(set(received))  # each line once
    assert not set(other) & set(received)  # another project's lines stay out
    assert receiver.content_types == {"application/x-ndjson"}
    assert receiver.batches >= 2  # 1000 lines, at most 500 a batch
    line = next(e for e in receiver.received() if e["request_id"] == ids[0])
    assert (line["project"], line["route"], line["backend"], line["status"]) == (
        "acme/shop",
        V1,
        "v1",
        200,
    )


async def test_nothing_is_lost_when_the_sink_fails_three_batches(
    env: Env, receiver: LogReceiver
) -> None:
    receiver.fail_next = 3
    with_sink(env, receiver)
    ids = await send(env.gateway, f"/{V1}/predict", 1000)
    # Retries after 0.5, 1 and 2 s.
    await asyncio.to_thread(
        wait_until,
        lambda: set(ids) <= set(request_ids(receiver.received())),
        15,
        "every line at the sink after its failures",
    )
    assert receiver.failed == 3
    assert not [e for e in receiver.received() if e.get("kind") == "sink_dropped"]


async def test_mirror_lines_go_to_the_sink_too(env: Env, receiver: LogReceiver) -> None:
    env.publish(
        build_snapshot(
            {SHADOWED: [("main", 1, V1)]},
            {V1: [env.a.address]},
            mirrors={SHADOWED: [("candidate", V1)]},
            log_sinks=[LogSink("acme/shop", receiver.url)],
        )
    )
    ids = await send(env.gateway, f"/{SHADOWED}/", 5)

    def mirrored() -> set[str]:
        return {e["request_id"] for e in receiver.received() if e.get("kind") == "mirror"}

    await asyncio.to_thread(wait_until, lambda: mirrored() == set(ids), 10, "5 mirror lines")


async def test_a_sink_down_with_a_small_buffer_reports_what_it_dropped(
    env: Env, start_gateway: GatewayFactory
) -> None:
    receiver = LogReceiver(env.thread, free_port())  # not started: nothing listens yet
    with_sink(env, receiver)
    gateway = start_gateway(extra_args=["--sink-buffer", "50"])
    gateway.wait_revision(env.control.snapshot.revision)
    ids = await send(gateway, f"/{V1}/predict", 300)
    receiver.start()
    try:

        def accounted() -> int:
            lines = receiver.received()
            mine = set(ids) & set(request_ids(lines))
            dropped = sum(int(e["count"]) for e in lines if e.get("kind") == "sink_dropped")
            return len(mine) + dropped

        # The sender is in backoff (0.5 s doubling): give it a few rounds.
        await asyncio.to_thread(
            wait_until, lambda: accounted() >= 300, 20, "300 lines delivered or counted"
        )
        # Every line is delivered or counted as dropped, never both, never neither.
        assert accounted() == 300
        lines = receiver.received()
        dropped = sum(e["count"] for e in lines if e.get("kind") == "sink_dropped")
        assert dropped >= 200  # a 50-line buffer, plus the first batch cut before the outage
        assert "lines dropped so far (buffer full)" in gateway.stderr()
    finally:
        receiver.stop()


async def test_a_sink_removed_from_the_snapshot_gets_nothing_more(
    env: Env, receiver: LogReceiver
) -> None:
    with_sink(env, receiver)
    first = await send(env.gateway, f"/{V1}/", 5)
    await asyncio.to_thread(
        wait_until,
        lambda: set(first) <= set(request_ids(receiver.received())),
        5,
        "lines before the removal",
    )
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    later = await send(env.gateway, f"/{V1}/", 5)
    await asyncio.sleep(1.5)  # more than the batch interval: anything sent would be here
    assert not set(later) & set(request_ids(receiver.received()))
    assert "log sink removed: acme/shop" in env.gateway.stderr()
