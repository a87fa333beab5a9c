"""Replicas that crash, never start, hang or stop answering: phases, messages, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from waypost.model.spec import EndpointKind
from waypost.runtimes.base import ReplicaPhase
from waypost.runtimes.local import LocalRuntime
from waypost.runtimes.local.supervisor import process_start_ticks

from .conftest import SERVE_PY, WSGI_ECHO, Deployer, all_in, check_nothing_left, wait_for

P = ReplicaPhase

SICKENS = """\
import os
FLAG = os.path.join(os.environ["HOME"], "sick")
if os.path.exists(FLAG):
    os.remove(FLAG)  # a fresh process starts healthy

def app(environ, start_response):
    if environ["PATH_INFO"] == "/sicken":
        open(FLAG, "w").close()
    sick = environ["PATH_INFO"] == "/health" and os.path.exists(FLAG)
    start_response("500 Internal Server Error" if sick else "200 OK", [])
    return [b""]
"""


async def test_a_crash_after_ready_is_restarted_with_backoff(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload({"app.py": WSGI_ECHO}, "wsgi", "app:app", workers=2)
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [before] = await wait_for(runtime, workload.key, all_in(P.READY, 1))
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)  # the gunicorn master; its workers are orphaned

    [backoff] = await wait_for(runtime, workload.key, lambda s: s[0].phase is P.BACKOFF)
    assert backoff.restarts == 1
    assert backoff.exit_code == -signal.SIGKILL
    assert "killed by signal SIGKILL" in backoff.message
    assert "restarting in 0.5s" in backoff.message

    [after] = await wait_for(runtime, workload.key, all_in(P.READY, 1))
    assert after.replica_id == before.replica_id
    assert after.restarts == 1
    assert after.pid != before.pid
    assert after.address is not None
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"http://{after.address}/health")).status_code == 200


@pytest.mark.parametrize(
    ("kind", "files", "target"),
    [
        pytest.param("wsgi", {"app.py": "raise RuntimeError('model file is corrupt')\n"},
                     "app:app", id="wsgi"),
        pytest.param("asgi", {"main.py": "raise RuntimeError('model file is corrupt')\n"},
                     "main:app", id="asgi"),
    ],
)  # fmt: skip
async def test_an_app_raising_at_import_fails_with_its_traceback(
    runtime: LocalRuntime,
    deployer: Deployer,
    kind: EndpointKind,
    files: dict[str, str],
    target: str,
) -> None:
    workload = deployer.workload(files, kind, target)
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [failed] = await wait_for(runtime, workload.key, all_in(P.FAILED, 1))
    assert "before it was ready" in failed.message
    assert "RuntimeError: model file is corrupt" in failed.message
    assert "Traceback" in failed.message
    assert failed.exit_code not in (None, 0)
    assert (failed.pid, failed.address, failed.restarts) == (None, None, 0)

    await asyncio.sleep(1.0)  # never ready: not restarted
    [still] = (await runtime.observe())[workload.key]
    assert (still.phase, still.restarts) == (P.FAILED, 0)
    await runtime.scale(workload, 1)  # FAILED counts: scale does not replace it
    assert [r.replica_id for r in (await runtime.observe())[workload.key]] == [failed.replica_id]
    await runtime.scale(workload, 0)
    await wait_for(runtime, workload.key, lambda seen: not seen)


async def test_a_server_command_that_exits_at_once_reports_its_code(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload({}, "server-command", "echo 'cannot open model.bin' >&2; exit 3")
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [failed] = await wait_for(runtime, workload.key, all_in(P.FAILED, 1))
    assert failed.exit_code == 3
    assert failed.message.startswith("exited with code 3 before it was ready")
    assert "cannot open model.bin" in failed.message


async def test_a_replica_that_never_answers_misses_its_deadline(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {}, "server-command", "echo warming up; exec sleep 60", startup_timeout=1.0
    )
    await runtime.build(workload, lambda line: None)
    started = time.monotonic()
    await runtime.scale(workload, 1)
    [failed] = await wait_for(runtime, workload.key, all_in(P.FAILED, 1))
    assert 1.0 <= time.monotonic() - started < 5.0
    assert failed.message.startswith("did not become ready within 1s (connection refused)")
    assert "warming up" in failed.message
    assert failed.pid is None


async def test_a_replica_that_stops_answering_is_unhealthy_then_replaced(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload({"app.py": SICKENS}, "wsgi", "app:app", health_path="/health")
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [ready] = await wait_for(runtime, workload.key, all_in(P.READY, 1))
    async with httpx.AsyncClient(timeout=5) as client:
        await client.get(f"http://{ready.address}/sicken")
    [sick] = await wait_for(runtime, workload.key, all_in(P.UNHEALTHY, 1))
    assert "health check failed" in sick.message
    assert "HTTP 500" in sick.message
    assert sick.pid == ready.pid
    [replaced] = await wait_for(
        runtime, workload.key, lambda s: s[0].phase is P.READY and s[0].restarts == 1
    )
    assert replaced.pid != ready.pid
    assert ready.pid is not None
    assert process_start_ticks(ready.pid) is None


async def test_close_ends_starting_replicas_and_sigkills_those_ignoring_sigterm(
    runtime_root: Path, deployer: Deployer, tmp_path: Path
) -> None:
    runtime = LocalRuntime(runtime_root, stop_grace=1.0)
    await runtime.start()
    try:
        stubborn = deployer.workload(
            {}, "server-command", "trap '' TERM; sleep 60 & wait; sleep 60", deployment="stubborn"
        )
        polite = deployer.workload({}, "server-command", "exec sleep 60", deployment="polite")
        for workload in (stubborn, polite):
            await runtime.build(workload, lambda line: None)
            await runtime.scale(workload, 2)
        for workload in (stubborn, polite):
            await wait_for(runtime, workload.key, lambda s: len(s) == 2 and all(r.pid for r in s))
        pids = [r.pid for unit in (await runtime.observe()).values() for r in unit]
    finally:
        started = time.monotonic()
        await runtime.close()
        took = time.monotonic() - started
    assert took < 4.0  # concurrently: about one grace period, not four
    assert all(pid is not None and process_start_ticks(pid) is None for pid in pids)
    assert list((runtime_root / "run").glob("*.json")) == []
    check_nothing_left(runtime_root, tmp_path)


CLASHES_ONCE = (
    'if [ ! -e "$HOME/clashed" ]; then touch "$HOME/clashed"; '
    'echo "OSError: [Errno 98] Address already in use" >&2; exit 1; fi; exec python serve.py'
)


async def test_a_bind_clash_is_retried_on_another_port(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {"serve.py": SERVE_PY}, "server-command", CLASHES_ONCE, deployment="clash"
    )
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [ready] = await wait_for(runtime, workload.key, all_in(P.READY, 1))
    assert (ready.restarts, ready.exit_code) == (0, None)
    log = (await runtime.read_logs(workload.key)).text
    assert log.count(f"{ready.replica_id}: starting") == 2
    await runtime.remove(workload.key)


async def test_a_fixed_port_in_use_fails_with_a_reason(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workload = deployer.workload(
            {"serve.py": SERVE_PY}, "server-command", "python serve.py", port=port
        )
        await runtime.build(workload, lambda line: None)
        await runtime.scale(workload, 1)
        [failed] = await wait_for(runtime, workload.key, all_in(P.FAILED, 1))
    assert failed.message.startswith(f"its fixed port {port} is in use by another process")
