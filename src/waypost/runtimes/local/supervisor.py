"""The only code in waypost that starts, signals and reaps processes.

Every process starts in a session of its own (``start_new_session``), so it leads
a process group and one ``killpg`` reaches everything it forked (gunicorn's
workers, the command under ``/bin/sh -c``). Stopping is boring and bounded:
SIGTERM to the group, wait up to a grace period, SIGKILL, reap, then sweep the
group for stragglers. Waits use asyncio's subprocess API, so the event loop is
never blocked on a child.

Leftovers of a previous run are killed only if their start time (field 22 of
``/proc/<pid>/stat``) still matches the pidfile: a reused PID is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Spawned",
    "group_members",
    "kill_leftover",
    "process_start_ticks",
    "run_command",
    "spawn",
    "terminate",
]

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Spawned:
    process: asyncio.subprocess.Process
    start_ticks: int | None  # /proc start time, for the pidfile
    note: str = ""  # a limit that could not be applied, for the replica's message


def process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 overall; fields[0] is field 3


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    memory_limit: int | None = None,
) -> Spawned:
    """Start ``argv`` in its own session, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.close(log_fd)
    note = ""
    if memory_limit is not None:
        # Set right after exec, before the interpreter has allocated much; children inherit it.
        try:
            resource.prlimit(process.pid, resource.RLIMIT_AS, (memory_limit, memory_limit))
        except (OSError, ValueError) as exc:
            note = f"memory limit not applied: {exc}"
    return Spawned(process, process_start_ticks(process.pid), note)


async def terminate(process: asyncio.subprocess.Process, grace: float) -> int | None:
    """SIGTERM the process group, wait up to ``grace``, SIGKILL; reap; sweep stragglers."""
    deadline = time.monotonic() + grace
    if process.returncode is None or group_members(process.pid):
        # Also when the leader has crashed: what it forked is still running, unsignalled.
        _signal_group(process.pid, signal.SIGTERM)
    if process.returncode is None:
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5.0)
    # The leader is gone; anything left in its group got SIGTERM too: give it what is
    # left of the grace, then SIGKILL.
    await _sweep(process.pid, deadline)
    return process.returncode


async def _sweep(pgid: int, deadline: float) -> None:
    await _poll_until(lambda: not group_members(pgid), deadline)
    if group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)


async def _poll_until(done: Callable[[], bool], deadline: float) -> None:
    # Processes that are not our children give no event when they exit: poll /proc.
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def kill_leftover(pid: int, start_ticks: int, grace: float) -> bool:
    """Stop the process group led by ``pid`` if it is still the process that was recorded."""
    if process_start_ticks(pid) != start_ticks:
        return False
    _signal_group(pid, signal.SIGTERM)
    await _poll_until(lambda: process_start_ticks(pid) != start_ticks, time.monotonic() + grace)
    _signal_group(pid, signal.SIGKILL)
    await _poll_until(lambda: not group_members(pid), time.monotonic() + 5.0)
    return True


async def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    on_line: Callable[[str], None],
) -> int:
    """Run a build step, feeding each output line to ``on_line``; its exit code.

    The caller bounds it with ``asyncio.timeout``: on cancellation (a timeout is
    one) the step's whole process group is stopped before the error propagates.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        await _pump_lines(process, on_line)
        return await process.wait()
    except BaseException:
        await terminate(process, grace=2.0)
        raise


async def _pump_lines(process: asyncio.subprocess.Process, on_line: Callable[[str], None]) -> None:
    stream = process.stdout
    if stream is None:
        return
    pending = b""
    while chunk := await stream.read(_READ_CHUNK):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace").rstrip("\r"))
    if pending:
        on_line(pending.decode("utf-8", "replace").rstrip("\r"))
