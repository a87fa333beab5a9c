"""CPU and memory readings of a replica: from its cgroup, else from ``/proc``.

A replica with a cgroup of its own (see ``limits``) is read from the cgroup's
accounting files: CPU time of everything that ever ran in it, and the working set
(usage less inactive file cache, as Kubernetes counts it). Without one, CPU time
and resident memory are summed over the process tree under the replica's pid, so a
gunicorn master and its workers count as one replica. Parsing is kept in pure
functions over the files' text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ReplicaUsage",
    "cgroup_cpu_seconds",
    "cgroup_memory_bytes",
    "descendants",
    "parse_stat",
    "parse_status_rss",
    "proc_tree_usage",
    "stat_values",
]


@dataclass(frozen=True)
class ReplicaUsage:
    """What one replica has used: CPU seconds since it started, and memory now."""

    cpu_seconds: float
    memory_bytes: int
    source: str  # "cgroup v1", "cgroup v2" or "/proc"


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    #: utime + stime of the process and cutime + cstime of its reaped children, in ticks
    cpu_ticks: int


def parse_stat(text: str) -> ProcStat | None:
    """The parent and CPU ticks from ``/proc/<pid>/stat``; None for a zombie or bad text."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 15 or fields[0] in ("Z", "X"):
        return None
    try:
        # fields[0] is field 3 (state); ppid is field 4, utime..cstime are fields 14-17.
        return ProcStat(ppid=int(fields[1]), cpu_ticks=sum(int(f) for f in fields[11:15]))
    except ValueError:
        return None


def parse_status_rss(text: str) -> int:
    """Resident memory in bytes from ``/proc/<pid>/status`` (``VmRSS``; 0 for kernel threads)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) > 1 and parts[1].isdigit() else 0
    return 0


def descendants(parents: Mapping[int, int], root: int) -> list[int]:
    """``root`` and every process below it, given each live pid's parent."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, queue = [], [root] if root in parents else []
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _all_stats(proc: Path) -> dict[int, ProcStat]:
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            text = _read(entry / "stat")
            stat = parse_stat(text) if text is not None else None
            if stat is not None:
                stats[int(entry.name)] = stat
    return stats


def proc_tree_usage(
    roots: Iterable[int], *, proc: Path = Path("/proc"), ticks: int | None = None
) -> ReplicaUsage:
    """CPU seconds and resident bytes summed over ``roots`` and their descendants.

    Resident memory shared between a forking server's processes is counted once per
    process, so the figure is an upper bound (as ``ps`` would add it up).
    """
    stats = _all_stats(proc)
    pids = {
        pid for root in roots for pid in descendants({p: s.ppid for p, s in stats.items()}, root)
    }
    per_second = ticks or os.sysconf("SC_CLK_TCK")
    cpu = sum(stats[pid].cpu_ticks for pid in pids) / per_second
    memory = sum(parse_status_rss(_read(proc / str(pid) / "status") or "") for pid in pids)
    return ReplicaUsage(cpu_seconds=cpu, memory_bytes=memory, source="/proc")


def stat_values(text: str) -> dict[str, int]:
    """``name value`` lines (cpu.stat, memory.stat, memory.events) -> their integers."""
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[name] = int(value)
    return values


def cgroup_cpu_seconds(version: int, group: Path | None) -> float | None:
    """CPU seconds used in ``group`` (v1: a cpuacct cgroup); None if it cannot be read."""
    if group is None:
        return None
    try:
        if version == 2:
            return stat_values((group / "cpu.stat").read_text())["usage_usec"] / 1e6
        return int((group / "cpuacct.usage").read_text()) / 1e9
    except (OSError, KeyError, ValueError):
        return None


def cgroup_memory_bytes(version: int, group: Path | None) -> int | None:
    """The working set of memory ``group``: usage less inactive file cache; None if unread."""
    if group is None:
        return None
    try:
        stat = stat_values((group / "memory.stat").read_text())
        if version == 2:
            usage, inactive = int((group / "memory.current").read_text()), stat["inactive_file"]
        else:
            usage = int((group / "memory.usage_in_bytes").read_text())
            inactive = stat["total_inactive_file"]
        return max(0, usage - inactive)
    except (OSError, KeyError, ValueError):
        return None
