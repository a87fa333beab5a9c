"""Endpoints of versions: reading them, their lifecycle state, desired state, specs, replicas.

Every change that can alter the gateway's route table (a state, a spec, the set
of replicas and their addresses, a deletion) bumps the route revision in the
same transaction; bookkeeping that routing ignores (desired state and replica
count, a pending spec, a replica's pid or restarts) does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from waypost.errors import Conflict, InvalidSpec, Problem
from waypost.model.lifecycle import EndpointState
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.runtimes.base import ReplicaStatus
from waypost.store.base import (
    StoreBase,
    bump_revision,
    endpoint_not_found,
    key_filter,
    locked_endpoint,
    transition_event,
)
from waypost.store.reading import DESIRED, as_json, load_endpoints
from waypost.store.records import Desired, EndpointRecord
from waypost.store.tables import Deployment, Endpoint, Project, Replica

__all__ = ["EndpointsMixin"]

#: A replica's stored columns other than its endpoint and id.
_Facts = dict[str, Any]
_FACTS = ("phase", "address", "pid", "started_at", "restarts", "exit_code", "message")


class EndpointsMixin(StoreBase):
    def get_endpoint(self, key: UnitKey) -> EndpointRecord:
        with self._read() as session:
            return _one(session, key)

    def list_endpoints(
        self,
        *,
        org: str | None = None,
        project: str | None = None,
        deployment: str | None = None,
        states: Sequence[EndpointState] | None = None,
    ) -> list[EndpointRecord]:
        """Endpoints matching every filter given, by project, deployment, version and name.

        A filter, not a lookup: no match (even of a project that does not exist) is ``[]``.
        """
        where = []
        if org is not None:
            where.append(Project.org == org)
        if project is not None:
            where.append(Project.name == project)
        if deployment is not None:
            where.append(Deployment.name == deployment)
        if states is not None:
            where.append(Endpoint.state.in_([s.value for s in states]))
        with self._read() as session:
            return load_endpoints(session, *where)

    def record_transition(
        self,
        key: UnitKey,
        new_state: EndpointState,
        *,
        reason: str,
        actor: str,
        expect: EndpointState | None = None,
    ) -> EndpointRecord:
        """Move ``key`` to ``new_state`` and write the transition event.

        With ``expect``, a compare-and-set: Conflict unless the state is still ``expect``.
        The row stays locked from the read to the commit, so no other writer can slip in.
        """
        with self._write() as session:
            endpoint_id, current = _locked(session, key, expect)
            now = self._now()
            values: dict[str, Any] = {
                "state": new_state.value,
                "reason": reason,
                "state_changed_at": now,
            }
            if new_state is EndpointState.RUNNING:
                values["ever_ready"] = True
            _update(session, endpoint_id, values)
            transition_event(
                session,
                key,
                at=now,
                from_state=current,
                to_state=new_state.value,
                reason=reason,
                actor=actor,
            )
            bump_revision(session)
            return _one(session, key)

    def record_event(
        self,
        key: UnitKey,
        *,
        kind: str,
        reason: str,
        actor: str,
        expect: EndpointState | None = None,
    ) -> None:
        """Write an event about ``key`` that is not a change of state (a settings change,
        a scaling): the state and its reason stay as they are.

        With ``expect``, Conflict unless the state is still ``expect`` (as ``record_transition``).
        """
        with self._write() as session:
            _, current = _locked(session, key, expect)
            transition_event(
                session,
                key,
                kind=kind,
                at=self._now(),
                from_state=current,
                to_state=current,
                reason=reason,
                actor=actor,
            )

    def set_desired(self, key: UnitKey, desired: Desired) -> EndpointRecord:
        if desired not in DESIRED:
            raise ValueError(f"desired must be 'running' or 'stopped', not {desired!r}")
        return self._change(key, {"desired": desired})

    def set_replicas_desired(self, key: UnitKey, replicas: int) -> EndpointRecord:
        if replicas < 0:
            raise ValueError(f"a replica count cannot be negative: {replicas}")
        return self._change(key, {"replicas_desired": replicas})

    def set_pending_spec(self, key: UnitKey, spec: EndpointSpec | None) -> EndpointRecord:
        """Keep ``spec`` to apply later (a change that needs a stop), or forget it (None)."""
        value = None if spec is None else _spec_json(key, spec)
        return self._change(key, {"pending_spec": value})

    def update_spec(self, key: UnitKey, spec: EndpointSpec) -> EndpointRecord:
        """Replace the spec of ``key`` (visibility and prefix handling feed the route table)."""
        return self._change(key, {"spec": _spec_json(key, spec)}, routing=True)

    def delete_endpoint(self, key: UnitKey, *, actor: str = "system") -> None:
        """Delete ``key`` and its replicas; its events stay, and a "deleted" event joins them."""
        with self._write() as session:
            endpoint_id, current = locked_endpoint(session, key)
            session.execute(delete(Replica).where(Replica.endpoint_id == endpoint_id))
            session.execute(delete(Endpoint).where(Endpoint.id == endpoint_id))
            transition_event(
                session,
                key,
                kind="deleted",
                at=self._now(),
                from_state=current,
                to_state=None,
                reason=f"deleted by {actor}",
                actor=actor,
            )
            bump_revision(session)

    def save_replicas(self, key: UnitKey, replicas: Sequence[ReplicaStatus]) -> bool:
        """Store ``replicas`` as the replicas of ``key``; True if anything changed.

        The route revision moves only if the replica ids, phases or addresses did.
        """
        new: dict[str, _Facts] = {}
        for r in replicas:
            if r.replica_id in new:
                raise ValueError(f"replica {r.replica_id} of {key} is listed twice")
            new[r.replica_id] = {
                "phase": r.phase.value,
                "address": r.address,
                "pid": r.pid,
                "started_at": r.started_at,
                "restarts": r.restarts,
                "exit_code": r.exit_code,
                "message": r.message,
            }
        with self._write() as session:
            endpoint_id, _ = locked_endpoint(session, key)
            stored = session.scalars(select(Replica).where(Replica.endpoint_id == endpoint_id))
            old = {r.replica_id: {name: getattr(r, name) for name in _FACTS} for r in stored}
            if old == new:
                return False
            session.execute(delete(Replica).where(Replica.endpoint_id == endpoint_id))
            if new:
                session.execute(
                    insert(Replica),
                    [
                        {"endpoint_id": endpoint_id, "replica_id": rid, **facts}
                        for rid, facts in new.items()
                    ],
                )
            if _routing_view(old) != _routing_view(new):
                bump_revision(session)
            return True

    def _change(
        self, key: UnitKey, values: dict[str, Any], *, routing: bool = False
    ) -> EndpointRecord:
        with self._write() as session:
            endpoint_id, _ = locked_endpoint(session, key)
            _update(session, endpoint_id, values)
            if routing:
                bump_revision(session)
            return _one(session, key)


def _locked(session: Session, key: UnitKey, expect: EndpointState | None) -> tuple[int, str]:
    """``locked_endpoint``, and with ``expect`` a compare-and-set: Conflict unless the state
    is still ``expect``."""
    endpoint_id, current = locked_endpoint(session, key)
    if expect is not None and current != expect.value:
        raise Conflict(
            f"endpoint {key} is {current} now, not {expect.value}: "
            "it changed meanwhile; look again and retry"
        )
    return endpoint_id, current


def _one(session: Session, key: UnitKey) -> EndpointRecord:
    found = load_endpoints(session, *key_filter(key))
    if not found:
        raise endpoint_not_found(key)
    return found[0]


def _update(session: Session, endpoint_id: int, values: dict[str, Any]) -> None:
    session.execute(
        update(Endpoint)
        .where(Endpoint.id == endpoint_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _spec_json(key: UnitKey, spec: EndpointSpec) -> dict[str, Any]:
    if spec.name != key.endpoint:
        raise InvalidSpec.of(
            [
                Problem(
                    f"the spec is for endpoint {spec.name!r}, not {key.endpoint!r}: "
                    "an endpoint cannot be renamed",
                    field="name",
                )
            ]
        )
    return as_json(spec.to_json(), f"the spec of endpoint {key}")


def _routing_view(replicas: dict[str, _Facts]) -> set[tuple[str, str, str | None]]:
    """What the gateway sees of a set of replicas: id, phase, address."""
    return {(rid, facts["phase"], facts["address"]) for rid, facts in replicas.items()}
