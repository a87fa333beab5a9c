"""Wake-from-sleep latency and scale-up reaction time, on a real ``waypost up``.

    python -m bench.coldstart [--rounds 10] [--burst 6] [--sleep 4]

Deploys ``examples/slow-flask`` (a Flask app under gunicorn with a ``/sleep`` route):

- ``wake`` (min 0, max 2, idle timeout 2 s): after one warm-up (the environment is
  built then), ``--rounds`` times: wait until the endpoint is Sleeping, send one
  request through the gateway and time it to its answer. Target: p50/p99 <= 1.5 s.
  ``wake-small`` is the same endpoint under a 0.5 CPU / 1 GiB limit (cpu-small).
- ``burst`` (min 1, max 3, target concurrency 1): ``--burst`` concurrent requests to
  ``/sleep?s=--sleep``; time from the burst's start until the endpoint reports 3
  ready replicas. Target: <= 3 s.

Prints one table. The first request after a wake is also split into where its time
went, from the endpoint's replica (process start -> ready) as the API reports it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.platform import EXAMPLES, Platform, free_port

KEY = "acme/slow/slow-flask"
WAKE_TARGET = 1.5
SCALE_TARGET = 3.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _endpoint(platform: Platform, version: int, name: str) -> dict[str, Any]:
    data: dict[str, Any] = platform.api_get(f"/api/v1/endpoints/{KEY}/{version}/{name}")
    return data


def _wait_state(platform: Platform, version: int, name: str, state: str, within: float) -> None:
    deadline = time.monotonic() + within
    seen = ""
    while time.monotonic() < deadline:
        seen = _endpoint(platform, version, name)["state"]
        if seen == state:
            return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not become {state} within {within:g}s (last: {seen})")


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
        return time.perf_counter() - started, response.status


def _wake_once(platform: Platform, version: int, name: str) -> tuple[float, float]:
    """Seconds from the request to its answer, and from the request to the process start."""
    _wait_state(platform, version, name, "Sleeping", within=60)
    url = f"{platform.gateway}/{KEY}/{version}/{name}/predict?name=Ada"

    async def once() -> tuple[float, int]:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await _get(session, url)

    sent = time.time()
    seconds, status = asyncio.run(once())
    if status != 200:
        raise SystemExit(f"the wake request answered {status}")
    replicas = _endpoint(platform, version, name)["replicas"]["items"]
    started = [datetime.fromisoformat(r["started_at"]).timestamp() for r in replicas]
    spawn_after = min((s - sent for s in started if s >= sent - 1), default=float("nan"))
    return seconds, spawn_after


def _burst(platform: Platform, version: int, count: int, sleep: float) -> tuple[float, int]:
    """Seconds from the burst's start until ``burst`` has 3 ready replicas; requests ok."""
    url = f"{platform.gateway}/{KEY}/{version}/burst/sleep?s={sleep:g}"

    async def run() -> tuple[float, int]:
        timeout = aiohttp.ClientTimeout(total=120)
        connector = aiohttp.TCPConnector(limit=count)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            started = time.perf_counter()
            requests = [asyncio.ensure_future(_get(session, url)) for _ in range(count)]
            reached = float("nan")
            deadline = started + 60
            while time.perf_counter() < deadline:
                ready = await asyncio.to_thread(
                    lambda: _endpoint(platform, version, "burst")["replicas"]["ready"]
                )
                if ready >= 3:
                    reached = time.perf_counter() - started
                    break
                await asyncio.sleep(0.05)
            answers = await asyncio.gather(*requests)
            return reached, sum(1 for _, status in answers if status == 200)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="wakes to time")
    parser.add_argument("--burst", type=int, default=6, help="concurrent slow requests")
    parser.add_argument("--sleep", type=float, default=4.0, help="seconds each one takes")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="waypost-bench-") as tmp:
        home = Path(tmp) / "home"
        platform = Platform(home, free_port(), free_port(), Path(tmp) / "up.log")
        platform.start()
        try:
            version = int(platform.deploy(EXAMPLES / "slow-flask")["version"])
            warm, _ = _wake_once(platform, version, "wake")  # also waits for the first sleep
            wakes = [_wake_once(platform, version, "wake") for _ in range(args.rounds)]
            small = [_wake_once(platform, version, "wake-small")[0] for _ in range(args.rounds)]
            _wait_state(platform, version, "burst", "Running", within=60)
            scale_up, ok = _burst(platform, version, args.burst, args.sleep)
        finally:
            platform.stop()

    seconds = [w for w, _ in wakes]
    spawn = [s for _, s in wakes]
    p50, p99 = statistics.median(seconds), _percentile(seconds, 0.99)
    verdict = "ok" if p99 <= WAKE_TARGET else "MISSED"
    scale_verdict = "ok" if scale_up <= SCALE_TARGET else "MISSED"
    print(f"{'measure':<48}{'value':>10}  target")
    print(f"{'first wake after deploy s':<48}{warm:>10.2f}")
    print(f"{'wake: request -> answer p50 s':<48}{p50:>10.2f}")
    print(f"{'wake: request -> answer p99 s':<48}{p99:>10.2f}  <= {WAKE_TARGET:g} {verdict}")
    print(
        f"{'wake: request -> replica process started p50 s':<48}{statistics.median(spawn):>10.2f}"
    )
    print(f"{'wake: rounds':<48}{len(seconds):>10d}")
    print(f"{'wake under 0.5 CPU / 1 GiB (cgroup) p50 s':<48}{statistics.median(small):>10.2f}")
    print(f"{'wake under 0.5 CPU / 1 GiB (cgroup) p99 s':<48}{_percentile(small, 0.99):>10.2f}")
    print(f"{'scale-up: burst -> 3 ready replicas s':<48}{scale_up:>10.2f}"
          f"  <= {SCALE_TARGET:g} {scale_verdict}")  # fmt: skip
    print(f"{'scale-up: requests answered 200':<48}{ok:>10d}  of {args.burst}")


if __name__ == "__main__":
    main()
