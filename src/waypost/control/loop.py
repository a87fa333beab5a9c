"""The reconciler loop: observe the runtime, ``decide`` per endpoint, apply the decisions.

All judgement lives in pure functions (``reconcile.decide``, ``autoscale``,
``crashes.track_crashes``); this module reads, calls the runtime, and records
what happened. What it keeps in memory can be lost without harm, so a control
plane killed at any moment converges again when it starts:

- in-flight builds: a Building endpoint simply gets its build started again
  (builds are idempotent and cached by the runtime);
- the autoscaler's state: seeded again from the stored replica count;
- crash counts: the runtime starts fresh replicas after a restart anyway.

Replicas get their project's secrets as environment variables: each pass decrypts a
project's secrets at most once, when one of its endpoints is scaled. A replica keeps
the environment it started with, so a changed secret reaches replicas started after
the change; restarting the endpoint applies it to all of them.

Desired state (state, desired, replica count, a wake, the pending spec) is in
the store.

Each pass stores the observed replicas first, then applies the decision: so the
route table never shows a new state (Running after a wake, say) before the
replicas that justify it. A decision with a trigger records it first (a
compare-and-set on the state read) and touches the runtime only if that won.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from waypost.control.autoscale import AutoscaleConfig, AutoscaleState, autoscale, explain
from waypost.control.blobs import BundleStore
from waypost.control.crashes import CrashHistory, track_crashes
from waypost.control.endpoint_settings import spec_changes
from waypost.control.reconcile import Decision, Observed, Unit, decide, desired_replicas
from waypost.control.secrets import SecretBox, project_environment
from waypost.control.traffic import TrafficBook
from waypost.control.watch import ChangeSignal
from waypost.errors import BuildFailed, Conflict, InvalidSpec, NotFound, WaypostError
from waypost.model.lifecycle import EndpointState, transition
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus, Runtime, Workload
from waypost.store import EndpointRecord, ReplicaRecord, Store

__all__ = ["Reconciler"]

log = logging.getLogger("waypost.reconciler")

S = EndpointState
#: States whose replicas' crashes count towards a crash loop.
_WATCHED = frozenset({S.STARTUP, S.RUNNING, S.SLEEPING})
_TAIL = 20


@dataclass
class _Build:
    task: asyncio.Task[None]
    outcome: str = "running"  # running | ok | failed
    error: str = ""


class Reconciler:
    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        bundles: BundleStore,
        changes: ChangeSignal,
        traffic: TrafficBook | None = None,
        *,
        interval: float = 0.2,
        clock: Callable[[], float] = time.time,
        secret_box: SecretBox | None = None,
        models_dir: Path | None = None,
        resolve_spec: Callable[[EndpointSpec], EndpointSpec] = lambda spec: spec,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.bundles = bundles
        self.changes = changes
        self.traffic = traffic if traffic is not None else TrafficBook()
        self.interval = interval
        self._clock = clock
        # Nothing is known of traffic before this: idle periods start here at the earliest.
        self._started_at = clock()
        self._builds: dict[UnitKey, _Build] = {}
        self._scaling: dict[UnitKey, AutoscaleState] = {}
        self._crashes: dict[UnitKey, CrashHistory] = {}
        self._wake = asyncio.Event()
        #: Without a box, replicas get no secrets (tests and embedders that need none).
        self._secret_box = secret_box
        #: This pass's decrypted secrets by (org, project): read once per pass per project.
        self._secrets: dict[tuple[str, str], Mapping[str, str]] = {}
        #: Where the model store keeps files by digest (``runtime`` endpoints' models).
        self._models_dir = models_dir
        #: The spec as replicas get it: a named cloud resource resolved to its CPU and memory.
        self._resolve_spec = resolve_spec

    def poke(self) -> None:
        """Run the next pass now rather than after the interval."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("reconcile pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def close(self) -> None:
        for build in self._builds.values():
            build.task.cancel()
        for build in self._builds.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await build.task

    async def tick(self) -> None:
        self._secrets = {}  # a pass sees the secrets as they are now
        endpoints = await asyncio.to_thread(self.store.list_endpoints)
        observed = await self.runtime.observe()
        now = self._clock()
        waiting = self.traffic.waiting(now)
        known = {ep.key for ep in endpoints}
        for ep in endpoints:
            await self._reconcile(ep, observed.get(ep.key, ()), now, ep.key.id in waiting)
        for key in set(observed) - known:  # deleted endpoints: release their replicas
            await self.runtime.remove(key)
        for key in set(self._builds) - known:
            self._builds.pop(key).task.cancel()
        for memory in (self._scaling, self._crashes):
            for key in set(memory) - known:
                del memory[key]

    async def _reconcile(
        self, ep: EndpointRecord, replicas: Sequence[ReplicaStatus], now: float, waiting: bool
    ) -> None:
        if _replicas_changed(ep.replicas, replicas):
            with contextlib.suppress(NotFound):  # deleted meanwhile: the next pass releases it
                if await asyncio.to_thread(self.store.save_replicas, ep.key, replicas):
                    self.changes.notify()
        build = self._builds.get(ep.key)
        if ep.state is not S.BUILDING and build and build.task.done():
            del self._builds[ep.key]
            build = None
        crashes = self._track_crashes(ep, replicas, now)
        unit = Unit(
            state=ep.state,
            desired=ep.desired,
            replicas_desired=ep.replicas_desired,
            min_replicas=ep.spec.replicas.min,
            max_replicas=ep.spec.replicas.max,
            idle_timeout=ep.spec.autoscaling.idle_timeout,
            reason=ep.reason,
            has_pending=ep.pending_spec is not None,
            autoscaled=await self._autoscale(ep, now),
        )
        observed = Observed(
            replicas=replicas,
            build="none" if build is None else build.outcome,  # type: ignore[arg-type]
            build_error=build.error if build else "",
            crashes=crashes.count,
            quiet_since=self._quiet_since(ep),
            waiting=waiting,
        )
        await self._apply(ep, decide(unit, observed, now))

    # Inputs ------------------------------------------------------------------------------

    def _track_crashes(
        self, ep: EndpointRecord, replicas: Sequence[ReplicaStatus], now: float
    ) -> CrashHistory:
        # Replicas being stopped are on their way out: their crashes are old news.
        live = [r for r in replicas if r.phase is not ReplicaPhase.STOPPING]
        history = track_crashes(self._crashes.get(ep.key, CrashHistory()), live, now)
        if ep.state not in _WATCHED or ep.desired == "stopped":
            history = CrashHistory(seen=history.seen)  # a new deploy starts with a clean slate
        self._crashes[ep.key] = history
        return history

    async def _autoscale(self, ep: EndpointRecord, now: float) -> int | None:
        """The autoscaler's count for a Running endpoint (stored, with an event, on a change)."""
        if ep.state is not S.RUNNING or ep.desired != "running":
            self._scaling.pop(ep.key, None)
            return None
        replicas = ep.spec.replicas
        current = desired_replicas(ep.replicas_desired, replicas.min, replicas.max)
        config = AutoscaleConfig.from_spec(ep.spec)
        state = self._scaling.get(ep.key) or AutoscaleState(replicas=current)
        count, state = autoscale(config, self.traffic.samples(ep.key.id, now), state, now)
        self._scaling[ep.key] = state
        if count != current:
            with contextlib.suppress(Conflict, NotFound):
                await asyncio.to_thread(self.store.set_replicas_desired, ep.key, count)
                await asyncio.to_thread(
                    self.store.record_event,
                    ep.key,
                    kind="scaled",
                    reason=explain(current, count, config, state),
                    actor="system",
                    expect=S.RUNNING,
                )
        return count

    def _quiet_since(self, ep: EndpointRecord) -> float:
        last_request = self.traffic.last_request_at(ep.key.id) or 0.0
        return max(last_request, ep.state_changed_at.timestamp(), self._started_at)

    # Effects -----------------------------------------------------------------------------

    async def _apply(self, ep: EndpointRecord, decision: Decision) -> None:
        if decision.apply_pending:
            await self._apply_pending(ep)
            return
        if decision.start_build:
            self._start_build(ep)
        if decision.replicas_desired is not None and decision.replicas_desired != (
            ep.replicas_desired
        ):
            with contextlib.suppress(NotFound):
                await asyncio.to_thread(
                    self.store.set_replicas_desired, ep.key, decision.replicas_desired
                )
        if decision.trigger is not None and not await self._record(ep, decision):
            return  # a user acted meanwhile: the next pass decides afresh
        if decision.scale_to is not None:
            await self._scale(ep, decision.scale_to)

    async def _record(self, ep: EndpointRecord, decision: Decision) -> bool:
        if decision.trigger is None:
            return True
        reason = decision.reason
        if decision.log_tail:
            reason += await self._log_tail(ep.key)
        try:
            await asyncio.to_thread(
                self.store.record_transition,
                ep.key,
                transition(ep.state, decision.trigger),
                reason=reason,
                actor="system",
                expect=ep.state,
            )
        except (Conflict, NotFound):
            return False
        self.changes.notify()
        self.poke()
        return True

    async def _scale(self, ep: EndpointRecord, replicas: int) -> None:
        try:
            workload = await self._workload(ep, await self._environment(ep.key))
            await self.runtime.scale(workload, replicas)
        except WaypostError as exc:
            log.warning("scaling %s failed: %s", ep.key, exc)

    async def _log_tail(self, key: UnitKey) -> str:
        try:
            chunk = await self.runtime.read_logs(key, tail=_TAIL)
        except (OSError, WaypostError):
            return ""
        text = chunk.text.rstrip()
        return f"\n--- last {_TAIL} lines of its log ---\n{text}" if text else ""

    async def _apply_pending(self, ep: EndpointRecord) -> None:
        """A start or restart takes the settings that waited for it."""
        pending = ep.pending_spec
        if pending is None:
            return
        with contextlib.suppress(NotFound):
            await asyncio.to_thread(self.store.update_spec, ep.key, pending)
            await asyncio.to_thread(self.store.set_pending_spec, ep.key, None)
            await asyncio.to_thread(
                self.store.record_event,
                ep.key,
                kind="settings",
                reason="pending settings applied: " + "; ".join(spec_changes(ep.spec, pending)),
                actor="system",
            )
        self.changes.notify()
        self.poke()

    async def _environment(self, key: UnitKey) -> Mapping[str, str]:
        """The decrypted secrets of ``key``'s project, read at most once per pass."""
        project = (key.org, key.project)
        if self._secret_box is None:
            return {}
        if project not in self._secrets:
            self._secrets[project] = await asyncio.to_thread(
                project_environment, self.store, self._secret_box, *project
            )
        return self._secrets[project]

    async def _workload(self, ep: EndpointRecord, env: Mapping[str, str]) -> Workload:
        """What the runtime runs; ``env`` is the project's secrets (none for a build)."""
        model_dir, model_task = await self._model_of(ep.spec)
        try:
            spec = self._resolve_spec(ep.spec)
        except InvalidSpec as exc:  # a preset the installation no longer has
            raise BuildFailed(exc.message) from exc
        return Workload(
            key=ep.key,
            spec=spec,
            bundle=self.bundles.path(ep.bundle_digest),
            bundle_digest=ep.bundle_digest,
            env=env,
            model_dir=model_dir,
            model_task=model_task,
        )

    async def _model_of(self, spec: EndpointSpec) -> tuple[Path | None, str | None]:
        """The model store's files and task for ``spec.model``; (None, None) if it has none."""
        if spec.model is None or self._models_dir is None:
            return None, None
        owner, _, name = spec.model.partition("/")
        try:
            record = await asyncio.to_thread(self.store.get_model, owner, name)
        except NotFound:
            return None, None
        return self._models_dir / record.digest, record.task

    def _start_build(self, ep: EndpointRecord) -> None:
        # Only replicas get secrets: a build needs none, and a key problem must not fail it.
        build = _Build(task=asyncio.create_task(asyncio.sleep(0)))

        async def run_build() -> None:
            try:
                workload = await self._workload(ep, {})
                await self.runtime.build(workload, lambda line: None)
                build.outcome = "ok"
            except BuildFailed as exc:
                build.outcome, build.error = "failed", exc.message
            except Exception as exc:  # a bug in a build must still end as BuildingFailed
                log.exception("build of %s crashed", ep.key)
                build.outcome, build.error = "failed", f"internal error while building: {exc}"
            self.poke()

        build.task = asyncio.create_task(run_build(), name=f"build {ep.key}")
        self._builds[ep.key] = build


def _replicas_changed(stored: Sequence[ReplicaRecord], seen: Sequence[ReplicaStatus]) -> bool:
    def as_tuple_stored(r: ReplicaRecord) -> tuple[object, ...]:
        return (r.replica_id, r.phase, r.address, r.pid, r.restarts, r.exit_code, r.message)

    def as_tuple_seen(r: ReplicaStatus) -> tuple[object, ...]:
        return (r.replica_id, r.phase.value, r.address, r.pid, r.restarts, r.exit_code, r.message)

    return sorted(map(as_tuple_stored, stored), key=repr) != sorted(
        map(as_tuple_seen, seen), key=repr
    )
