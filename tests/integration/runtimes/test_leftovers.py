"""A control plane killed with SIGKILL: the next start() ends what it left, and only that."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from waypost.model.prefix import UnitKey
from waypost.runtimes.local import LocalRuntime
from waypost.runtimes.local.pidfiles import PidRecord, write_pidfile
from waypost.runtimes.local.supervisor import group_members, process_start_ticks

from .conftest import WSGI_ECHO, Deployer, check_nothing_left

CONTROL_PLANE = """\
import asyncio, json, sys
from pathlib import Path
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.runtimes.base import ReplicaPhase, Workload
from waypost.runtimes.local import LocalRuntime

async def main(root, bundle, digest):
    runtime = LocalRuntime(Path(root))
    await runtime.start()
    spec = EndpointSpec(name="web", kind="wsgi", target="app:app", workers=2)
    workload = Workload(UnitKey("acme", "tests", "orphans", 1, "web"), spec, Path(bundle), digest)
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 2)
    for _ in range(600):
        seen = (await runtime.observe()).get(workload.key, ())
        if len(seen) == 2 and all(r.phase is ReplicaPhase.READY for r in seen):
            print(json.dumps([r.pid for r in seen]), flush=True)
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(3600)  # until SIGKILLed, without any cleanup

asyncio.run(main(*sys.argv[1:]))
"""


async def gunicorn_workers(leaders: list[int], count: int) -> list[int]:
    """The workers in the leaders' process groups, once ``count`` have been forked."""
    workers: list[int] = []
    for _ in range(200):
        workers = [pid for leader in leaders for pid in group_members(leader) if pid != leader]
        if len(workers) >= count:
            break
        await asyncio.sleep(0.05)
    assert len(workers) == count, workers
    return workers


async def test_replicas_of_a_sigkilled_control_plane_are_ended_by_the_next_start(
    runtime_root: Path, deployer: Deployer, tmp_path: Path
) -> None:
    workload = deployer.workload({"app.py": WSGI_ECHO}, "wsgi", "app:app")
    script = tmp_path / "control_plane.py"
    script.write_text(CONTROL_PLANE)
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(runtime_root), str(workload.bundle),
        workload.bundle_digest, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
    finally:
        child.kill()  # SIGKILL: no close(), no cleanup
        await asyncio.wait_for(child.wait(), 10)
    leaders: list[int] = json.loads(line)
    fresh = LocalRuntime(runtime_root)
    try:
        workers = await gunicorn_workers(leaders, count=4)  # two under each replica
        assert all(process_start_ticks(pid) is not None for pid in leaders + workers)
        orphans = UnitKey("acme", "tests", "orphans", 1, "web").id
        recorded = [json.loads(p.read_text()) for p in (runtime_root / "run").glob("*.json")]
        assert sorted(r["pid"] for r in recorded if r["unit"] == orphans) == sorted(leaders)
    finally:
        await fresh.start()  # also when an assertion above failed: nothing may survive
    try:
        assert [pid for pid in leaders + workers if process_start_ticks(pid) is not None] == []
        assert list((runtime_root / "run").glob("*.json")) == []
        assert await fresh.observe() == {}  # killed, not adopted: the reconciler starts anew
    finally:
        await fresh.close()
    check_nothing_left(runtime_root, tmp_path)


async def test_a_reused_pid_is_left_alone_and_junk_pidfiles_are_removed(
    runtime_root: Path, tmp_path: Path
) -> None:
    bystander = await asyncio.create_subprocess_exec(
        "sleep", "60", cwd=tmp_path, start_new_session=True
    )
    try:
        ticks = process_start_ticks(bystander.pid)
        assert ticks is not None
        run = runtime_root / "run"
        write_pidfile(
            run / "r-reused.json", PidRecord("r-reused", "a/b/c/1/d", bystander.pid, ticks - 1)
        )
        (run / "r-junk.json").write_text("not json")
        runtime = LocalRuntime(runtime_root)
        await runtime.start()
        await runtime.close()
        assert bystander.returncode is None
        assert process_start_ticks(bystander.pid) == ticks
        assert not (run / "r-reused.json").exists()
        assert not (run / "r-junk.json").exists()
    finally:
        bystander.kill()
        await asyncio.wait_for(bystander.wait(), 10)
    check_nothing_left(runtime_root, tmp_path)
