"""Real replicas of wsgi:, asgi: and server-command: endpoints answering over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from waypost.runtimes.base import ReplicaPhase
from waypost.runtimes.local import LocalRuntime
from waypost.runtimes.local.supervisor import process_start_ticks

from .conftest import ASGI_ECHO, SERVE_PY, WSGI_ECHO, Deployer, all_in, wait_for

READY = ReplicaPhase.READY
VERSION = "acme/tests/app/1/web"
ALIAS = "acme/tests/app/production/web"


async def get(address: str, path: str, header: str | None = None) -> httpx.Response:
    headers = {"X-VH-Prefix": header} if header else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://{address}{path}", headers=headers)


async def test_wsgi_replicas_serve_under_the_requested_prefix(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {"app.py": WSGI_ECHO}, "wsgi", "app:app", workers=2, env={"MODEL": "spec"}
    )
    await runtime.build(workload, lambda line: None)
    started = time.monotonic()
    await runtime.scale(workload, 2)
    replicas = await wait_for(runtime, workload.key, all_in(READY, 2))
    took = time.monotonic() - started
    print(f"\nwsgi (stdlib app, gunicorn): scale(2) -> both READY in {took:.2f}s")
    assert len({r.address for r in replicas}) == 2
    for replica in replicas:
        assert replica.address is not None
        assert replica.pid is not None
        assert replica.restarts == 0
        assert replica.started_at <= time.time()

        # An alias prefix, as the gateway sends it: the app sees it as SCRIPT_NAME.
        answer = (await get(replica.address, f"/{ALIAS}/predict?name=Ada", ALIAS)).json()
        assert (answer["script_name"], answer["path_info"]) == (f"/{ALIAS}", "/predict")
        assert answer["query"] == "name=Ada"

        # The version prefix without a header, and a spoofed header that the path lacks.
        for header in (None, "evil.example/phish"):
            answer = (await get(replica.address, f"/{VERSION}/", header)).json()
            assert (answer["script_name"], answer["path_info"]) == (f"/{VERSION}", "/")

        env = answer["env"]
        assert env["SCRIPT_NAME"] == f"/{VERSION}"
        assert env["VH_DEFAULT_PREFIX"] == VERSION
        assert env["PORT"] == replica.address.rsplit(":", 1)[1]
        assert env["HF_HUB_OFFLINE"] == "1"
        assert env["MODEL"] == "spec"
        assert not [k for k in env if k.startswith("WAYPOST_")]
        assert "admin-secret" not in str(env)
        assert answer["cwd"].startswith(str(runtime.root / "bundles"))
        assert answer["python"].startswith(str(runtime.root / "envs"))

    # Down to one: the newest goes first (observe lists a unit's replicas oldest first).
    oldest = replicas[0]
    await runtime.scale(workload, 1)
    [left] = await wait_for(runtime, workload.key, all_in(READY, 1))
    assert left.replica_id == oldest.replica_id
    gone = next(r for r in replicas if r.replica_id != oldest.replica_id)
    assert gone.pid is not None
    assert process_start_ticks(gone.pid) is None
    await runtime.scale(workload, 0)
    await wait_for(runtime, workload.key, lambda seen: not seen)
    assert workload.key not in await runtime.observe()


async def test_scale_is_idempotent_and_cheap_when_converged(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload({"app.py": WSGI_ECHO}, "wsgi", "app:app")
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
    started = time.perf_counter()
    for _ in range(200):
        await runtime.scale(workload, 1)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, elapsed
    assert [r.replica_id for r in (await runtime.observe())[workload.key]] == [replica.replica_id]


@pytest.mark.parametrize("workers", [1, 2])
async def test_asgi_app_gets_root_path_and_keeps_its_full_path(
    runtime: LocalRuntime, deployer: Deployer, workers: int
) -> None:
    workload = deployer.workload(
        {"main.py": ASGI_ECHO}, "asgi", "main:app", health_path="/ping", workers=workers
    )
    await runtime.build(workload, lambda line: None)
    started = time.monotonic()
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
    took = time.monotonic() - started
    print(f"\nasgi (plain app, uvicorn, {workers} worker(s)): scale(1) -> READY in {took:.2f}s")
    assert replica.address is not None
    answer = (await get(replica.address, f"/{ALIAS}/predict%20me", ALIAS)).json()
    assert answer["root_path"] == f"/{ALIAS}"
    assert answer["path"] == f"/{ALIAS}/predict me"
    assert answer["raw_path"] == f"/{ALIAS}/predict%20me"
    assert not [k for k in answer["env"] if k.startswith(("WAYPOST_", "_WAYPOST_"))]
    assert answer["env"]["SCRIPT_NAME"] == f"/{VERSION}"

    unprefixed = (await get(replica.address, "/predict", ALIAS)).json()
    assert unprefixed["root_path"] == ""


@pytest.mark.parametrize("header", [ALIAS, None], ids=["alias", "default"])
async def test_server_command_can_use_waypost_prefix_from_the_env(
    runtime: LocalRuntime, deployer: Deployer, header: str | None
) -> None:
    workload = deployer.workload({"serve.py": SERVE_PY}, "server-command", "python serve.py")
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
    assert replica.address is not None
    prefix = header or VERSION
    answer = (await get(replica.address, f"/{prefix}/x/y", header)).json()
    assert (answer["script_name"], answer["path_info"]) == (f"/{prefix}", "/x/y")
    # `python` on PATH is the env's, not waypost's own.
    assert answer["virtual_env"].startswith(str(runtime.root / "envs"))


async def test_logs_can_be_read_and_remove_releases_them(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload({"app.py": WSGI_ECHO}, "wsgi", "app:app")
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
    everything = await runtime.read_logs(workload.key)
    assert "echo app imported" in everything.text
    assert f"{replica.replica_id}: ready" in everything.text
    assert "build: " in everything.text
    tail = await runtime.read_logs(workload.key, tail=1)
    assert tail.text.count("\n") == 1
    assert tail.offset == everything.offset
    assert (await runtime.read_logs(workload.key, everything.offset)).text == ""

    await runtime.remove(workload.key)
    assert workload.key not in await runtime.observe()
    assert replica.pid is not None
    assert process_start_ticks(replica.pid) is None
    assert not runtime.layout.log_file(workload.key).exists()
    assert (await runtime.read_logs(workload.key)).text == ""
    await runtime.remove(workload.key)  # again: nothing to do
