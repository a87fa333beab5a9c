"""The reconciler loop: observe the runtime, ``decide`` per endpoint, apply the decisions.

All judgement lives in ``reconcile.decide``; this module only reads, calls the
runtime, and records what happened. It keeps the state of in-flight builds in
memory: after a restart a Building endpoint simply gets its build started again
(builds are idempotent and cached by the runtime).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from waypost.control.blobs import BundleStore
from waypost.control.reconcile import Decision, Observed, decide, desired_replicas
from waypost.control.watch import ChangeSignal
from waypost.errors import BuildFailed, Conflict, NotFound, WaypostError
from waypost.model.lifecycle import EndpointState, transition
from waypost.model.prefix import UnitKey
from waypost.runtimes.base import ReplicaStatus, Runtime, Workload
from waypost.store import EndpointRecord, ReplicaRecord, Store

__all__ = ["Reconciler"]

log = logging.getLogger("waypost.reconciler")


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
        *,
        interval: float = 0.2,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.bundles = bundles
        self.changes = changes
        self.interval = interval
        self._builds: dict[UnitKey, _Build] = {}
        self._wake = asyncio.Event()

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
        endpoints = await asyncio.to_thread(self.store.list_endpoints)
        observed = await self.runtime.observe()
        known = {ep.key for ep in endpoints}
        for ep in endpoints:
            await self._reconcile(ep, observed.get(ep.key, ()))
        for key in set(observed) - known:  # deleted endpoints: release their replicas
            await self.runtime.remove(key)
        for key in set(self._builds) - known:
            self._builds.pop(key).task.cancel()

    async def _reconcile(self, ep: EndpointRecord, replicas: Sequence[ReplicaStatus]) -> None:
        build = self._builds.get(ep.key)
        if ep.state is not EndpointState.BUILDING and build and build.task.done():
            del self._builds[ep.key]
            build = None
        observed = Observed(
            replicas=replicas,
            build="none" if build is None else build.outcome,  # type: ignore[arg-type]
            build_error=build.error if build else "",
        )
        count = desired_replicas(ep.replicas_desired, ep.spec.replicas.min)
        decision = decide(ep.state, ep.desired, count, observed)
        await self._apply(ep, decision)
        if not _replicas_changed(ep.replicas, replicas):
            return
        with contextlib.suppress(NotFound):  # deleted during this pass: the next one releases it
            if await asyncio.to_thread(self.store.save_replicas, ep.key, replicas):
                self.changes.notify()

    async def _apply(self, ep: EndpointRecord, decision: Decision) -> None:
        if decision.start_build:
            self._start_build(ep)
        if decision.scale_to is not None:
            try:
                await self.runtime.scale(self._workload(ep), decision.scale_to)
            except WaypostError as exc:
                log.warning("scaling %s failed: %s", ep.key, exc)
        if decision.trigger is not None:
            new_state = transition(ep.state, decision.trigger)
            with contextlib.suppress(Conflict, NotFound):  # a user acted meanwhile: next pass
                await asyncio.to_thread(
                    self.store.record_transition,
                    ep.key,
                    new_state,
                    reason=decision.reason,
                    actor="system",
                    expect=ep.state,
                )
                self.changes.notify()
                self.poke()

    def _workload(self, ep: EndpointRecord) -> Workload:
        return Workload(
            key=ep.key,
            spec=ep.spec,
            bundle=self.bundles.path(ep.bundle_digest),
            bundle_digest=ep.bundle_digest,
        )

    def _start_build(self, ep: EndpointRecord) -> None:
        workload = self._workload(ep)
        build = _Build(task=asyncio.create_task(asyncio.sleep(0)))

        async def run_build() -> None:
            try:
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
