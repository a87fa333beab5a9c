"""Records -> the JSON shapes of the management API (one place, so CLI and console agree)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from waypost.runtimes.base import ReplicaPhase
from waypost.store import (
    DeploymentRecord,
    EndpointRecord,
    EventRecord,
    ProjectRecord,
    ReplicaRecord,
    VersionRecord,
)

__all__ = ["deployment_json", "endpoint_json", "event_json", "project_json", "version_json"]


def endpoint_url(gateway_url: str, key: str) -> str:
    return f"{gateway_url}/{key}/"


def replica_json(r: ReplicaRecord, now: float) -> dict[str, Any]:
    up = r.phase in (ReplicaPhase.READY.value, ReplicaPhase.STARTING.value, "unhealthy")
    return {
        "id": r.replica_id,
        "phase": r.phase,
        "address": r.address,
        "pid": r.pid,
        "restarts": r.restarts,
        "started_at": _iso_unix(r.started_at),
        "uptime": round(now - r.started_at, 3) if up and r.started_at else 0.0,
        "exit_code": r.exit_code,
        "message": r.message,
    }


def endpoint_json(ep: EndpointRecord, gateway_url: str) -> dict[str, Any]:
    now = time.time()
    return {
        "id": ep.id,
        "key": ep.key.id,
        "project": f"{ep.key.org}/{ep.key.project}",
        "deployment": ep.key.deployment,
        "version": ep.key.version,
        "name": ep.key.endpoint,
        "branch": ep.branch,
        "kind": ep.spec.kind,
        "target": ep.spec.target,
        "state": ep.state.value,
        "desired": ep.desired,
        "reason": ep.reason,
        "state_changed_at": ep.state_changed_at.isoformat(),
        "created_at": ep.created_at.isoformat(),
        "url": endpoint_url(gateway_url, ep.key.id),
        "replicas": {
            "desired": ep.replicas_desired,
            "ready": sum(1 for r in ep.replicas if r.phase == ReplicaPhase.READY.value),
            "items": [replica_json(r, now) for r in ep.replicas],
        },
        "spec": ep.spec.to_json(),
        "pending_spec": ep.pending_spec.to_json() if ep.pending_spec else None,
    }


def version_json(v: VersionRecord, gateway_url: str) -> dict[str, Any]:
    return {
        "project": f"{v.org}/{v.project}",
        "deployment": v.deployment,
        "branch": v.branch,
        "version": v.number,
        "created_at": v.created_at.isoformat(),
        "created_by": v.created_by,
        "bundle_digest": v.bundle_digest,
        "bundle_size": v.bundle_size,
        "endpoints": [endpoint_json(ep, gateway_url) for ep in v.endpoints],
    }


def deployment_json(d: DeploymentRecord, latest: int | None) -> dict[str, Any]:
    return {
        "project": f"{d.org}/{d.project}",
        "name": d.name,
        "branch": d.branch,
        "created_at": d.created_at.isoformat(),
        "versions": list(d.versions),
        "latest": latest,
    }


def project_json(p: ProjectRecord) -> dict[str, Any]:
    return {
        "org": p.org,
        "project": p.name,
        "deployments": p.deployments,
        "created_at": p.created_at.isoformat(),
    }


def event_json(e: EventRecord) -> dict[str, Any]:
    endpoint = None
    if e.deployment and e.version is not None and e.endpoint:
        endpoint = f"{e.org}/{e.project}/{e.deployment}/{e.version}/{e.endpoint}"
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "kind": e.kind,
        "project": f"{e.org}/{e.project}",
        "from_state": e.from_state,
        "to_state": e.to_state,
        "reason": e.reason,
        "actor": e.actor,
        "endpoint": endpoint,
    }


def _iso_unix(ts: float) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()
