"""Requests for a sleeping endpoint are held while it wakes, within bounds (real gateway)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx

from tests.integration.gateway.conftest import Env, GatewayFactory
from tests.integration.gateway.support import build_snapshot

V1 = "acme/shop/nap/1/web"
URL = "acme/shop/nap/1/web"


def sleeping(env: Env, state: str = "Sleeping") -> None:
    env.publish(build_snapshot({URL: [("v1", 1, V1)]}, {V1: []}, states={V1: state}))


async def test_a_hundred_requests_are_held_until_the_endpoint_wakes(env: Env) -> None:
    sleeping(env)
    awake = build_snapshot({URL: [("v1", 1, V1)]}, {V1: [env.a.address]})
    env.control.first_waiting.pop(V1, None)
    env.control.wake_on_waiting[V1] = (awake, 0.5)
    env.a.requests.clear()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=env.gateway.url, timeout=15, limits=limits) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(client.post(f"/{URL}/predict", content=b"x" * i) for i in range(100))
        )
        elapsed = time.monotonic() - started
    assert [r.status_code for r in responses] == [200] * 100
    # The bodies were read once released: every replica saw the whole body.
    assert sorted(r.json()["body_size"] for r in responses) == list(range(100))
    # The gateway reported the target as waiting at once, not at its next 1 s tick
    # (the margin is for a loaded CI machine; the figure here is ~0.05 s).
    assert env.control.first_waiting[V1] - started < 0.95
    assert 0.5 <= elapsed < 10.0
    print(f"100 held requests answered {elapsed:.2f}s after they started")
    assert env.control.snapshot.revision == awake.revision


def test_a_full_hold_queue_is_503_and_the_deadline_504(
    env: Env, start_gateway: GatewayFactory
) -> None:
    sleeping(env)
    gateway = start_gateway(extra_args=["--hold-queue", "2", "--wake-timeout", "1.5"])
    gateway.wait_revision(env.control.snapshot.revision)
    results: list[httpx.Response] = []

    def held() -> None:
        results.append(httpx.get(f"{gateway.url}/{URL}/", timeout=10))

    callers = [threading.Thread(target=held) for _ in range(2)]
    started = time.monotonic()
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 5
    while not any(
        V1 in r.waiting for r in env.control.report_list() if r.gateway.endswith(f"/{gateway.pid}")
    ):
        assert time.monotonic() < deadline, "the held requests were never reported"
        time.sleep(0.02)
    time.sleep(0.1)
    refused = httpx.get(f"{gateway.url}/{URL}/", timeout=10)
    assert time.monotonic() - started < 1.5
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "unavailable"
    assert "too many requests are waiting" in refused.json()["message"]
    for caller in callers:
        caller.join(10)
    assert [r.status_code for r in results] == [504, 504]
    assert results[0].json()["error"] == "gateway_timeout"
    assert time.monotonic() - started >= 1.5


def test_a_client_hanging_up_while_held_frees_its_place(
    env: Env, start_gateway: GatewayFactory
) -> None:
    sleeping(env)
    gateway = start_gateway(extra_args=["--hold-queue", "1", "--wake-timeout", "1"])
    gateway.wait_revision(env.control.snapshot.revision)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(f"GET /{URL}/ HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
        time.sleep(0.3)
    time.sleep(0.2)
    started = time.monotonic()
    response = httpx.get(f"{gateway.url}/{URL}/", timeout=10)
    assert response.status_code == 504  # held in the freed place, not refused with 503
    assert time.monotonic() - started >= 0.9

    def statuses() -> list[int]:
        return sorted(e["status"] for e in gateway.request_log() if e["path"] == f"/{URL}/")

    deadline = time.monotonic() + 5
    while statuses() != [499, 504]:
        assert time.monotonic() < deadline, statuses()
        time.sleep(0.05)


def test_other_states_without_a_replica_are_503_at_once(env: Env) -> None:
    for state in ("Stopped", "DeployFailed", "Deploying", "Running"):
        sleeping(env, state)
        started = time.monotonic()
        response = httpx.get(f"{env.gateway.url}/{URL}/", timeout=10)
        assert response.status_code == 503, state
        assert response.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 2.0  # not held: holding lasts up to 60 s
