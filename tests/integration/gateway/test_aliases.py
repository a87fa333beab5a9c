"""Aliases through a real gateway: weighted splits, sticky users, mirror copies."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from tests.integration.gateway.conftest import Env, GatewayFactory
from tests.integration.gateway.support import GatewayProcess, build_snapshot

V1 = "acme/shop/hello/1/web"
V2 = "acme/shop/hello/2/web"
AB = "acme/shop/hello/ab/web"
SHADOWED = "acme/shop/hello/shadowed/web"


def binomial_interval(n: int, p: float, confidence: float) -> tuple[int, int]:
    """The central interval [lo, hi] holding at least ``confidence`` of Binomial(n, p)."""
    tail = (1 - confidence) / 2

    def pmf(k: int) -> float:
        log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        return math.exp(log + k * math.log(p) + (n - k) * math.log1p(-p))

    cumulative, lo = 0.0, 0
    while cumulative + pmf(lo) <= tail:  # P(X < lo + 1) still within the lower tail
        cumulative += pmf(lo)
        lo += 1
    cumulative, hi = 0.0, n
    while cumulative + pmf(hi) <= tail:
        cumulative += pmf(hi)
        hi -= 1
    return lo, hi


def test_binomial_interval_matches_the_normal_approximation() -> None:
    lo, hi = binomial_interval(10_000, 0.9, 0.99)
    # mean 9000, sd 30, z(0.995) = 2.576: about 8923..9077
    assert 8915 <= lo <= 8930
    assert 9070 <= hi <= 9085


async def count_replicas(
    url: str, requests: int, *, connections: int = 16, headers: dict[str, str] | None = None
) -> Counter[str]:
    counts: Counter[str] = Counter()
    remaining = iter(range(requests))
    deadline = time.monotonic() + 60

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in remaining:
            assert time.monotonic() < deadline, "took too long"
            async with session.get(url, headers=headers) as response:
                assert response.status == 200, await response.text()
                counts[(await response.json())["replica"]] += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    return counts


async def test_nine_to_one_split_lands_in_the_binomial_99_percent_interval(env: Env) -> None:
    env.publish(
        build_snapshot(
            {AB: [("stable", 9, V1), ("canary", 1, V2)]},
            {V1: [env.a.address], V2: [env.b.address]},
        )
    )
    n = 10_000
    counts = await count_replicas(f"{env.gateway.url}/{AB}/", n)
    lo, hi = binomial_interval(n, 0.9, 0.99)
    print(f"9:1 split over {n} requests: {dict(counts)}; 99% interval for 'a': [{lo}, {hi}]")
    assert counts["a"] + counts["b"] == n
    if not lo <= counts["a"] <= hi:
        # A fair splitter lands outside its 99% interval in 1 run of 100; a second,
        # independent sample outside it too (1 in 10,000) means the split is off.
        counts = await count_replicas(f"{env.gateway.url}/{AB}/", n)
        assert lo <= counts["a"] <= hi, counts


async def test_one_user_id_always_lands_on_one_backend(env: Env) -> None:
    env.publish(
        build_snapshot(
            {AB: [("one", 1, V1), ("two", 1, V2)]},
            {V1: [env.a.address], V2: [env.b.address]},
            sticky={AB: "header:X-User-ID"},
        )
    )
    counts = await count_replicas(
        f"{env.gateway.url}/{AB}/", 500, headers={"X-User-ID": "user-1234"}
    )
    assert len(counts) == 1
    assert sum(counts.values()) == 500


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


def mirror_lines(gateway: GatewayProcess, request_id: str | None = None) -> list[dict[str, Any]]:
    return [
        line
        for line in gateway.request_log()
        if line.get("kind") == "mirror" and request_id in (None, line["request_id"])
    ]


def shadowed(env: Env) -> None:
    env.publish(
        build_snapshot(
            {SHADOWED: [("main", 1, V1)]},
            {V1: [env.a.address], V2: [env.b.address]},
            mirrors={SHADOWED: [("candidate", V2)]},
        )
    )


@pytest.fixture
def mirrored(env: Env) -> Iterator[Env]:
    shadowed(env)
    env.a.requests.clear()
    env.b.requests.clear()
    yield env
    env.b.delay, env.b.status = 0.0, None


def test_a_mirror_gets_a_copy_under_its_own_prefix(mirrored: Env) -> None:
    env = mirrored
    body = os.urandom(3000)
    response = httpx.post(
        f"{env.gateway.url}/{SHADOWED}/predict?x=1&y=%2F",
        content=body,
        headers={"X-Custom": "yes", "X-VH-Prefix": "spoofed"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["replica"] == "a"
    request_id = response.headers["X-Request-ID"]
    wait_until(lambda: len(env.b.requests) == 1, 5, "the copy at the mirror")
    copy = env.b.requests[0]
    assert copy.method == "POST"
    assert copy.raw_path == f"/{V2}/predict?x=1&y=%2F"
    assert copy.body_size == len(body)
    assert copy.body_sha256 == hashlib.sha256(body).hexdigest()
    headers: dict[str, list[str]] = {}
    for name, value in copy.headers:
        headers.setdefault(name.lower(), []).append(value)
    assert headers["x-vh-prefix"] == [V2]
    assert headers["x-custom"] == ["yes"]
    assert headers["x-request-id"] == [request_id]
    assert headers["host"] == [env.b.address]
    wait_until(lambda: bool(mirror_lines(env.gateway, request_id)), 5, "the mirror log line")
    (line,) = mirror_lines(env.gateway, request_id)
    assert line["mirror"] == "candidate"
    assert line["target"] == V2
    assert line["route"] == SHADOWED
    assert line["alias"] == "shadowed"
    assert (line["outcome"], line["status"]) == ("status", 200)
    assert line["latency_ms"] > 0
    (primary,) = [
        e
        for e in env.gateway.request_log()
        if e["request_id"] == request_id and e["kind"] == "request"
    ]
    assert (primary["bytes_in"], primary["backend"]) == (len(body), "main")


def test_a_get_is_mirrored_with_no_body(mirrored: Env) -> None:
    env = mirrored
    response = httpx.get(f"{env.gateway.url}/{SHADOWED}", timeout=10)
    assert response.status_code == 200
    wait_until(lambda: len(env.b.requests) == 1, 5, "the copy at the mirror")
    assert env.b.requests[0].raw_path == f"/{V2}"
    assert env.b.requests[0].body_size == 0


def test_a_large_body_is_kept_for_the_mirror_while_the_primary_streams(mirrored: Env) -> None:
    env = mirrored
    chunk = os.urandom(200 * 1024)  # 5 chunks: 1,024,000 bytes, under the 1 MiB limit
    sent_last = 0.0

    def body() -> Iterator[bytes]:
        nonlocal sent_last
        for _ in range(5):
            yield chunk
            time.sleep(0.15)
        sent_last = time.monotonic()

    response = httpx.post(f"{env.gateway.url}/{SHADOWED}/upload", content=body(), timeout=10)
    assert response.status_code == 200
    assert response.json()["body_size"] == 5 * len(chunk)
    primary = env.a.requests[-1]
    assert primary.first_body_byte is not None
    assert primary.first_body_byte < sent_last - 0.4  # the tee held nothing back
    wait_until(lambda: len(env.b.requests) == 1, 5, "the copy at the mirror")
    assert env.b.requests[0].body_sha256 == hashlib.sha256(chunk * 5).hexdigest()


def primary_latencies(gateway: GatewayProcess, count: int) -> list[float]:
    latencies = []
    with httpx.Client(timeout=10) as client:
        for _ in range(count):
            started = time.monotonic()
            response = client.post(f"{gateway.url}/{SHADOWED}/predict", content=b"{}")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            assert response.json()["replica"] == "a"
    return latencies


def test_a_hung_mirror_times_out_and_never_slows_the_primary(
    mirrored: Env, start_gateway: GatewayFactory
) -> None:
    env = mirrored
    gateway = start_gateway(extra_args=["--mirror-timeout", "0.5"])
    gateway.wait_revision(env.control.snapshot.revision)
    env.b.delay = 5.0
    latencies = primary_latencies(gateway, 10)
    assert max(latencies) < 0.5, latencies
    wait_until(lambda: len(mirror_lines(gateway)) == 10, 5, "ten mirror lines")
    lines = mirror_lines(gateway)
    assert {line["outcome"] for line in lines} == {"timeout"}
    assert all(0.45 < line["latency_ms"] / 1000 < 2.0 for line in lines)


def test_a_failing_mirror_never_touches_the_primary(mirrored: Env) -> None:
    env = mirrored
    env.b.status = 500
    before = len(mirror_lines(env.gateway))
    primary_latencies(env.gateway, 10)
    wait_until(lambda: len(mirror_lines(env.gateway)) >= before + 10, 5, "ten mirror lines")
    lines = mirror_lines(env.gateway)[before:]
    # On a loaded machine the gateway may shed copies while its event loop lags: those
    # are logged as dropped, never sent; every copy that was sent got the mirror's 500.
    sent = [line for line in lines if line["outcome"] != "dropped"]
    assert sent
    assert {(line["outcome"], line["status"]) for line in sent} == {("status", 500)}


def test_copies_beyond_the_mirror_queue_are_dropped_and_counted(
    mirrored: Env, start_gateway: GatewayFactory
) -> None:
    env = mirrored
    gateway = start_gateway(extra_args=["--mirror-concurrency", "2", "--mirror-queue", "3"])
    gateway.wait_revision(env.control.snapshot.revision)
    env.b.delay = 3.0
    started = time.monotonic()
    primary_latencies(gateway, 20)
    assert time.monotonic() - started < 3.0, "the copies did not stay in flight: counts unsure"

    def dropped() -> list[dict[str, Any]]:
        return [line for line in mirror_lines(gateway) if line["outcome"] == "dropped"]

    wait_until(lambda: len(dropped()) == 15, 5, "15 copies dropped (2 running, 3 queued)")
    assert {line["reason"] for line in dropped()} == {"the mirror queue is full"}

    def reported_dropped() -> int:
        return sum(
            b.dropped
            for r in env.control.report_list()
            if r.gateway.endswith(f"/{gateway.pid}")
            for b in r.backends
            if b.kind == "mirror" and b.name == "candidate"
        )

    wait_until(lambda: reported_dropped() == 15, 5, "the drops in the traffic report")


def test_bodies_over_the_mirror_limit_are_skipped(
    mirrored: Env, start_gateway: GatewayFactory
) -> None:
    env = mirrored
    gateway = start_gateway(extra_args=["--mirror-body-limit", "1000"])
    gateway.wait_revision(env.control.snapshot.revision)

    def chunked() -> Iterator[bytes]:
        yield b"x" * 600
        yield b"y" * 600

    url = f"{gateway.url}/{SHADOWED}/predict"
    outcomes = {}
    for name, content in (("declared", b"z" * 5000), ("chunked", chunked()), ("small", b"s" * 500)):
        response = httpx.post(url, content=content, timeout=10)
        assert response.status_code == 200
        outcomes[response.headers["X-Request-ID"]] = name
    assert [r.body_size for r in env.a.requests] == [5000, 1200, 500]
    wait_until(lambda: len(mirror_lines(gateway)) == 3, 5, "three mirror lines")
    by_name = {outcomes[line["request_id"]]: line for line in mirror_lines(gateway)}
    assert by_name["declared"]["outcome"] == "skipped"
    assert by_name["chunked"]["outcome"] == "skipped"
    assert "over the mirror limit of 1000 bytes" in by_name["chunked"]["reason"]
    assert (by_name["small"]["outcome"], by_name["small"]["status"]) == ("status", 200)
    wait_until(lambda: len(env.b.requests) == 1, 5, "only the small body mirrored")
    assert env.b.requests[0].body_size == 500
