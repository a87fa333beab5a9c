"""One replica's life: start, become ready, stay healthy, restart after a crash.

A replica keeps its id across restarts (as a pod keeps its name when kubelet
restarts its container). Its runner task loops over *lives*, one process each:

    STARTING --ready--> READY <--> UNHEALTHY --(too many failed checks)--> replaced
       |                  |
       | exits / misses   | exits
       v the deadline     v
    FAILED (never ready: terminal)        BACKOFF --(0.5 s doubling, cap 30 s)--> STARTING

A replica that never became ready is not restarted: its FAILED phase, with the
exit code and the tail of its log, stays until it is scaled away, and the control
plane turns it into DeployFailed. One that was ready and then exits (or stops
answering) is restarted with exponential backoff and its ``restarts`` counted.

Stopping is the runtime's call: it cancels the runner task, then ends the process
through the supervisor. The spawn itself is shielded from cancellation, so a
process is never started without being recorded where ``stop`` will find it.

Each life runs confined (``limits``): its cgroups are made right before the spawn
and removed once the process is reaped; what was enforced is logged and shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from waypost.errors import WaypostError
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus, Workload
from waypost.runtimes.local import supervisor
from waypost.runtimes.local.health import probe
from waypost.runtimes.local.limits import Confinement, Limiter, Request
from waypost.runtimes.local.logs import append_line, tail_lines
from waypost.runtimes.local.pidfiles import PidRecord, remove_pidfile, write_pidfile
from waypost.runtimes.local.ports import free_port

__all__ = ["ProcessPlan", "Replica", "ReplicaRunner", "Timing", "backoff_delay", "describe_exit"]

log = logging.getLogger("waypost.runtime.local")

P = ReplicaPhase
_BIND_CLASH = ("address already in use", "[errno 98]")


def backoff_delay(crashes: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds before restarting after the ``crashes``-th crash in a row: 0.5, 1, 2 ... 30."""
    if crashes < 1:
        return 0.0
    return float(min(base * 2.0 ** min(crashes - 1, 32), cap))


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass(frozen=True)
class Timing:
    stop_grace: float = 10.0
    #: A replica taken out of service (scale down, new version) stays up this long after it
    #: leaves the route table before it is signalled, so gateways that still hold the old
    #: table finish sending to it (Kubernetes' preStop sleep); then SIGTERM lets the server
    #: finish what it has in flight.
    drain_delay: float = 1.0
    liveness_interval: float = 5.0  # seconds between health checks of a ready replica
    liveness_failures: int = 6  # failed checks in a row before a replica is replaced
    probe_timeout: float = 5.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    stable_after: float = 60.0  # ready this long, and the next crash starts backoff afresh
    tail_lines: int = 20
    bind_attempts: int = 3


