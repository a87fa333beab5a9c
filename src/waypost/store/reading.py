"""Rows to records, and the queries that load endpoints and versions in bulk.

Endpoints are read with their version, deployment and project in one joined
query and their replicas in one more (``selectinload``), however many endpoints
there are: never a query per endpoint.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.orm import Session, selectinload

from waypost.errors import InvalidSpec, NotFound, Problem
from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.store.base import joined_to_project
from waypost.store.records import (
    AliasRecord,
    Desired,
    EndpointRecord,
    EventRecord,
    ReplicaRecord,
    TokenRecord,
    VersionRecord,
)
from waypost.store.tables import (
    Alias,
    Deployment,
    Endpoint,
    Event,
    Project,
    Replica,
    Token,
    Version,
)

__all__ = [
    "DESIRED",
    "alias_record",
    "as_json",
    "event_record",
    "events",
    "load_endpoints",
    "load_versions",
    "one_version",
    "token_record",
]

DESIRED: Mapping[str, Desired] = {"running": "running", "stopped": "stopped"}


def as_json(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``value`` as it will read back from a JSON column; InvalidSpec if it is not JSON."""
    try:
        result: dict[str, Any] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidSpec.of([Problem(f"{what} cannot be stored as JSON: {exc}")]) from exc
    return result


def _replica_record(row: Replica) -> ReplicaRecord:
    return ReplicaRecord(
        replica_id=row.replica_id,
        phase=row.phase,
        address=row.address,
        pid=row.pid,
        started_at=row.started_at,
        restarts=row.restarts,
        exit_code=row.exit_code,
        message=row.message,
    )


_ENDPOINTS = joined_to_project(
    select(
        Endpoint,
        Version.number,
        Version.branch,
        Version.bundle_digest,
        Deployment.name,
        Project.org,
        Project.name,
    )
).options(selectinload(Endpoint.replicas))


def _endpoint_record(row: Row[Endpoint, int, str, str, str, str, str]) -> EndpointRecord:
    ep, number, branch, digest, deployment, org, project = row
    pending = ep.pending_spec
    return EndpointRecord(
        id=ep.id,
        key=UnitKey(org, project, deployment, number, ep.name),
        branch=branch,
        spec=EndpointSpec.from_json(ep.spec),
        pending_spec=EndpointSpec.from_json(pending) if pending is not None else None,
        state=EndpointState(ep.state),
        desired=DESIRED[ep.desired],
        reason=ep.reason,
        state_changed_at=ep.state_changed_at,
        created_at=ep.created_at,
        ever_ready=ep.ever_ready,
        replicas_desired=ep.replicas_desired,
        replicas=tuple(_replica_record(r) for r in ep.replicas),
        bundle_digest=digest,
    )


def load_endpoints(session: Session, *where: ColumnElement[bool]) -> list[EndpointRecord]:
    """Endpoints matching ``where``, by org, project, deployment, version and name."""
    statement = _ENDPOINTS.where(*where).order_by(
        Project.org, Project.name, Deployment.name, Version.number, Endpoint.name
    )
    return [_endpoint_record(row) for row in session.execute(statement)]


def load_versions(
    session: Session, org: str, project: str, deployment: str, *where: ColumnElement[bool]
) -> list[VersionRecord]:
    """Versions of one deployment matching ``where``, ascending, each with its endpoints."""
    rows = session.execute(
        select(Version)
        .join(Deployment, Version.deployment_id == Deployment.id)
        .join(Project, Deployment.project_id == Project.id)
        .where(Project.org == org, Project.name == project, Deployment.name == deployment, *where)
        .order_by(Version.number)
    ).scalars()
    versions = list(rows)
    if not versions:
        return []
    by_version: dict[int, list[EndpointRecord]] = defaultdict(list)
    for ep in load_endpoints(session, Endpoint.version_id.in_([v.id for v in versions])):
        by_version[ep.key.version].append(ep)
    return [
        VersionRecord(
            org=org,
            project=project,
            deployment=deployment,
            number=v.number,
            branch=v.branch,
            created_at=v.created_at,
            created_by=v.created_by,
            bundle_digest=v.bundle_digest,
            bundle_size=v.bundle_size,
            endpoints=tuple(by_version[v.number]),
        )
        for v in versions
    ]


def one_version(
    session: Session, org: str, project: str, deployment: str, number: int
) -> VersionRecord:
    found = load_versions(session, org, project, deployment, Version.number == number)
    if not found:
        raise NotFound(f"there is no version {number} of {org}/{project}/{deployment}")
    return found[0]


def event_record(row: Event) -> EventRecord:
    return EventRecord(
        id=row.id,
        at=row.at,
        kind=row.kind,
        org=row.org,
        project=row.project,
        deployment=row.deployment,
        version=row.version,
        endpoint=row.endpoint,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        actor=row.actor,
        alias=row.alias,
    )


def events(rows: Iterable[Event]) -> list[EventRecord]:
    return [event_record(row) for row in rows]


def alias_record(org: str, project: str, row: Alias) -> AliasRecord:
    return AliasRecord(
        org=org,
        project=project,
        deployment=row.deployment or None,
        name=row.name,
        policy=AliasPolicy.from_json(row.policy),
        updated_at=row.updated_at,
    )


def token_record(row: Token) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        name=row.name,
        token_hash=row.token_hash,
        scope=row.scope,
        project=row.project,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked=row.revoked,
    )
