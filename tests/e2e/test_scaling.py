"""Scaling under load on a real ``waypost up``: the autoscaler follows a burst up, and
replicas taken out of service drain, so scaling down under load fails no request.

Uses ``examples/slow-flask`` (a sync gunicorn worker per replica: one request at a
time, so concurrency is what the autoscaler sees).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.platform import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EXAMPLE = Path(__file__).parents[2] / "examples" / "slow-flask"
BURST = "/api/v1/endpoints/acme/slow/slow-flask/1/burst"


def ready_replicas(platform: Platform) -> int:
    endpoint = platform.api_get(BURST)
    return int(endpoint["replicas"]["ready"])


def wait_for(predicate: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_a_burst_scales_up_and_scaling_down_under_load_fails_nothing(
    platform: Platform,
) -> None:
    platform.deploy(EXAMPLE)
    wait_for(lambda: ready_replicas(platform) == 1, 120, "the first replica")
    url = f"{platform.gateway}/acme/slow/slow-flask/1/burst"

    # A burst: 6 requests of 2 s at once against target-concurrency 1.
    stop = threading.Event()
    outcomes: Counter[int] = Counter()
    failures: list[str] = []

    def keep_calling(seconds: str) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    response = client.get(f"{url}/sleep", params={"s": seconds})
                    outcomes[response.status_code] += 1
                    if response.status_code != 200:
                        failures.append(response.text[:300])
                except httpx.HTTPError:
                    outcomes[-1] += 1

    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(6):
            pool.submit(keep_calling, "2")
        took = wait_for(lambda: ready_replicas(platform) == 3, 60, "scaling up to 3")
        stop.set()
    assert took < 30, f"scale-up took {took:.1f}s"

    # Pin it to 3, then scale down to 1 while short requests keep flowing.
    headers = {"Authorization": f"Bearer {platform.token}"}
    pinned = httpx.patch(
        platform.api + BURST, json={"replicas": {"min": 3, "max": 3}}, headers=headers
    )
    assert pinned.status_code == 200, pinned.text
    stop.clear()
    outcomes.clear()
    failures.clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(4):
            pool.submit(keep_calling, "0.05")
        time.sleep(1.0)
        shrunk = httpx.patch(
            platform.api + BURST, json={"replicas": {"min": 1, "max": 1}}, headers=headers
        )
        assert shrunk.status_code == 200, shrunk.text
        wait_for(lambda: len(platform.api_get(BURST)["replicas"]["items"]) == 1, 60, "scaling down")
        time.sleep(1.0)
        stop.set()

    assert outcomes[200] > 20, outcomes
    assert set(outcomes) == {200}, f"failed while scaling down: {outcomes} {failures[:3]}"
