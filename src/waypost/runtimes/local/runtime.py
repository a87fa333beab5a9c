"""``LocalRuntime``: the ``Runtime`` protocol over processes on this machine.

It owns the replicas (by unit), the cache of prepared builds, and the background
tasks that stop replicas; ``ReplicaRunner`` runs each replica's life and
``supervisor`` does every spawn and signal. ``scale`` is called every reconciler
pass, so it only compares counts and starts or stops tasks: starting (which may
have to prepare a build after a control-plane restart) and stopping (which may
wait out a grace period) happen in named tasks that ``close`` cancels or awaits.

**Leftovers: kill and restart, not re-adopt.** A control plane that was killed
with SIGKILL leaves its replicas running, each with a pidfile. ``start`` kills
them (when the pid's start time still matches) and lets the reconciler start
fresh ones. Re-adopting them would save a few seconds of startup but they are
not our children: no exit status, no ``wait``, the stdout descriptor and the
port bookkeeping would have to be rebuilt from files, and a replica of a spec
that changed meanwhile would have to be detected. A fresh start has exactly one
code path, the one that is tested all the time. Replica cgroups a killed run left
(``limits``) are removed at the same time, after their processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from waypost.errors import BuildFailed, InvalidSpec, Unavailable
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.models.launch import REPLICA_ENV as MODEL_REPLICA_ENV
from waypost.runtimes.base import LogChunk, ReplicaPhase, ReplicaStatus, Workload
from waypost.runtimes.local import supervisor
from waypost.runtimes.local.bundle import check_files, file_inside, unpack_bundle
from waypost.runtimes.local.commands import (
    check_kind,
    limitations,
    replica_argv,
    replica_environ,
    server_packages,
    system_path,
)
from waypost.runtimes.local.envs import (
    EnvBuilder,
    EnvPlan,
    InstallerChoice,
    env_key,
    find_installer,
    refers_to_bundle,
)
from waypost.runtimes.local.layout import Layout
from waypost.runtimes.local.limits import (
    DEFAULT_CGROUP_ROOT,
    Limiter,
    cgroup_name,
    resource_notes,
)
from waypost.runtimes.local.logs import append_line, read_log
from waypost.runtimes.local.models import PLATFORM_ENV, check_model_workload, model_server_argv
from waypost.runtimes.local.pidfiles import PidRecord, read_pidfiles, remove_pidfile
from waypost.runtimes.local.replica import ProcessPlan, Replica, ReplicaRunner, Timing
from waypost.runtimes.local.shim import ensure_shim
from waypost.runtimes.local.usage import ReplicaUsage

__all__ = ["LocalRuntime", "Prepared"]

log = logging.getLogger("waypost.runtime.local")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    bundle_dir: Path
    env_dir: Path


@dataclass(eq=False)
class _Preparing:
    """A build in progress, shared by everyone waiting for the same bundle and env."""

    listeners: list[Log] = field(default_factory=list)
    task: asyncio.Task[Prepared] | None = None

    def emit(self, line: str) -> None:
        for listener in list(self.listeners):
            listener(line)


class LocalRuntime:
    """Replicas as local processes under ``root``; see the module docstring.

    ``observe`` lists a unit's replicas oldest first; ``scale`` down stops the
    newest. ``limitations(key)`` names what of a spec is not enforced locally
    (also shown as the message of a healthy replica and written to the build log).
    Replicas run under their spec's CPU and memory limits in cgroups below
    ``cgroup_root`` when the machine allows it (None: rlimits only); ``usage(key)``
    reads what each replica uses.
    """

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        host: str = "127.0.0.1",
        build_timeout: float = 900.0,
        stop_grace: float = 10.0,
        liveness_interval: float = 5.0,
        liveness_failures: int = 6,
        installer: InstallerChoice = "auto",
        python: str | None = None,
        environ: Mapping[str, str] | None = None,
        cgroup_root: Path | None = DEFAULT_CGROUP_ROOT,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.layout = Layout(self.root)
        self.build_timeout = build_timeout
        self._python = python or sys.executable
        self._installer_choice: InstallerChoice = installer
        # The control plane's environment is read here, once: only the installer
        # (proxies, index settings) and the replicas' PATH draw on it.
        self._environ = dict(os.environ if environ is None else environ)
        own_venv = [Path(sys.prefix)] if sys.prefix != sys.base_prefix else []
        self._path = system_path(self._environ, exclude=own_venv)
        self._timing = Timing(
            stop_grace=stop_grace,
            liveness_interval=liveness_interval,
            liveness_failures=liveness_failures,
        )
        self.limiter = Limiter(cgroup_name(self.root), cgroup_root=cgroup_root)
        self._runner = ReplicaRunner(
            host=host,
            run_dir=self.layout.run,
            timing=self._timing,
            plan=self._plan_process,
            limiter=self.limiter,
        )
        self._envs: EnvBuilder | None = None
        self._shim: Path | None = None
        self._units: dict[UnitKey, list[Replica]] = {}
        self._stops: dict[Replica, asyncio.Task[None]] = {}
        self._prepared: dict[_PrepareKey, Prepared] = {}
        self._preparing: dict[_PrepareKey, _Preparing] = {}
        self._seq = itertools.count()
        self._closed = False

    # Protocol ------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.layout.make_dirs)
        leftovers = await asyncio.to_thread(read_pidfiles, self.layout.run)
        await asyncio.gather(*(self._end_leftover(path, rec) for path, rec in leftovers))
        for stale in await asyncio.to_thread(self.limiter.clean_stale):
            log.info("removed the cgroup of replica %s left by a previous run", stale)
        await asyncio.to_thread(self._clean_scratch)
        self._shim = await asyncio.to_thread(ensure_shim, self.layout.shim)

    async def build(self, workload: Workload, log: Log) -> None:
        check_kind(workload.spec.kind)
        log_file = self.layout.log_file(workload.key)

        def both(line: str) -> None:
            log(line)
            append_line(log_file, f"build: {line}")

        try:
            await self._prepare(workload, both)
        except BuildFailed as exc:
            append_line(log_file, f"build failed: {exc.message}")
            raise
        for note in self._limitations(workload.spec):
            both(f"note: {note}")
        both("build ready")

    async def scale(self, workload: Workload, replicas: int) -> None:
        if replicas < 0:
            raise InvalidSpec(f"cannot scale to {replicas} replicas")
        if self._closed:
            raise Unavailable("the local runtime is closed")
        check_kind(workload.spec.kind)
        unit = self._units.setdefault(workload.key, [])
        active = [r for r in unit if r.phase is not ReplicaPhase.STOPPING]
        for replica in active:
            replica.workload = workload  # restarts use what the control plane says now
        if len(active) < replicas:
            note = "; ".join(self._limitations(workload.spec))
            for _ in range(replicas - len(active)):
                self._start_replica(workload, unit, note)
        elif len(active) > replicas:
            # Replicas that do not serve go first, then the newest: the ones kept are the
            # ones answering, so scaling down never leaves only a sick replica.
            first_to_go = sorted(active, key=lambda r: (r.phase is ReplicaPhase.READY, -r.seq))
            for replica in first_to_go[: len(active) - replicas]:
                self._begin_stop(workload.key, replica, drain=True)
        if not unit:
            del self._units[workload.key]

    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        return {
            key: tuple(r.status(self.host) for r in unit)
            for key, unit in self._units.items()
            if unit
        }

    async def remove(self, key: UnitKey) -> None:
        unit = self._units.pop(key, [])
        for replica in unit:
            self._begin_stop(key, replica)
        await asyncio.gather(*(self._stops[r] for r in unit if r in self._stops))
        await asyncio.to_thread(self._release_files, key)

    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        return await asyncio.to_thread(read_log, self.layout.log_file(key), offset, tail)

    async def close(self) -> None:
        self._closed = True
        for preparing in self._preparing.values():
            if preparing.task is not None:
                preparing.task.cancel()
        for key, unit in list(self._units.items()):
            for replica in unit:
                self._begin_stop(key, replica)
        await asyncio.gather(*self._stops.values(), return_exceptions=True)
        tasks = [p.task for p in self._preparing.values() if p.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._units.clear()
        await asyncio.to_thread(self.limiter.remove_parents)

    # Beyond the protocol -------------------------------------------------------------

    def limitations(self, key: UnitKey) -> list[str]:
        """What the local runtime cannot honour in the spec of ``key`` (empty if unknown)."""
        unit = self._units.get(key)
        return self._limitations(unit[0].workload.spec) if unit else []

    def usage(self, key: UnitKey) -> Mapping[str, ReplicaUsage]:
        """CPU seconds and memory bytes of each running replica of ``key``, by replica id.

        From the replica's cgroup where it has one, else summed over its process tree
        in /proc. Reads small files; call it in a thread from async code.
        """
        return {
            replica.id: self.limiter.usage(replica.confinement, replica.process.pid)
            for replica in self._units.get(key, ())
            if replica.process is not None and replica.alive
        }

    def _limitations(self, spec: EndpointSpec) -> list[str]:
        return [*resource_notes(spec.resources, self.limiter.detect()), *limitations(spec)]

    # Replicas ------------------------------------------------------------------------

    def _start_replica(self, workload: Workload, unit: list[Replica], note: str) -> None:
        replica = Replica(self._new_id(), workload, next(self._seq), note=note)
        replica.task = asyncio.create_task(
            self._runner.run(replica), name=f"replica {replica.id} of {workload.key}"
        )
        unit.append(replica)

    def _begin_stop(self, key: UnitKey, replica: Replica, *, drain: bool = False) -> None:
        if replica in self._stops:
            return
        # Only a replica that was serving has traffic to drain.
        drain = drain and replica.phase is ReplicaPhase.READY
        if drain:
            self._runner.begin_drain(replica)
        else:
            self._runner.begin_stop(replica)
        task = asyncio.create_task(
            self._stop(key, replica, drain), name=f"stop {replica.id} of {key}"
        )
        self._stops[replica] = task

    async def _stop(self, key: UnitKey, replica: Replica, drain: bool = False) -> None:
        try:
            if drain and not self._closed:
                # Observed as STOPPING from now on, so it leaves the route table first.
                await asyncio.sleep(self._timing.drain_delay)
            await self._runner.stop(replica)
        finally:
            unit = self._units.get(key)
            if unit is not None and replica in unit:
                unit.remove(replica)
                if not unit:
                    del self._units[key]
            self._stops.pop(replica, None)

    def _new_id(self) -> str:
        taken = {r.id for unit in self._units.values() for r in unit}
        while True:
            candidate = f"r-{secrets.token_hex(3)}"
            if candidate not in taken and not self.layout.pidfile(candidate).exists():
                return candidate

    async def _end_leftover(self, path: Path, record: PidRecord | None) -> None:
        if record is not None:
            killed = await supervisor.kill_leftover(
                record.pid, record.start_ticks, self._timing.stop_grace
            )
            if killed:
                log.info(
                    "stopped replica %s of %s left by a previous run",
                    record.replica_id,
                    record.unit,
                )
        remove_pidfile(path)

    # Builds --------------------------------------------------------------------------

    async def _prepare(self, workload: Workload, listener: Log) -> Prepared:
        spec = workload.spec
        # A model endpoint's build also checks its model, which the store may add later.
        model = (str(workload.model_dir), spec.target) if spec.kind == "runtime" else None
        key = (workload.bundle_digest, spec.kind, spec.requirements, model)
        prepared = self._prepared.get(key)
        if prepared is not None and not (prepared.env_dir / "bin").is_dir():
            prepared = None  # the env was deleted behind our back: make it again
        if prepared is None:
            preparing = self._preparing.get(key)
            if preparing is None:
                preparing = _Preparing()
                preparing.task = asyncio.create_task(
                    self._do_prepare(workload, preparing),
                    name=f"prepare {workload.bundle_digest[:12]} for {spec.kind}",
                )
                self._preparing[key] = preparing
                preparing.task.add_done_callback(lambda _: self._preparing.pop(key, None))
            preparing.listeners.append(listener)
            try:
                # Shielded: one caller giving up must not cancel a build others wait for.
                prepared = await asyncio.shield(_task(preparing))
            finally:
                preparing.listeners.remove(listener)
            self._prepared[key] = prepared
        await asyncio.to_thread(check_files, prepared.bundle_dir, spec.files)
        return prepared

    async def _do_prepare(self, workload: Workload, preparing: _Preparing) -> Prepared:
        deadline = time.monotonic() + self.build_timeout
        try:
            async with asyncio.timeout(self.build_timeout):
                if self._shim is None:
                    self._shim = await asyncio.to_thread(ensure_shim, self.layout.shim)
                preparing.emit(f"unpacking bundle {workload.bundle_digest[:12]}")
                bundle_dir = await asyncio.to_thread(
                    unpack_bundle, workload.bundle, workload.bundle_digest, self.layout.bundles
                )
                if workload.spec.kind == "runtime":
                    framework = await asyncio.to_thread(check_model_workload, workload)
                    preparing.emit(
                        f"model {workload.spec.model} ({workload.model_task}) served by "
                        f"{framework.name} on the platform's interpreter"
                    )
                    return Prepared(bundle_dir, PLATFORM_ENV)
                plan = await asyncio.to_thread(self._env_plan, bundle_dir, workload)
                env_dir = await self._env_builder().ensure(
                    plan, cwd=bundle_dir, log=preparing.emit, deadline=deadline
                )
        except TimeoutError:
            raise BuildFailed(f"the build did not finish within {self.build_timeout:g}s") from None
        return Prepared(bundle_dir, env_dir)

    def _env_plan(self, bundle_dir: Path, workload: Workload) -> EnvPlan:
        spec = workload.spec
        packages = server_packages(spec.kind)
        requirements: Path | None = None
        content: bytes | None = None
        if spec.requirements:
            requirements = file_inside(bundle_dir, spec.requirements, "requirements file")
            if not requirements.is_file():
                raise BuildFailed(f"requirements file {spec.requirements!r} is not in the bundle")
            content = requirements.read_bytes()
        salt = workload.bundle_digest if content and refers_to_bundle(content) else ""
        key = env_key(content, packages, python=self._python, salt=salt)
        return EnvPlan(key, requirements, spec.requirements, packages)

    def _env_builder(self) -> EnvBuilder:
        if self._envs is None:
            self._envs = EnvBuilder(
                self.layout.envs,
                python=self._python,
                installer=find_installer(self._installer_choice),
                environ=self._environ,
            )
        return self._envs

    async def _plan_process(self, workload: Workload, port: int) -> ProcessPlan:
        log_file = self.layout.log_file(workload.key)
        prepared = await self._prepare(
            workload, lambda line: append_line(log_file, f"build: {line}")
        )
        spec = workload.spec
        home = self.layout.home(workload.key)
        await asyncio.to_thread((home / "tmp").mkdir, parents=True, exist_ok=True)
        env = replica_environ(
            workload.key,
            spec,
            workload.env,
            port=port,
            env_dir=prepared.env_dir,
            home=home,
            shim=_shim(self._shim),
            path=self._path,
        )
        if spec.kind == "runtime":
            argv = model_server_argv(workload, host=self.host, port=port)
            # The shim's partial ``waypost`` package would hide the installed one, whose
            # model servers this replica runs.
            env["PYTHONPATH"] = without_entry(env["PYTHONPATH"], str(_shim(self._shim)))
            env.update(MODEL_REPLICA_ENV)  # nothing is fetched from a hub, by any server
        else:
            argv = replica_argv(
                spec,
                python=prepared.env_dir / "bin" / "python",
                host=self.host,
                port=port,
                graceful=self._timing.stop_grace * 0.8,
            )
        return ProcessPlan(
            argv=argv,
            env=env,
            cwd=prepared.bundle_dir,
            log_path=log_file,
            health_path=spec.health.path,
            startup_timeout=spec.health.startup_timeout,
            interval=max(spec.health.interval, 0.02),
            memory_limit=spec.resources.memory,
            cpu=spec.resources.cpu,
        )

    # Files ---------------------------------------------------------------------------

    def _release_files(self, key: UnitKey) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.layout.log_file(key).unlink()
        shutil.rmtree(self.layout.home(key), ignore_errors=True)

    def _clean_scratch(self) -> None:
        """Temp dirs of unpacks and env builds that a killed run left half done."""
        cutoff = time.time() - self.build_timeout
        for folder in (self.layout.bundles, self.layout.envs, self.layout.shim):
            for scratch in folder.glob(".*-*"):
                with contextlib.suppress(OSError):
                    if scratch.is_dir() and scratch.stat().st_mtime < cutoff:
                        shutil.rmtree(scratch, ignore_errors=True)
        for half_written in self.layout.run.glob(".pid-*"):  # no replica was recorded there
            half_written.unlink(missing_ok=True)


#: What a prepared bundle depends on: digest, kind, requirements, (model dir, framework).
_PrepareKey = tuple[str, str, str | None, tuple[str, str] | None]


def without_entry(path_var: str, entry: str) -> str:
    return ":".join(e for e in path_var.split(":") if e and e != entry)


def _task(preparing: _Preparing) -> asyncio.Task[Prepared]:
    if preparing.task is None:
        raise RuntimeError("a build was registered without its task")
    return preparing.task


def _shim(path: Path | None) -> Path:
    if path is None:
        raise RuntimeError("the shim is made before any replica is planned")
    return path
