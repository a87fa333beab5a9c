"""CPU and memory limits on real replicas: this machine's cgroups, and the rlimit fallback.

The cgroup tests skip (saying why) where the machine gives this process no writable
cgroup cpu and memory controllers; as root on a cgroup v1 host they run.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from waypost.model.spec import Resources
from waypost.runtimes.base import ReplicaPhase
from waypost.runtimes.local import LocalRuntime
from waypost.runtimes.local.limits import Limiter, cgroup_name, join_argv
from waypost.runtimes.local.usage import proc_tree_usage

from .conftest import SERVE_PY, Deployer, all_in, check_nothing_left, wait_for

READY = ReplicaPhase.READY
MiB = 2**20

# SERVE_PY with a thread that burns CPU for as long as the replica runs.
BURN_PY = "import threading\n\ndef burn():\n    while True:\n        pass\n\n" + (
    "threading.Thread(target=burn, daemon=True).start()\n" + SERVE_PY
)
# Touches 256 MiB before it serves: more than its 64 MiB limit.
HOG_PY = "import time\nhog = b'x' * (256 * 1024 * 1024)\nprint('allocated', flush=True)\n" + (
    SERVE_PY
)


def _cgroups_or_skip(tmp_path: Path) -> None:
    limiter = Limiter(cgroup_name(tmp_path / "probe"))
    detection = limiter.detect()
    limiter.remove_parents()
    if not {"cpu", "memory"} <= set(detection.parents):
        pytest.skip(f"no usable cgroup cpu and memory controllers here: {detection.why}")


@pytest.fixture
def cgroups(tmp_path: Path) -> None:
    _cgroups_or_skip(tmp_path)


def _groups_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


@pytest.mark.usefixtures("cgroups")
async def test_a_replica_with_a_fifth_of_a_cpu_uses_about_a_fifth_of_a_core(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {"serve.py": BURN_PY}, "server-command", "python serve.py", resources=Resources(cpu=0.2)
    )
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
    assert replica.pid is not None
    assert replica.message.startswith("cpu 0.2 via cgroup v")
    # The process is in its replica's cgroup (it joined before exec: same pid).
    name = cgroup_name(runtime.root)
    assert f"/{name}/{replica.replica_id}" in _groups_of(replica.pid)

    before, proc_before, started = (
        runtime.usage(workload.key),
        proc_tree_usage([replica.pid]),
        time.monotonic(),
    )
    await asyncio.sleep(3.0)
    after, proc_after, wall = (
        runtime.usage(workload.key),
        proc_tree_usage([replica.pid]),
        time.monotonic() - started,
    )
    share = (after[replica.replica_id].cpu_seconds - before[replica.replica_id].cpu_seconds) / wall
    proc_share = (proc_after.cpu_seconds - proc_before.cpu_seconds) / wall
    print(f"\ncpu 0.2 replica burning: {share:.3f} of a core (cgroup), {proc_share:.3f} (/proc)")
    # Unlimited it would take a whole core; the machine is shared, so the floor is low.
    assert 0.03 < share < 0.35
    assert abs(share - proc_share) < 0.1  # two independent readings agree
    assert after[replica.replica_id].source.startswith("cgroup v")
    assert after[replica.replica_id].memory_bytes > 1 * MiB


@pytest.mark.usefixtures("cgroups")
async def test_a_replica_over_its_memory_limit_is_killed(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {"serve.py": HOG_PY}, "server-command", "python serve.py",
        resources=Resources(memory=64 * MiB),
    )  # fmt: skip
    await runtime.build(workload, lambda line: None)
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(ReplicaPhase.FAILED, 1))
    assert "memory 64 MiB via cgroup v" in (await runtime.read_logs(workload.key)).text
    assert "over its memory limit: the kernel's OOM killer ended 1 process" in replica.message
    assert "allocated" not in replica.message


@pytest.mark.usefixtures("cgroups")
async def test_cgroups_are_removed_when_replicas_stop_and_parents_at_close(
    runtime_root: Path, deployer: Deployer, tmp_path: Path
) -> None:
    runtime = LocalRuntime(runtime_root, stop_grace=5.0)
    await runtime.start()
    try:
        workload = deployer.workload(
            {"serve.py": SERVE_PY}, "server-command", "python serve.py",
            resources=Resources(cpu=0.5, memory=256 * MiB),
        )  # fmt: skip
        await runtime.build(workload, lambda line: None)
        await runtime.scale(workload, 2)
        replicas = await wait_for(runtime, workload.key, all_in(READY, 2))
        parents = runtime.limiter.detect().dirs
        groups = [parent / r.replica_id for parent in parents for r in replicas]
        assert len(groups) >= 4
        assert all(g.is_dir() for g in groups)
        memory = next(p for c, p in runtime.limiter.detect().parents.items() if c == "memory")
        limit = memory / replicas[0].replica_id / "memory.limit_in_bytes"
        if limit.exists():  # v1
            assert int(limit.read_text()) == 256 * MiB
        await runtime.scale(workload, 0)
        await wait_for(runtime, workload.key, lambda seen: not seen)
        assert not [g for g in groups if g.exists()]
        assert all(p.is_dir() for p in parents)
    finally:
        await runtime.close()
        check_nothing_left(runtime_root, tmp_path)
    assert not [p for p in parents if p.exists()]


@pytest.mark.usefixtures("cgroups")
async def test_start_removes_cgroups_and_processes_a_killed_run_left(
    runtime_root: Path, tmp_path: Path
) -> None:
    first = LocalRuntime(runtime_root)
    parents = first.limiter.detect().dirs
    stale = [parent / "r-stale0" for parent in parents]
    for group in stale:
        group.mkdir()
    # A process that escaped every process group, still in the dead run's cgroups.
    orphan = await asyncio.create_subprocess_exec(
        *join_argv([g / "cgroup.procs" for g in stale], ["sleep", "60"]), start_new_session=True
    )
    try:
        deadline = time.monotonic() + 5
        while "sleep" not in Path(f"/proc/{orphan.pid}/cmdline").read_text():  # noqa: ASYNC240
            assert time.monotonic() < deadline, "the orphan never started"
            await asyncio.sleep(0.02)
        second = LocalRuntime(runtime_root)
        await second.start()
        await second.close()
        assert await asyncio.wait_for(orphan.wait(), 5) == -9
        assert not [g for g in stale if g.exists()]
    finally:
        if orphan.returncode is None:
            orphan.kill()
            await asyncio.wait_for(orphan.wait(), 5)
    check_nothing_left(runtime_root, tmp_path)


async def test_without_cgroups_memory_is_an_address_space_rlimit(
    runtime_root: Path, deployer: Deployer, tmp_path: Path
) -> None:
    # An empty folder as the cgroup root: no hierarchy to use, as on a machine without them.
    (tmp_path / "no-cgroups").mkdir()
    runtime = LocalRuntime(runtime_root, cgroup_root=tmp_path / "no-cgroups", stop_grace=5.0)
    await runtime.start()
    try:
        limit = 2 * 1024**3
        workload = deployer.workload(
            {"serve.py": SERVE_PY}, "server-command", "python serve.py",
            resources=Resources(memory=limit, cpu=0.5),
        )  # fmt: skip
        await runtime.build(workload, lambda line: None)
        await runtime.scale(workload, 1)
        [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
        assert replica.pid is not None
        limits = Path(f"/proc/{replica.pid}/limits").read_text()  # noqa: ASYNC240
        line = next(row for row in limits.splitlines() if row.startswith("Max address space"))
        assert line.split()[3:5] == [str(limit), str(limit)]
        assert cgroup_name(runtime_root) not in _groups_of(replica.pid)
        assert replica.message.startswith("memory 2 GiB via RLIMIT_AS")
        assert "cpu 0.5 not enforced" in replica.message
        notes = runtime.limitations(workload.key)
        assert notes[0].startswith("resources.cpu (0.5) is not enforced locally")
        assert notes[1].startswith("resources.memory (2 GiB) is enforced as an address-space")
        [usage] = runtime.usage(workload.key).values()
        assert usage.source == "/proc"
        assert usage.memory_bytes > 1 * MiB
    finally:
        await runtime.close()
        check_nothing_left(runtime_root, tmp_path)
