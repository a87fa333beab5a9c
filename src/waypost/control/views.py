"""Records -> the JSON shapes of the management API (one place, so CLI and console agree)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from waypost.control.alias_facts import alias_prefix
from waypost.control.aliases import AliasView
from waypost.control.endpoint_settings import spec_changes
from waypost.runtimes.base import ReplicaPhase
from waypost.store import (
    DeploymentRecord,
    EndpointRecord,
    EventRecord,
    ProjectRecord,
    ReplicaRecord,
    VersionRecord,
)

__all__ = [
    "alias_event_json",
    "alias_json",
    "deployment_json",
    "endpoint_json",
    "event_json",
    "project_json",
    "version_json",
]


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
            "min": ep.spec.replicas.min,
            "max": ep.spec.replicas.max,
            "items": [replica_json(r, now) for r in ep.replicas],
        },
        "spec": ep.spec.to_json(),
        "pending_spec": ep.pending_spec.to_json() if ep.pending_spec else None,
        # What the next start or restart changes, e.g. "resources.cpu none → 2".
        "pending_changes": spec_changes(ep.spec, ep.pending_spec) if ep.pending_spec else [],
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


def alias_json(view: AliasView, gateway_url: str) -> dict[str, Any]:
    """An alias, its URL, its policy and the last minute of traffic per backend and mirror.

    A backend's ``target`` is the key it routes to now: ``org/project/dep/3/web``, or
    ``org/project/dep/3`` when it names no endpoint and the version has several; null
    when it routes nowhere yet (``latest`` before any version ran).
    """
    a = view.record
    prefix = alias_prefix(a.org, a.project, a.deployment, a.name)
    return {
        "project": f"{a.org}/{a.project}",
        "name": a.name,
        "deployment": a.deployment,
        "prefix": prefix,
        "url": f"{gateway_url}/{prefix}/",
        "policy": a.policy.to_json(),
        "updated_at": a.updated_at.isoformat(),
        "stats": {
            "backends": [
                {
                    "name": b.name,
                    "weight": b.weight,
                    "share": round(b.share, 6),
                    "target": b.target,
                    "requests_1m": b.requests,
                    "errors_1m": b.errors,
                    "error_rate": round(b.error_rate, 6),
                }
                for b in view.live.backends
            ],
            "mirrors": [
                {
                    "name": m.name,
                    "target": m.target,
                    "requests_1m": m.requests,
                    "errors_1m": m.errors,
                    "dropped_1m": m.dropped,
                }
                for m in view.live.mirrors
            ],
        },
    }


def alias_event_json(e: EventRecord) -> dict[str, Any]:
    """A change of an alias: who, when, and the policy before and after (null: none)."""
    old, new = _policy_change(e.reason)
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "project": f"{e.org}/{e.project}",
        "deployment": e.deployment,
        "alias": e.alias,
        "reason": e.reason,
        "old": old,
        "new": new,
    }


def _policy_change(reason: str) -> tuple[Any, Any]:
    """The two policies of an alias event's reason, ``alias NAME: OLD → NEW``.

    The JSON is written with ASCII escapes, so the arrow only ever appears as the separator.
    """
    _, _, change = reason.partition(": ")
    old, arrow, new = change.partition(" → ")
    if not arrow:
        return None, None
    try:
        return _policy_or_none(old), _policy_or_none(new)
    except ValueError:
        return None, None


def _policy_or_none(text: str) -> Any:
    return None if text == "none" else json.loads(text)


def _iso_unix(ts: float) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()
