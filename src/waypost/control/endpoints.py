"""Use cases on one endpoint of a version: lifecycle actions, settings, deletion.

Each one reads the endpoint, asks the lifecycle table whether the action fits
(409 with a sentence if not), and writes with a compare-and-set on the state it
read first, so a change that raced it is refused rather than half applied. The
reconciler does the rest (placing, stopping, waking replicas) on its next pass.
"""

from __future__ import annotations

from typing import Literal

from waypost.control.endpoint_settings import SettingsPatch, patched, spec_changes
from waypost.control.reconcile import desired_replicas
from waypost.control.service import ControlService
from waypost.errors import InvalidSpec, Problem
from waypost.model.lifecycle import Trigger, outcome, pending_until_restart, transition
from waypost.model.prefix import UnitKey
from waypost.runtimes.base import Runtime
from waypost.store import EndpointRecord

__all__ = ["ACTIONS", "EndpointActions"]

#: The actions ``act`` takes (update and delete have their own methods).
ACTIONS = (Trigger.STOP, Trigger.START, Trigger.RESTART, Trigger.WAKE)


class EndpointActions:
    def __init__(self, service: ControlService, runtime: Runtime) -> None:
        self.service = service
        self.store = service.store
        self.runtime = runtime

    async def get(self, key: UnitKey) -> EndpointRecord:
        return await self.service.db(self.store.get_endpoint, key)

    async def act(self, key: UnitKey, trigger: Trigger, *, actor: str) -> EndpointRecord:
        """Stop, start, restart or wake: refused with 409 when it does not fit the state.

        A start or restart takes the pending spec (the reconciler applies it before
        placing replicas); a wake stores a replica count above zero, which the
        reconciler reads as "waking" even after a restart of the control plane.
        """
        if trigger not in ACTIONS:
            raise ValueError(f"{trigger.value} is not an action on an endpoint")
        record = await self.get(key)
        new_state = transition(record.state, trigger)
        woken = trigger is Trigger.WAKE
        # The compare-and-set comes first: if another change won, nothing is altered.
        await self.service.db(
            self.store.record_transition,
            key,
            new_state,
            reason=f"woken by {actor}" if woken else f"{trigger.value} asked by {actor}",
            actor=actor,
            expect=record.state,
        )
        if woken:
            spec = record.spec.replicas
            count = desired_replicas(record.replicas_desired, spec.min, spec.max)
            updated = await self.service.db(self.store.set_replicas_desired, key, count)
            self.service.on_waiting()
        else:
            desired: Literal["running", "stopped"] = (
                "stopped" if trigger is Trigger.STOP else "running"
            )
            updated = await self.service.db(self.store.set_desired, key, desired)
        self.service.changes.notify()
        return updated

    async def update(self, key: UnitKey, patch: SettingsPatch, *, actor: str) -> EndpointRecord:
        """Change settings: live ones at once; ones that need new replicas at once while
        nothing runs, else into the pending spec for the next start or restart."""
        record = await self.get(key)
        outcome(record.state, Trigger.UPDATE)
        limits = self.service.settings.limits
        if pending_until_restart(record.state):
            spec = patched(record.spec, patch, limits, restart=False)
            pending = None
            if patch.restart or record.pending_spec is not None:
                pending = patched(record.pending_spec or record.spec, patch, limits)
                if pending == spec:
                    pending = None  # changed back to what runs: nothing waits any more
        else:
            spec = patched(record.pending_spec or record.spec, patch, limits)
            pending = None
        if spec == record.spec and pending == record.pending_spec:
            return record
        now = spec_changes(record.spec, spec)
        later = spec_changes(spec, pending) if pending is not None else []
        parts = ["; ".join(now)] if now else []
        if later:
            parts.append("after the next restart: " + "; ".join(later))
        elif record.pending_spec is not None and pending is None and spec == record.spec:
            parts.append("nothing waits for a restart any more")
        reason = f"settings changed by {actor}: " + " — ".join(parts)
        await self.service.db(
            self.store.record_event,
            key,
            kind="settings",
            reason=reason,
            actor=actor,
            expect=record.state,
        )
        if spec != record.spec:
            await self.service.db(self.store.update_spec, key, spec)
        if pending != record.pending_spec:
            await self.service.db(self.store.set_pending_spec, key, pending)
        self.service.changes.notify()
        return await self.get(key)

    async def delete(self, key: UnitKey, *, confirm: str | None, actor: str) -> None:
        """Remove the endpoint, its replicas and its logs; its URL answers 404 from now on.

        ``confirm`` must be the endpoint's name, so a slip of the keyboard deletes nothing.
        Its events stay, with a "deleted" one added.
        """
        record = await self.get(key)
        if confirm != key.endpoint:
            given = "nothing" if confirm is None else repr(confirm)
            raise InvalidSpec.of(
                [
                    Problem(
                        f"to delete {key}, confirm with the endpoint's name: "
                        f"confirm={key.endpoint} (got {given})",
                        field="confirm",
                    )
                ]
            )
        outcome(record.state, Trigger.DELETE)
        # The store first: from here on the reconciler no longer places its replicas.
        await self.service.db(self.store.delete_endpoint, key, actor=actor)
        await self.runtime.remove(key)
        self.service.changes.notify()