@dataclass(frozen=True)
class ProcessPlan:
    """How to start one life of a replica (the runtime makes it, after preparing the build)."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    health_path: str | None
    startup_timeout: float
    interval: float
    memory_limit: int | None = None  # bytes: a cgroup limit where possible, else RLIMIT_AS
    cpu: float | None = None  # cores: a cgroup CPU quota where possible


#: The runtime's part: prepare the workload and say what to run on ``port``.
Planner = Callable[[Workload, int], Awaitable[ProcessPlan]]


@dataclass(eq=False)
class Replica:
    id: str
    workload: Workload
    seq: int  # creation order: scale-down stops the newest first
    note: str = ""  # the runtime's limitations for this spec, shown while healthy
    enforcement: str = ""  # what limits the current life runs under, shown while healthy
    phase: ReplicaPhase = P.STARTING
    port: int | None = None
    started_at: float = field(default_factory=time.time)
    restarts: int = 0
    exit_code: int | None = None
    message: str = ""
    ever_ready: bool = False
    log_path: Path | None = None
    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    confinement: Confinement | None = None
    #: Taken out of service but still serving what it has: shown as STOPPING, kept running.
    draining: bool = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def status(self, host: str) -> ReplicaStatus:
        running = self.alive and self.port is not None
        return ReplicaStatus(
            replica_id=self.id,
            phase=self.phase,
            address=f"{host}:{self.port}" if running else None,
            pid=self.process.pid if self.alive and self.process else None,
            started_at=self.started_at,
            restarts=self.restarts,
            exit_code=self.exit_code,
            message=self.message or (self.notes if self.phase in (P.STARTING, P.READY) else ""),
        )

    @property
    def notes(self) -> str:
        return "; ".join(n for n in (self.enforcement, self.note) if n)


@dataclass(frozen=True)
class _End:
    """How a life ended: why, with which exit code, and how long it was ready."""

    reason: str
    exit_code: int | None = None
    ready_for: float = 0.0


class _BindClash(Exception):
    pass


class ReplicaRunner:
    """Runs replicas' lives; one per runtime, holding no per-replica state of its own."""

    def __init__(
        self,
        *,
        host: str,
        run_dir: Path,
        timing: Timing,
        plan: Planner,
        limiter: Limiter | None = None,
    ) -> None:
        self.host = host
        self.run_dir = run_dir
        self.timing = timing
        self._plan = plan
        self.limiter = limiter or Limiter("waypost", cgroup_root=None)
        self._ports: set[int] = set()

    async def run(self, replica: Replica) -> None:
        crashes = 0
        try:
            while True:
                end = await self._life(replica)
                replica.exit_code = end.exit_code
                if not replica.ever_ready:
                    replica.phase, replica.message = P.FAILED, end.reason
                    return
                crashes = 1 if end.ready_for >= self.timing.stable_after else crashes + 1
                delay = backoff_delay(
                    crashes, base=self.timing.backoff_base, cap=self.timing.backoff_cap
                )
                replica.restarts += 1
                replica.phase = P.BACKOFF
                replica.message = f"{end.reason}\nrestarting in {delay:g}s"
                await asyncio.sleep(delay)
        except Exception as exc:  # a bug here must show on the replica, not vanish in a task
            log.exception("replica %s failed in the runtime", replica.id)
            replica.phase, replica.message = P.FAILED, f"internal error in the local runtime: {exc}"

    def begin_drain(self, replica: Replica) -> None:
        """Take the replica out of service (STOPPING) while its process keeps serving."""
        replica.draining = True
        replica.phase = P.STOPPING

    def begin_stop(self, replica: Replica) -> None:
        """Mark the replica STOPPING and cancel its runner, at once.

        Synchronous, so that the runner cannot mark it READY again before ``stop``
        gets to run: from here on only its cleanup code runs, which sets no phase.
        """
        replica.phase = P.STOPPING
        if replica.task is not None:
            replica.task.cancel()

    async def stop(self, replica: Replica) -> None:
        """Cancel the replica's runner, then end its process (SIGTERM, grace, SIGKILL)."""
        self.begin_stop(replica)
        if replica.task is not None:
            await asyncio.wait({replica.task})
        if replica.process is not None:  # stopped before its runner could reap it
            await supervisor.terminate(replica.process, self.timing.stop_grace)
        await self._unconfine(replica)
        self._forget(replica)
        if replica.log_path is not None:
            with contextlib.suppress(OSError):
                append_line(replica.log_path, f"{replica.id}: stopped")

    # One life ------------------------------------------------------------------------

    async def _life(self, replica: Replica) -> _End:
        replica.phase, replica.message = P.STARTING, ""
        fixed = (
            replica.workload.spec.port if replica.workload.spec.kind == "server-command" else None
        )
        for attempt in range(1, self.timing.bind_attempts + 1):
            port = fixed if fixed is not None else self._take_port()
            replica.port = port
            try:
                plan = await self._plan(replica.workload, port)
            except WaypostError as exc:
                self._forget(replica)
                return _End(exc.message)
            replica.log_path = plan.log_path
            try:
                return await self._start_and_watch(replica, plan)
            except _BindClash:
                if fixed is not None:
                    return _End(f"its fixed port {port} is in use by another process")
                if attempt == self.timing.bind_attempts:
                    return _End(f"the free port it was given was taken {attempt} times in a row")
            finally:
                await self._reap(replica)
        raise AssertionError("unreachable: every attempt returns or retries")

    async def _start_and_watch(self, replica: Replica, plan: ProcessPlan) -> _End:
        offset = plan.log_path.stat().st_size if plan.log_path.exists() else 0
        command = shlex.join(plan.argv)
        append_line(plan.log_path, f"{replica.id}: starting {command} (port {replica.port})")
        try:
            spawned = await self._spawn(replica, plan)
        except (OSError, ValueError) as exc:
            return _End(f"could not start {plan.argv[0]}: {exc}")
        process = spawned.process
        replica.started_at = time.time()
        if spawned.start_ticks is not None:
            write_pidfile(
                self._pidfile(replica),
                PidRecord(replica.id, replica.workload.key.id, process.pid, spawned.start_ticks),
            )
        if spawned.note:
            append_line(plan.log_path, f"{replica.id}: {spawned.note}")
        exited = asyncio.ensure_future(process.wait())
        try:
            not_ready = await self._wait_ready(replica, plan, exited, offset)
            if not_ready is not None:
                return not_ready
            return await self._watch(replica, plan, exited, offset)
        finally:
            exited.cancel()

    async def _spawn(self, replica: Replica, plan: ProcessPlan) -> supervisor.Spawned:
        confinement = self.limiter.confine(replica.id, Request(plan.cpu, plan.memory_limit))
        replica.confinement, replica.enforcement = confinement, confinement.report()
        if replica.enforcement:
            append_line(plan.log_path, f"{replica.id}: limits: {replica.enforcement}")
        spawning = asyncio.ensure_future(
            supervisor.spawn(
                confinement.wrap(plan.argv),
                env=plan.env,
                cwd=plan.cwd,
                log_path=plan.log_path,
                memory_limit=confinement.rlimit_memory,
            )
        )
        try:
            spawned = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            # Being stopped while the process starts: record it anyway so stop() ends it.
            with contextlib.suppress(Exception):
                replica.process = (await spawning).process
            raise
        replica.process = spawned.process
        return spawned

    async def _wait_ready(
        self, replica: Replica, plan: ProcessPlan, exited: asyncio.Future[int], offset: int
    ) -> _End | None:
        deadline = time.monotonic() + plan.startup_timeout
        while True:
            if exited.done():
                if self._bind_clash(plan, offset):
                    raise _BindClash
                code = exited.result()
                return self._ended(
                    replica, plan, offset, f"{describe_exit(code)} before it was ready", code
                )
            remaining = deadline - time.monotonic()
            result = await probe(
                self.host,
                _port(replica),
                plan.health_path,
                min(self.timing.probe_timeout, max(remaining, 0.1)),
            )
            if result.ok:
                replica.phase, replica.message = P.READY, ""
                replica.ever_ready = True
                append_line(plan.log_path, f"{replica.id}: ready ({result.detail})")
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await supervisor.terminate(_process(replica), self.timing.stop_grace)
                why = f"did not become ready within {plan.startup_timeout:g}s ({result.detail})"
                return self._ended(replica, plan, offset, why, None)
            await asyncio.wait({exited}, timeout=min(plan.interval, remaining))

    async def _watch(
        self, replica: Replica, plan: ProcessPlan, exited: asyncio.Future[int], offset: int
    ) -> _End:
        ready_at = time.monotonic()
        failures = 0
        while True:
            await asyncio.wait({exited}, timeout=self.timing.liveness_interval)
            if exited.done():
                code = exited.result()
                ready_for = time.monotonic() - ready_at
                return self._ended(replica, plan, offset, describe_exit(code), code, ready_for)
            result = await probe(
                self.host, _port(replica), plan.health_path, self.timing.probe_timeout
            )
            if replica.draining:
                continue  # leaving service: its health no longer changes what it is
            if result.ok:
                failures = 0
                replica.phase, replica.message = P.READY, ""
                continue
            failures += 1
            replica.phase = P.UNHEALTHY
            replica.message = f"health check failed {failures} time(s) in a row: {result.detail}"
            if failures >= self.timing.liveness_failures:
                await supervisor.terminate(_process(replica), self.timing.stop_grace)
                why = f"stopped answering its health check ({result.detail}); replaced"
                return self._ended(replica, plan, offset, why, None, time.monotonic() - ready_at)

    # Bookkeeping ---------------------------------------------------------------------

    def _ended(
        self,
        replica: Replica,
        plan: ProcessPlan,
        offset: int,
        why: str,
        code: int | None,
        ready_for: float = 0.0,
    ) -> _End:
        lines = tail_lines(plan.log_path, self.timing.tail_lines, since=offset)
        if oom := self.limiter.oom_kills(replica.confinement):
            why += f" (over its memory limit: the kernel's OOM killer ended {oom} process(es))"
        reason = why
        if lines:
            reason += f"\n--- last {len(lines)} lines of its log ---\n" + "\n".join(lines)
        append_line(plan.log_path, f"{replica.id}: {why}")
        return _End(reason, code, ready_for)

    def _bind_clash(self, plan: ProcessPlan, offset: int) -> bool:
        text = "\n".join(tail_lines(plan.log_path, 50, since=offset)).lower()
        return any(marker in text for marker in _BIND_CLASH)

    async def _reap(self, replica: Replica) -> None:
        if replica.process is not None:
            await supervisor.terminate(replica.process, self.timing.stop_grace)
        await self._unconfine(replica)
        self._forget(replica)

    async def _unconfine(self, replica: Replica) -> None:
        """Remove the life's cgroups (killing anything that escaped its process group)."""
        confinement, replica.confinement = replica.confinement, None
        if confinement is not None and confinement.dirs:
            # In a thread, which finishes even if this task is cancelled meanwhile.
            await asyncio.to_thread(self.limiter.release, confinement)

    def _forget(self, replica: Replica) -> None:
        remove_pidfile(self._pidfile(replica))
        if replica.port is not None:
            self._ports.discard(replica.port)
        replica.process = None

    def _take_port(self) -> int:
        port = free_port(self.host, avoid=self._ports)
        self._ports.add(port)
        return port

    def _pidfile(self, replica: Replica) -> Path:
        return self.run_dir / f"{replica.id}.json"


def _port(replica: Replica) -> int:
    if replica.port is None:
        raise RuntimeError(f"replica {replica.id} has no port")
    return replica.port


def _process(replica: Replica) -> asyncio.subprocess.Process:
    if replica.process is None:
        raise RuntimeError(f"replica {replica.id} has no process")
    return replica.process
