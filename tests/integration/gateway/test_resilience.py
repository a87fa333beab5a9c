"""Timeouts, retries, outlier ejection, removed replicas and concurrency caps on a real gateway."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.gateway.conftest import Env
from tests.integration.gateway.support import build_snapshot

_versions = itertools.count(100)


class Target:
    """A fresh target per test (replica health is kept per target and replica)."""

    def __init__(self) -> None:
        self.key = f"acme/shop/resilience/{next(_versions)}/web"
        self.url = "/" + self.key


@pytest.fixture
def client(env: Env) -> Iterator[httpx.Client]:
    env.a.requests.clear()
    env.b.requests.clear()
    try:
        with httpx.Client(base_url=env.gateway.url, timeout=15) as c:
            yield c
    finally:
        env.a.status = env.b.status = None
        env.a.reset = env.b.reset = False


def publish(env: Env, target: Target, replicas: list[str], **settings: object) -> None:
    key = target.key
    env.publish(build_snapshot({key: [("v1", 1, key)]}, {key: replicas}, settings={key: settings}))


def metric(env: Env, name: str, **labels: str) -> float:
    text = httpx.get(env.gateway.url + "/-/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def test_a_hung_replica_is_a_504_within_ten_percent_of_the_timeout(
    env: Env, client: httpx.Client
) -> None:
    t = Target()
    publish(env, t, [env.a.address], timeout=1.0)
    started = time.monotonic()
    response = client.get(t.url + "/slow?seconds=5")
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"] == "gateway_timeout"
    assert "within 1 s" in response.json()["message"]
    assert 1.0 <= elapsed < 1.1 + 0.3  # 10 %, plus room for a loaded machine
    assert client.get(t.url + "/").status_code == 200  # the gateway was not held


def test_sent_requests_are_retried_only_when_safe(env: Env, client: httpx.Client) -> None:
    t = Target()
    publish(env, t, [env.a.address, env.b.address])
    env.a.reset = True  # a reads each request, then hangs up without an answer
    before = metric(env, "waypost_gateway_retries_total", target=t.key, failure="sent")
    for _ in range(4):  # alternating replicas: some start on a, are retried on b
        response = client.get(t.url + "/x")
        assert response.status_code == 200
        assert response.json()["replica"] == "b"
    assert len(env.a.requests) >= 2
    after = metric(env, "waypost_gateway_retries_total", target=t.key, failure="sent")
    # One retry per request that started on a (aiohttp itself also tries a GET once more
    # on a fresh connection when a pooled one is closed under it, so a sees more).
    assert 1 <= after - before <= 4
    # A POST that reached a cannot be sent again: 502 (a is the next pick after b).
    statuses = {client.post(t.url + "/x", content=b"order").status_code for _ in range(2)}
    assert statuses == {200, 502}


def test_a_target_may_opt_in_to_retrying_posts(env: Env, client: httpx.Client) -> None:
    t = Target()
    publish(env, t, [env.a.address, env.b.address], retry_non_idempotent=True)
    env.a.reset = True
    for _ in range(4):
        response = client.post(t.url + "/x", content=b"idempotent-key-123")
        assert response.status_code == 200
        assert response.json()["body_sha256"] == env.b.requests[-1].body_sha256
        assert response.json()["body_size"] == len(b"idempotent-key-123")  # replayed whole


def test_five_5xx_in_a_row_eject_a_replica(env: Env, client: httpx.Client) -> None:
    t = Target()
    publish(env, t, [env.a.address, env.b.address])
    env.a.status = 500
    before = metric(env, "waypost_gateway_ejections_total", target=t.key)
    statuses = [client.get(t.url + "/x").status_code for _ in range(30)]
    assert statuses.count(500) == 5  # then a is out, for 5 s at least
    assert len(env.a.requests) == 5
    assert metric(env, "waypost_gateway_ejections_total", target=t.key) == before + 1


def test_when_every_replica_fails_they_are_all_still_used(env: Env, client: httpx.Client) -> None:
    t = Target()
    publish(env, t, [env.a.address, env.b.address])
    env.a.status = env.b.status = 503
    statuses = [client.get(t.url + "/x").status_code for _ in range(20)]
    assert statuses == [503] * 20  # the replicas' own answers, never an empty 502/503
    assert env.a.requests
    assert env.b.requests
    assert len(env.a.requests) + len(env.b.requests) == 20


def test_a_removed_replica_finishes_its_requests_and_is_reported_until_then(
    env: Env, client: httpx.Client
) -> None:
    t = Target()
    publish(env, t, [env.a.address])
    replica_a = f"r0-{env.a.address}"
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.get, t.url + "/slow?seconds=2")
        deadline = time.monotonic() + 5
        while not env.a.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert env.a.requests, "the slow request did not reach a"
        publish(env, t, [env.b.address])  # a leaves the table with a request in flight
        for _ in range(5):
            assert client.get(t.url + "/x").json()["replica"] == "b"
        time.sleep(1.2)  # at least one report while the request runs
        reports = env.control.report_list()
        assert slow.result().status_code == 200
    busy = [
        load.replicas for r in reports for load in r.targets if load.key == t.key and load.replicas
    ]
    assert {replica_a: 1} in busy


def test_a_concurrency_cap_queues_then_refuses(env: Env, client: httpx.Client) -> None:
    t = Target()
    publish(env, t, [env.a.address], max_concurrency=2, queue_size=2, queue_timeout=5.0)
    results: list[tuple[int, float, str | None]] = []
    lock = threading.Lock()

    def call() -> None:
        started = time.monotonic()
        response = httpx.get(env.gateway.url + t.url + "/slow?seconds=1", timeout=15)
        with lock:
            results.append(
                (
                    response.status_code,
                    time.monotonic() - started,
                    response.headers.get("Retry-After"),
                )
            )

    with ThreadPoolExecutor(6) as pool:
        for future in [pool.submit(call) for _ in range(6)]:
            future.result()
    ok = sorted(elapsed for status, elapsed, _ in results if status == 200)
    refused = [(elapsed, retry) for status, elapsed, retry in results if status == 503]
    assert len(ok) == 4
    assert len(refused) == 2
    assert all(retry == "1" and elapsed < 0.8 for elapsed, retry in refused)  # at once
    assert ok[2] >= 1.9  # the two queued ones waited for a slot
    assert metric(env, "waypost_gateway_overload_refused_total", target=t.key) >= 2


def test_a_queued_request_that_waits_too_long_is_a_503(env: Env, client: httpx.Client) -> None:
    t = Target()
    publish(env, t, [env.a.address], max_concurrency=1, queue_size=5, queue_timeout=0.3)
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(client.get, t.url + "/slow?seconds=1.5")
        time.sleep(0.3)
        started = time.monotonic()
        with httpx.Client(base_url=env.gateway.url, timeout=10) as other:
            response = other.get(t.url + "/x")
        waited = time.monotonic() - started
        assert busy.result().status_code == 200
    assert response.status_code == 503
    assert "waited 0.3 s" in response.json()["message"]
    assert 0.3 <= waited < 1.2
