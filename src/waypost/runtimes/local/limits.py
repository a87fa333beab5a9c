"""CPU and memory limits for replica processes: cgroup v2, else cgroup v1, else rlimits.

What the machine allows is found once per runtime (``Limiter.detect``):

- **cgroup v2** when ``<root>/cgroup.controllers`` exists and the cgroup this
  process is in (``/proc/self/cgroup``, line ``0::``) offers ``cpu`` and ``memory``
  and lets us enable them for a child: limits are ``cpu.max`` and ``memory.max``.
- **cgroup v1** when ``<root>/cpu`` and ``<root>/memory`` are writable hierarchies:
  ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` and ``memory.limit_in_bytes``; CPU time
  is read from ``<root>/cpuacct`` when it is there.
- otherwise **rlimits**: ``RLIMIT_AS`` for memory (address space, a rough stand-in
  for resident memory) and nothing for CPU, which an rlimit cannot share out.

Each replica gets a cgroup of its own, made whether or not it has limits (its CPU and
memory readings and a sure way to end every process it left behind come with it),
under a parent named after the runtime's root, inside the cgroup this process is in:
two installations, or two test runs, never touch each other's. The replica joins its
cgroup *before* the user's code runs: it is started through ``/bin/sh -c`` which
writes its own pid into each ``cgroup.procs`` and then execs the real command (the
same pid: the pidfile and the process group stay as they were). A preexec hook would
do the same from Python, but runs between fork and exec in a process that has
threads, which the subprocess documentation warns against.

A replica's cgroup is removed when its process is reaped (``release``: whatever is
still in it is killed first); a runtime killed before it could do that leaves the
cgroups to ``clean_stale`` at its next start. ``Confinement.report`` says, per
replica, what was enforced and how, and what was not.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from waypost.model.spec import Resources
from waypost.runtimes.local.usage import (
    ReplicaUsage,
    cgroup_cpu_seconds,
    cgroup_memory_bytes,
    proc_tree_usage,
    stat_values,
)

__all__ = [
    "DEFAULT_CGROUP_ROOT",
    "Confinement",
    "Detection",
    "Limiter",
    "Request",
    "cgroup_name",
    "format_bytes",
    "join_argv",
    "parse_proc_cgroup",
    "resource_notes",
]

log = logging.getLogger("waypost.runtime.local")

DEFAULT_CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
_MIN_QUOTA_US = 1_000  # the kernel refuses a smaller cfs quota
#: Run by ``/bin/sh -c`` with the cgroup.procs files, ``--`` and the real argv as arguments.
_JOIN = (
    'for f do shift; [ "$f" = -- ] && break; '
    'echo $$ >"$f" || { echo "waypost: could not join the cgroup of $f" >&2; exit 125; }; '
    'done; exec "$@"'
)

Version = Literal[1, 2]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Request:
    """The limits one replica should run under (None: unlimited)."""

    cpu: float | None = None
    memory: int | None = None


def format_bytes(size: int) -> str:
    """``1 GiB``, ``512 MiB``, ``1.5 GiB``; bytes for anything smaller than a KiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


def cgroup_name(root: Path) -> str:
    """The parent cgroup's name for a runtime rooted at ``root`` (one per installation)."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:12]
    return f"waypost-{digest}"


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """``/proc/<pid>/cgroup`` -> (v1 controller -> path, the v2 path or None)."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            v2 = path
        for controller in controllers.split(","):
            if controller:
                v1[controller] = path
    return v1, v2


def join_argv(procs: Sequence[Path], argv: Sequence[str]) -> list[str]:
    """``argv`` run by a shell that first moves itself into each ``cgroup.procs``."""
    if not procs:
        return list(argv)
    return ["/bin/sh", "-c", _JOIN, "waypost-join", *map(str, procs), "--", *argv]


