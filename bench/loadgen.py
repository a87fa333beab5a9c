"""A closed-loop HTTP load generator: N connections, each sending requests back to back.

Python, so it is itself a bottleneck near a few thousand requests/s per core; the
figures compare paths (direct vs gateway) under the same generator, they are not
absolute capacity. ``wrk`` is used instead when installed (``bench/gateway.py``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import aiohttp

__all__ = ["LoadResult", "run_load"]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    until: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        try:
            async with session.get(url) as response:
                await response.read()
                if response.status >= 400:
                    errors.append(response.status)
        except aiohttp.ClientError:
            errors.append(0)
        latencies.append(time.perf_counter() - started)


async def _run(url: str, connections: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors: list[int] = []
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url) as warm:  # open one connection before timing
            await warm.read()
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(_worker(session, url, until, latencies, errors) for _ in range(connections))
        )
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return LoadResult(
        requests=len(latencies),
        errors=len(errors),
        seconds=elapsed,
        p50_ms=statistics.median(ordered) * 1000 if ordered else 0.0,
        p99_ms=p99 * 1000,
    )


def run_load(url: str, *, connections: int = 16, seconds: float = 5.0) -> LoadResult:
    return asyncio.run(_run(url, connections, seconds))
