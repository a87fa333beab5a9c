"""Drain: a rolling restart on one SO_REUSEPORT port under load loses no request; the
metrics of two workers add up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.gateway.conftest import Env, GatewayFactory
from tests.integration.gateway.support import GatewayProcess, build_snapshot, free_port

V1 = "acme/shop/drain/1/web"
CLIENTS = 4


def test_rolling_restart_under_load_loses_no_request(env: Env, tmp_path: Path) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address, env.b.address]}))
    port = free_port()
    args = ("--reuse-port",)
    old = GatewayProcess(port, env.control.url, env.token_file, tmp_path / "old", extra_args=args)
    new = GatewayProcess(port, env.control.url, env.token_file, tmp_path / "new", extra_args=args)
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    failures: list[str] = []
    lock = threading.Lock()

    def load() -> None:
        # Keep-alive clients, sending back to back (no retries of their own).
        with httpx.Client(base_url=old.url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get(f"/{V1}/x")
                    ok = response.status_code == 200
                    why = f"status {response.status_code}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                with lock:
                    counts["ok" if ok else "failed"] += 1
                    if not ok:
                        failures.append(why)

    threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
    try:
        old.start()
        old.wait_revision(env.control.snapshot.revision)
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        new.start()  # healthy at once: the old one answers; wait for the new one's socket
        deadline = time.monotonic() + 20
        while "serving on" not in new.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        new.wait_revision(env.control.snapshot.revision)
        time.sleep(0.5)
        served_before = counts["ok"]
        old.terminate()
        assert old.wait(20) == 0
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        old.stop()
        new.stop()
    assert failures == [], (failures[:3], new.stderr()[-2000:], old.stderr()[-2000:])
    assert counts["ok"] > served_before > 50
    assert "Traceback" not in old.stderr() + new.stderr()
    # Both took traffic: the old one before its drain, the new one after.
    assert old.request_log()
    assert new.request_log()


def metric_sum(text: str, name: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


def test_a_scrape_counts_the_requests_of_every_worker(
    env: Env, start_gateway: GatewayFactory
) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    gateway = start_gateway(workers=2)
    deadline = time.monotonic() + 10
    sent = 0
    while time.monotonic() < deadline:  # fresh connections spread over both workers
        if httpx.get(f"{gateway.url}/{V1}/x", timeout=5).status_code == 200:
            sent += 1
        if sent >= 40:
            break
    assert sent == 40
    pids = {int(p) for p in gateway.worker_pids()}
    assert len(pids) == 2
    # Workers publish their counts once a second: within 3 s, whichever worker answers
    # the scrape counts all 40, and keeps counting them (never more).
    counts: list[float] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and counts[-5:] != [sent] * 5:
        text = httpx.get(gateway.url + "/-/metrics", timeout=5).text
        counts.append(metric_sum(text, "waypost_gateway_requests_total"))
        assert counts[-1] <= sent
        time.sleep(0.05)
    assert counts[-5:] == [sent] * 5, counts