def resource_notes(resources: Resources, detection: Detection) -> list[str]:
    """What of ``resources`` this machine cannot enforce, one sentence each (pure)."""
    notes: list[str] = []
    if resources.preset is not None and resources.cpu is None and resources.memory is None:
        notes.append(
            f"resources.preset {resources.preset!r} was not resolved to limits "
            "by the control plane: the replica runs unlimited"
        )
    if resources.cpu is not None and "cpu" not in detection.parents:
        notes.append(
            f"resources.cpu ({resources.cpu:g}) is not enforced locally: "
            f"no usable cgroup cpu controller ({detection.why})"
        )
    if resources.memory is not None and "memory" not in detection.parents:
        notes.append(
            f"resources.memory ({format_bytes(resources.memory)}) is enforced as an "
            "address-space rlimit only (no usable cgroup memory controller)"
        )
    return notes


@dataclass(frozen=True)
class Detection:
    """Where this runtime's replica cgroups go: one parent per controller (v2: one for all)."""

    version: Version | None
    parents: Mapping[str, Path] = field(default_factory=dict)  # "cpu", "memory", "cpuacct"
    why: str = ""  # why cgroups (or a controller) are not used, for notes

    @property
    def dirs(self) -> list[Path]:
        return list(dict.fromkeys(self.parents.values()))


@dataclass(frozen=True)
class Confinement:
    """What was set up for one life of one replica, and how to report and undo it."""

    replica_id: str
    version: Version | None
    cgroups: Mapping[str, Path] = field(default_factory=dict)  # controller -> its cgroup dir
    rlimit_memory: int | None = None
    enforced: tuple[str, ...] = ()
    not_enforced: tuple[str, ...] = ()

    @property
    def dirs(self) -> list[Path]:
        return list(dict.fromkeys(self.cgroups.values()))

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return join_argv([d / "cgroup.procs" for d in self.dirs], argv)

    def report(self) -> str:
        """``cpu 0.5 via cgroup v1 cfs quota; memory 1 GiB via cgroup v1`` and what is not."""
        return "; ".join((*self.enforced, *self.not_enforced))


