"""Limits detection, cgroup file protocol and reports, on fake cgroup trees (no real cgroups).

The fake trees hold the files the kernel would make in a new cgroup, so what the
limiter writes can be read back; ``tests/integration/runtimes/test_limits.py`` runs
the same code against this machine's real cgroups.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from waypost.model.spec import Resources
from waypost.runtimes.local.limits import (
    Confinement,
    Detection,
    Limiter,
    Request,
    cgroup_name,
    format_bytes,
    join_argv,
    parse_proc_cgroup,
    resource_notes,
)

GiB = 2**30
V1_SELF = "4:memory:/jobs/abc\n2:cpuacct:/\n1:cpu:/\n0::/\n"
V1_FILES = {
    "cpu": ("cpu.cfs_quota_us", "cpu.cfs_period_us"),
    "cpuacct": ("cpuacct.usage",),
    "memory": ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat"),
}


@pytest.mark.parametrize(
    ("text", "v1", "v2"),
    [
        pytest.param("0::/user.slice/x.scope\n", {}, "/user.slice/x.scope", id="v2-only"),
        pytest.param(
            "12:cpu,cpuacct:/docker/1\n4:memory:/docker/1\n1:name=systemd:/d\n0::/\n",
            {"cpu": "/docker/1", "cpuacct": "/docker/1", "memory": "/docker/1",
             "name=systemd": "/d"},
            "/",
            id="hybrid-comounted",
        ),
        pytest.param("garbage\n\n", {}, None, id="garbage"),
    ],
)  # fmt: skip
def test_parse_proc_cgroup(text: str, v1: dict[str, str], v2: str | None) -> None:
    assert parse_proc_cgroup(text) == (v1, v2)


@pytest.mark.parametrize(
    ("size", "text"),
    [(GiB, "1 GiB"), (GiB + GiB // 2, "1.5 GiB"), (512 * 2**20, "512 MiB"), (2048, "2 KiB"),
     (100, "100 bytes")],
)  # fmt: skip
def test_format_bytes(size: int, text: str) -> None:
    assert format_bytes(size) == text


def test_cgroup_names_differ_per_root_and_stay_put(tmp_path: Path) -> None:
    assert cgroup_name(tmp_path / "a") == cgroup_name(tmp_path / "a")
    assert cgroup_name(tmp_path / "a") != cgroup_name(tmp_path / "b")
    assert cgroup_name(tmp_path).startswith("waypost-")


def test_join_argv_writes_the_shells_pid_then_execs_the_command(tmp_path: Path) -> None:
    assert join_argv([], ["python", "-V"]) == ["python", "-V"]
    procs = [tmp_path / "a.procs", tmp_path / "b.procs"]
    for path in procs:
        path.write_text("")
    argv = join_argv(procs, ["/bin/sh", "-c", 'echo "$$ $1"', "sh", "an arg -- with spaces"])
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout
    pid, arg = out.strip().split(" ", 1)
    assert arg == "an arg -- with spaces"
    assert [p.read_text().strip() for p in procs] == [pid, pid]  # exec kept the pid


def test_join_argv_fails_before_running_anything_when_it_cannot_join(tmp_path: Path) -> None:
    argv = join_argv([tmp_path / "gone" / "cgroup.procs"], ["touch", str(tmp_path / "ran")])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert result.returncode == 125
    assert "could not join the cgroup" in result.stderr
    assert not (tmp_path / "ran").exists()


def fake_v1(root: Path, name: str, replica: str) -> None:
    """A v1 layout with the files the kernel would make, our own memory cgroup nested."""
    for controller, files in V1_FILES.items():
        own = root / controller / ("jobs/abc" if controller == "memory" else "")
        for folder in (root / controller, own / name / replica):
            folder.mkdir(parents=True, exist_ok=True)
            for file in (*files, "cgroup.procs"):
                (folder / file).write_text("")


def test_v1_cpu_quota_and_memory_limit_are_written_in_our_own_cgroup(tmp_path: Path) -> None:
    (tmp_path / "self").write_text(V1_SELF)
    fake_v1(tmp_path / "cg", "waypost-x", "r-1")
    limiter = Limiter("waypost-x", cgroup_root=tmp_path / "cg", proc_cgroup=tmp_path / "self")
    detection = limiter.detect()
    assert detection.version == 1
    assert detection.parents["memory"] == tmp_path / "cg/memory/jobs/abc/waypost-x"
    assert detection.parents["cpu"] == tmp_path / "cg/cpu/waypost-x"

    confinement = limiter.confine("r-1", Request(cpu=0.2, memory=GiB))
    cpu, memory = confinement.cgroups["cpu"], confinement.cgroups["memory"]
    assert (cpu / "cpu.cfs_quota_us").read_text() == "20000"
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (memory / "memory.limit_in_bytes").read_text() == str(GiB)
    assert confinement.rlimit_memory is None
    assert confinement.report() == "cpu 0.2 via cgroup v1 cfs quota; memory 1 GiB via cgroup v1"
    assert len(confinement.dirs) == 3
    assert confinement.wrap(["app"])[-2:] == ["--", "app"]

    # Readings come from cpuacct and the memory working set.
    (confinement.cgroups["cpuacct"] / "cpuacct.usage").write_text("2500000000\n")
    (memory / "memory.usage_in_bytes").write_text(f"{300 * 2**20}\n")
    (memory / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {100 * 2**20}\n")
    usage = limiter.usage(confinement, os.getpid())
    assert (usage.cpu_seconds, usage.memory_bytes, usage.source) == (2.5, 200 * 2**20, "cgroup v1")


def test_v2_writes_cpu_max_and_memory_max_and_delegates_controllers(tmp_path: Path) -> None:
    root, own = tmp_path / "cg", tmp_path / "cg/svc"
    (tmp_path / "self").write_text("0::/svc\n")
    for folder in (root, own, own / "waypost-x", own / "waypost-x/r-1"):
        folder.mkdir(parents=True, exist_ok=True)
        for file in ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cpu.max",
                     "memory.max", "memory.current", "memory.stat", "cpu.stat"):  # fmt: skip
            (folder / file).write_text("")
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.controllers").write_text("cpu io memory pids\n")
    limiter = Limiter("waypost-x", cgroup_root=root, proc_cgroup=tmp_path / "self")
    assert limiter.detect() == Detection(
        2, {"cpu": own / "waypost-x", "memory": own / "waypost-x", "cpuacct": own / "waypost-x"}
    )
    assert (own / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (own / "waypost-x/cgroup.subtree_control").read_text() == "+cpu +memory"

    confinement = limiter.confine("r-1", Request(cpu=1.5, memory=512 * 2**20))
    group = own / "waypost-x/r-1"
    assert confinement.dirs == [group]
    assert (group / "cpu.max").read_text() == "150000 100000"
    assert (group / "memory.max").read_text() == str(512 * 2**20)
    assert confinement.report() == "cpu 1.5 via cgroup v2 cpu.max; memory 512 MiB via cgroup v2"
    (group / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (group / "memory.current").write_text("4096\n")
    (group / "memory.stat").write_text("anon 4096\ninactive_file 1024\n")
    usage = limiter.usage(confinement, os.getpid())
    assert (usage.cpu_seconds, usage.memory_bytes) == (1.5, 3072)


def test_v2_without_the_controllers_falls_back_to_v1_or_rlimits(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    (root / "svc").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "svc/cgroup.controllers").write_text("io pids\n")
    (tmp_path / "self").write_text("0::/svc\n")
    detection = Limiter("w", cgroup_root=root, proc_cgroup=tmp_path / "self").detect()
    assert detection.version is None
    assert "does not offer the cpu and memory controllers" in detection.why


def test_a_tree_we_cannot_write_to_means_rlimits(tmp_path: Path) -> None:
    # The hierarchies are there but our own cgroup's folder is not: mkdir fails as it
    # does on a read-only cgroupfs (root ignores permission bits, so those cannot show it).
    (tmp_path / "self").write_text("2:memory:/gone/deep\n1:cpu:/gone/deep\n")
    fake_v1(tmp_path / "cg", "unused", "r-0")
    limiter = Limiter("waypost-x", cgroup_root=tmp_path / "cg", proc_cgroup=tmp_path / "self")
    detection = limiter.detect()
    assert detection.version is None
    assert "cannot make" in detection.why
    confinement = limiter.confine("r-1", Request(cpu=0.5, memory=GiB))
    assert confinement.dirs == []
    assert confinement.rlimit_memory == GiB
    assert confinement.wrap(["app", "x"]) == ["app", "x"]
    report = confinement.report()
    assert report.startswith("memory 1 GiB via RLIMIT_AS")
    assert "cpu 0.5 not enforced: cgroup v1: cannot make" in report


def test_turned_off_cgroups_report_what_is_not_enforced() -> None:
    limiter = Limiter("w", cgroup_root=None)
    assert limiter.confine("r-1", Request()).report() == ""
    assert limiter.clean_stale() == []
    usage = limiter.usage(None, os.getpid())  # this process, from /proc
    assert usage.source == "/proc"
    assert usage.cpu_seconds > 0
    assert usage.memory_bytes > 10 * 2**20


def test_a_write_that_fails_falls_back_for_memory_and_is_reported_for_cpu(tmp_path: Path) -> None:
    (tmp_path / "self").write_text(V1_SELF)
    fake_v1(tmp_path / "cg", "waypost-x", "other")  # r-1's folder will lack the limit files
    limiter = Limiter("waypost-x", cgroup_root=tmp_path / "cg", proc_cgroup=tmp_path / "self")
    confinement = limiter.confine("r-1", Request(cpu=2, memory=GiB))
    assert confinement.rlimit_memory == GiB
    assert confinement.not_enforced[0].startswith("cpu 2 not enforced: No such file")


NO_CGROUPS = Detection(None, why="cgroups are turned off")
V1 = Detection(1, {"cpu": Path("/c"), "memory": Path("/m")})


@pytest.mark.parametrize(
    ("resources", "detection", "expected"),
    [
        pytest.param(Resources(), NO_CGROUPS, [], id="nothing-asked"),
        pytest.param(Resources(cpu=1, memory=GiB), V1, [], id="v1-enforces-both"),
        pytest.param(
            Resources(cpu=0.5, memory=GiB),
            NO_CGROUPS,
            ["resources.cpu (0.5) is not enforced locally: no usable cgroup cpu controller "
             "(cgroups are turned off)",
             "resources.memory (1 GiB) is enforced as an address-space rlimit only "
             "(no usable cgroup memory controller)"],
            id="rlimits",
        ),
        pytest.param(
            Resources(preset="cpu-small"),
            V1,
            ["resources.preset 'cpu-small' was not resolved to limits by the control plane: "
             "the replica runs unlimited"],
            id="unresolved-preset",
        ),
    ],
)  # fmt: skip
def test_resource_notes(resources: Resources, detection: Detection, expected: list[str]) -> None:
    assert resource_notes(resources, detection) == expected


def test_an_empty_confinement_wraps_nothing() -> None:
    confinement = Confinement("r-1", None)
    assert confinement.wrap(["a"]) == ["a"]
    assert confinement.report() == ""
