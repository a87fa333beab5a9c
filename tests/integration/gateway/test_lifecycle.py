"""Gateway processes over time: route changes, control plane outages, workers, drain."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.gateway.conftest import Env, GatewayFactory
from tests.integration.gateway.doubles import FakeControlPlane
from tests.integration.gateway.support import build_snapshot, free_port, pid_alive

V1 = "acme/shop/hello/1/web"
V2 = "acme/shop/hello/2/web"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_gateway_serves_at_once_with_an_empty_table(
    env: Env, start_gateway: GatewayFactory
) -> None:
    silent = FakeControlPlane(env.thread, free_port())  # never started: nothing answers
    gateway = start_gateway(control_url=silent.url)
    assert gateway.health() == {"status": "ok", "routes": 0, "revision": -1}
    response = httpx.get(gateway.url + "/acme/shop/hello/1/web/", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_route_change_is_live_within_a_second(env: Env) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    url = env.gateway.url + "/acme/shop/hello/latest/web/"
    with httpx.Client(timeout=5) as client:
        assert client.get(url).status_code == 404
        new = build_snapshot(
            {V1: [("v1", 1, V1)], "acme/shop/hello/latest/web": [("v2", 1, V2)]},
            {V1: [env.a.address], V2: [env.b.address]},
        )
        started = time.monotonic()
        env.control.publish(new)
        while client.get(url).status_code != 200:
            assert time.monotonic() - started < 1.0, "the new route was not live within 1 s"
            time.sleep(0.005)
        elapsed = time.monotonic() - started
    print(f"route change live after {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0


def test_control_plane_down_keeps_the_last_table(env: Env, start_gateway: GatewayFactory) -> None:
    control = FakeControlPlane(env.thread, free_port())
    control.start()
    control.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    gateway = start_gateway(control_url=control.url)
    gateway.wait_revision(control.snapshot.revision)
    url = gateway.url + "/acme/shop/hello/1/web/"
    control.stop()
    try:
        with httpx.Client(timeout=5) as client:
            for _ in range(15):  # 1.5 s of an outage, through several backoff rounds
                assert client.get(url).json()["replica"] == "a"
                time.sleep(0.1)
        polls_during_outage = control.polls
        control.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.b.address]}))
    finally:
        control.start()
    # Backoff is capped at 5 s, so the gateway is back in sync within a few seconds.
    gateway.wait_revision(control.snapshot.revision, timeout=8.0)
    assert httpx.get(url, timeout=5).json()["replica"] == "b"
    assert control.polls > polls_during_outage
    log = gateway.stderr()
    assert log.count("route sync: the control plane is unreachable") <= 2
    assert "route sync: back after" in log
    control.stop()


def test_bad_token_leaves_the_table_empty_and_says_so(
    env: Env, start_gateway: GatewayFactory
) -> None:
    original = env.token_file.read_text()
    env.token_file.write_text("wp_wrong\n")
    try:
        gateway = start_gateway()
        wait_until(lambda: "answered 401" in gateway.stderr(), 5, "a 401 logged")
        assert gateway.health()["revision"] == -1
    finally:
        env.token_file.write_text(original)
    # The token is read again before each poll: fixing the file is enough.
    gateway.wait_revision(env.control.snapshot.revision, timeout=8.0)


def test_inflight_request_finishes_during_drain(env: Env, start_gateway: GatewayFactory) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address]}))
    gateway = start_gateway()
    gateway.wait_revision(env.control.snapshot.revision)
    before = len(env.a.requests)
    result: dict[str, object] = {}

    def slow_call() -> None:
        try:
            response = httpx.get(
                gateway.url + "/acme/shop/hello/1/web/slow?seconds=1.5", timeout=10
            )
            result["status"] = response.status_code
        except httpx.HTTPError as exc:
            result["error"] = repr(exc)

    caller = threading.Thread(target=slow_call)
    caller.start()
    try:
        wait_until(lambda: len(env.a.requests) > before, 5, "the slow request at the replica")
        gateway.terminate()
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            httpx.get(gateway.url + "/-/health", timeout=2)
    finally:
        caller.join(15)
    assert result == {"status": 200}
    assert gateway.wait(15) == 0


def test_two_workers_serve_restart_and_stop_on_sigterm(
    env: Env, start_gateway: GatewayFactory
) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address, env.b.address]}))
    gateway = start_gateway(workers=2)
    workers = gateway.worker_pids()
    assert len(workers) == 2
    revision = env.control.snapshot.revision

    def all_synced() -> bool:
        # Fresh connections spread over both workers (SO_REUSEPORT); each needs its table.
        return all(
            httpx.get(gateway.url + "/-/health", timeout=2).json()["revision"] == revision
            for _ in range(10)
        )

    wait_until(all_synced, 5, "both workers on the latest revision")
    for _ in range(10):
        assert httpx.get(gateway.url + "/acme/shop/hello/1/web/", timeout=5).status_code == 200

    os.kill(workers[0], signal.SIGKILL)
    wait_until(
        lambda: len(gateway.worker_pids()) == 2 and workers[0] not in gateway.worker_pids(),
        10,
        "the killed worker replaced",
    )
    replacement = [pid for pid in gateway.worker_pids() if pid not in workers]
    gateway.known_pids.update(replacement)
    wait_until(all_synced, 5, "the new worker synced")

    everyone = [gateway.pid, *gateway.worker_pids()]
    gateway.terminate()
    assert gateway.wait(20) == 0
    wait_until(lambda: not any(pid_alive(p) for p in everyone), 5, "every gateway process gone")


def test_sigterm_stops_a_gateway_whose_control_plane_is_down(
    env: Env, start_gateway: GatewayFactory
) -> None:
    silent = FakeControlPlane(env.thread, free_port())
    gateway = start_gateway(control_url=silent.url, workers=2)
    started = time.monotonic()
    gateway.terminate()
    try:
        assert gateway.wait(10) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("the gateway did not stop within 10 s of SIGTERM")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("workers", "code"),
    [pytest.param(1, 3, id="one-worker"), pytest.param(2, 1, id="two-workers")],
)
def test_a_port_in_use_stops_the_gateway_instead_of_looping(
    env: Env, workers: int, code: int
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        argv = [
            sys.executable, "-m", "waypost.gateway", "--port", str(port),
            "--control-url", env.control.url, "--token-file", str(env.token_file),
            "--workers", str(workers),
        ]  # fmt: skip
        process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        children: set[int] = set()
        try:
            deadline = time.monotonic() + 20
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    path = Path(f"/proc/{process.pid}/task/{process.pid}/children")
                    children.update(int(p) for p in path.read_text().split())
                time.sleep(0.02)
            assert process.wait(1) == code
        finally:
            for pid in [process.pid, *children]:
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
            process.wait(10)
            stderr = process.stderr.read().decode() if process.stderr else ""
            if process.stderr:
                process.stderr.close()
    assert "cannot bind" in stderr
    assert not any(pid_alive(pid) for pid in children)