class Limiter:
    """Makes, limits, reads and removes replica cgroups under one waypost-owned parent.

    ``cgroup_root=None`` turns cgroups off (rlimits only); ``proc_cgroup`` is the file
    that says which cgroup this process is in. Both are injectable for tests.
    """

    def __init__(
        self,
        name: str,
        *,
        cgroup_root: Path | None = DEFAULT_CGROUP_ROOT,
        proc_cgroup: Path = Path("/proc/self/cgroup"),
        period_us: int = CFS_PERIOD_US,
    ) -> None:
        self.name = name
        self.cgroup_root = cgroup_root
        self.proc_cgroup = proc_cgroup
        self.period_us = period_us
        self._detection: Detection | None = None

    # Detection -----------------------------------------------------------------------

    def detect(self) -> Detection:
        """What this machine allows (found once, making the parent cgroups on the way)."""
        if self._detection is None:
            self._detection = self._detect()
            log.info(
                "replica limits: %s%s",
                f"cgroup v{self._detection.version}" if self._detection.version else "rlimits",
                f" ({self._detection.why})" if self._detection.why else "",
            )
        return self._detection

    def _detect(self) -> Detection:
        if self.cgroup_root is None:
            return Detection(None, why="cgroups are turned off for this runtime")
        try:
            v1_paths, v2_path = parse_proc_cgroup(self.proc_cgroup.read_text())
        except OSError as exc:
            return Detection(None, why=f"cannot read {self.proc_cgroup}: {exc.strerror}")
        problems: list[str] = []
        if (self.cgroup_root / "cgroup.controllers").is_file() and v2_path is not None:
            found = self._detect_v2(v2_path, problems)
            if found is not None:
                return found
        found = self._detect_v1(v1_paths, problems)
        if found is not None:
            return found
        return Detection(None, why="; ".join(problems) or f"no cgroup under {self.cgroup_root}")

    def _detect_v2(self, own_path: str, problems: list[str]) -> Detection | None:
        root = _require(self.cgroup_root)
        own = root / own_path.lstrip("/")
        try:
            offered = set((own / "cgroup.controllers").read_text().split())
            if not {"cpu", "memory"} <= offered:
                problems.append(f"cgroup v2: {own} does not offer the cpu and memory controllers")
                return None
            enabled = set((own / "cgroup.subtree_control").read_text().split())
            if not {"cpu", "memory"} <= enabled:
                # Refused (EBUSY) when our own cgroup holds processes and is not the root.
                _write(own / "cgroup.subtree_control", "+cpu +memory")
            parent = own / self.name
            parent.mkdir(exist_ok=True)
            _write(parent / "cgroup.subtree_control", "+cpu +memory")
        except OSError as exc:
            problems.append(f"cgroup v2: cannot delegate cpu and memory under {own}: {_why(exc)}")
            return None
        return Detection(2, {"cpu": parent, "memory": parent, "cpuacct": parent})

    def _detect_v1(self, own_paths: Mapping[str, str], problems: list[str]) -> Detection | None:
        root = _require(self.cgroup_root)
        marks = {"cpu": "cpu.cfs_quota_us", "memory": "memory.limit_in_bytes"}
        marks["cpuacct"] = "cpuacct.usage"
        parents: dict[str, Path] = {}
        for controller, mark in marks.items():
            hierarchy = root / controller
            if not (hierarchy / mark).is_file():
                if controller != "cpuacct":
                    problems.append(f"cgroup v1: no {controller} hierarchy at {hierarchy}")
                continue
            parent = hierarchy / own_paths.get(controller, "/").lstrip("/") / self.name
            try:
                parent.mkdir(exist_ok=True)
            except OSError as exc:
                problems.append(f"cgroup v1: cannot make {parent}: {_why(exc)}")
                continue
            parents[controller] = parent
        if "cpu" not in parents and "memory" not in parents:
            return None
        return Detection(1, parents, "; ".join(problems))

    # One replica ---------------------------------------------------------------------

    def confine(self, replica_id: str, request: Request) -> Confinement:
        """Make ``replica_id``'s cgroup and set its limits; what could not be is reported.

        Synchronous and quick (a mkdir and a few writes to a pseudo file system), so it
        runs right before the spawn, where a cancellation cannot slip in between.
        """
        detection = self.detect()
        enforced: list[str] = []
        missing: list[str] = []
        cgroups: dict[str, Path] = {}
        version = detection.version
        for controller, parent in detection.parents.items():
            group = parent / replica_id
            try:
                group.mkdir(exist_ok=True)
            except OSError as exc:
                log.warning("cannot make cgroup %s: %s", group, _why(exc))
                continue
            cgroups[controller] = group
        how = f"cgroup v{version}"
        if request.cpu is not None:
            if "cpu" in cgroups:
                try:
                    knob = self._set_cpu(cgroups["cpu"], version, request.cpu)
                    enforced.append(f"cpu {request.cpu:g} via {how} {knob}")
                except OSError as exc:
                    missing.append(f"cpu {request.cpu:g} not enforced: {_why(exc)}")
            else:
                missing.append(f"cpu {request.cpu:g} not enforced: {detection.why or 'no cgroup'}")
        rlimit: int | None = None
        if request.memory is not None:
            size = format_bytes(request.memory)
            try:
                if "memory" not in cgroups:
                    raise _NoCgroupError(detection.why or "no cgroup")
                self._set_memory(cgroups["memory"], version, request.memory)
                enforced.append(f"memory {size} via {how}")
            except (OSError, _NoCgroupError) as exc:
                rlimit = request.memory
                enforced.append(f"memory {size} via RLIMIT_AS (address space; {_why(exc)})")
        return Confinement(replica_id, version, cgroups, rlimit, tuple(enforced), tuple(missing))

    def _set_cpu(self, group: Path, version: Version | None, cpu: float) -> str:
        quota = max(_MIN_QUOTA_US, round(cpu * self.period_us))
        if version == 2:
            _write(group / "cpu.max", f"{quota} {self.period_us}")
            return "cpu.max"
        _write(group / "cpu.cfs_period_us", str(self.period_us))
        _write(group / "cpu.cfs_quota_us", str(quota))
        return "cfs quota"

    @staticmethod
    def _set_memory(group: Path, version: Version | None, memory: int) -> None:
        if version == 2:
            _write(group / "memory.max", str(memory))
            swap = group / "memory.swap.max"
        else:
            _write(group / "memory.limit_in_bytes", str(memory))
            swap = group / "memory.memsw.limit_in_bytes"  # memory + swap; must be >= the limit
        if swap.exists():
            with contextlib.suppress(OSError):  # no swap accounting: nothing to close off
                _write(swap, "0" if version == 2 else str(memory))

    @staticmethod
    def oom_kills(confinement: Confinement | None) -> int:
        """How many processes the kernel's OOM killer ended in the replica's memory cgroup."""
        group = confinement.cgroups.get("memory") if confinement else None
        if group is None:
            return 0
        name = "memory.events" if confinement and confinement.version == 2 else "memory.oom_control"
        try:
            return stat_values((group / name).read_text()).get("oom_kill", 0)
        except OSError:
            return 0

    def release(self, confinement: Confinement, *, wait: float = 2.0) -> bool:
        """Kill what is left in the replica's cgroups and remove them; False if one stays."""
        return all([_remove_group(group, wait) for group in confinement.dirs])

    def clean_stale(self, *, wait: float = 2.0) -> list[str]:
        """Remove every replica cgroup under our parents (a previous run's); their names."""
        removed: set[str] = set()
        for parent in self.detect().dirs:
            with contextlib.suppress(OSError):
                for group in parent.iterdir():
                    if group.is_dir() and _remove_group(group, wait):
                        removed.add(group.name)
        return sorted(removed)

    def remove_parents(self) -> None:
        """Remove the parents if no replica cgroup is left in them (at close)."""
        for parent in self._detection.dirs if self._detection else []:
            with contextlib.suppress(OSError):
                parent.rmdir()
        self._detection = None

    def usage(self, confinement: Confinement | None, pid: int) -> ReplicaUsage:
        """CPU seconds and memory of a replica: from its cgroups, else from /proc."""
        if confinement is None or confinement.version is None:
            return proc_tree_usage([pid])
        version = confinement.version
        cpu = cgroup_cpu_seconds(version, confinement.cgroups.get("cpuacct"))
        memory = cgroup_memory_bytes(version, confinement.cgroups.get("memory"))
        if cpu is None or memory is None:
            fallback = proc_tree_usage([pid])
            cpu = fallback.cpu_seconds if cpu is None else cpu
            memory = fallback.memory_bytes if memory is None else memory
            return ReplicaUsage(cpu, memory, source=f"cgroup v{version} and /proc")
        return ReplicaUsage(cpu, memory, source=f"cgroup v{version}")


class _NoCgroupError(Exception):
    pass


def _members(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _remove_group(group: Path, wait: float) -> bool:
    """SIGKILL what is in ``group`` (only replicas and their children ever are), rmdir it.

    A pid read from cgroup.procs could in theory exit and be reused before the kill;
    cgroup v2's ``cgroup.kill`` has no such window and is used where it exists.
    """
    deadline = time.monotonic() + wait
    while True:
        members = _members(group)
        if not members:
            try:
                group.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError as exc:
                if time.monotonic() >= deadline:
                    log.warning("cannot remove cgroup %s: %s", group, _why(exc))
                    return False
        elif (group / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(group / "cgroup.kill", "1")
        else:
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if time.monotonic() >= deadline:
            log.warning("cgroup %s still holds processes %s", group, _members(group))
            return False
        time.sleep(0.02)


def _write(path: Path, value: str) -> None:
    # One write() per value: cgroup files take a value per write call, unbuffered.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc)


def _require(value: _T | None) -> _T:
    if value is None:
        raise RuntimeError("a value that detection guarantees is missing")
    return value
