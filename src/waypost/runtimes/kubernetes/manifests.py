"""The Kubernetes objects of one unit (an endpoint of a version): pure ``Workload`` -> dicts.

Per unit:

- ``Deployment``: the pods (``podspec``); never carries ``spec.replicas``, which
  belongs to the ``scale`` subresource (waypost's autoscaler) — a field left out of
  a server-side apply is not reset by it, so the two never fight;
- ``Service``: a stable name for the pods, whose EndpointSlices tell the runtime
  each ready pod's IP:port (gateways talk to pods directly; the Service is also
  what Gateway API ``HTTPRoute``s point at);
- ``Secret``: the short-lived bundle token and the project's secrets;
- ``PodDisruptionBudget`` (``maxUnavailable: 1``) when the endpoint may have more
  than one replica: a node drain then takes them one at a time, and one replica
  alone can still be moved;
- ``HorizontalPodAutoscaler`` on CPU, only when asked (``cpu_target``).

Every object carries the unit's labels and its key as an annotation; all but the
Deployment name it as their owner (``with_owner``), so deleting the Deployment lets
the garbage collector delete the rest.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from waypost.runtimes.base import Workload
from waypost.runtimes.kubernetes.naming import (
    ANNOTATION_KEY,
    ANNOTATION_SPEC,
    ANNOTATION_TOKEN_AT,
    object_name,
    secret_name,
    selector,
    unit_labels,
)
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.kubernetes.podspec import pod_template, replica_port, secret_env_key

__all__ = [
    "SERVICE_PORT",
    "UnitManifests",
    "hpa_manifest",
    "secret_manifest",
    "unit_manifests",
    "with_owner",
]

#: The port of every unit's Service (pods listen on the spec's port).
SERVICE_PORT = 80


@dataclass(frozen=True)
class UnitManifests:
    deployment: dict[str, Any]
    service: dict[str, Any]
    secret: dict[str, Any]
    pdb: dict[str, Any] | None
    hpa: dict[str, Any] | None
    #: Hash of everything but the Secret: the Deployment is re-applied when it changes.
    spec_hash: str

    def owned(self) -> Iterator[dict[str, Any]]:
        """The objects the Deployment owns, in the order they are applied."""
        yield self.secret
        yield self.service
        if self.pdb is not None:
            yield self.pdb
        if self.hpa is not None:
            yield self.hpa

    def all(self) -> list[dict[str, Any]]:
        return [self.secret, self.deployment, *(o for o in self.owned() if o is not self.secret)]


def _metadata(workload: Workload, name: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": unit_labels(workload.key),
        "annotations": {ANNOTATION_KEY: workload.key.id},
    }


def secret_manifest(
    workload: Workload, namespace: str, *, token: str, minted_at: float | None = None
) -> dict[str, Any]:
    data = {"token": token}
    data.update({secret_env_key(k): v for k, v in workload.env.items()})
    meta = _metadata(workload, secret_name(workload.key), namespace)
    if minted_at is not None:
        meta["annotations"][ANNOTATION_TOKEN_AT] = f"{minted_at:.0f}"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())},
    }


def _deployment(workload: Workload, options: KubernetesOptions) -> dict[str, Any]:
    key = workload.key
    spec = workload.spec
    deadline = max(options.progress_deadline, int(spec.health.startup_timeout) + 120)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(workload, object_name(key), options.namespace),
        "spec": {
            "selector": {"matchLabels": selector(key)},
            "progressDeadlineSeconds": deadline,
            "revisionHistoryLimit": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": pod_template(workload, options, labels=unit_labels(key)),
        },
    }


def _service(workload: Workload, options: KubernetesOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(workload, object_name(workload.key), options.namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(workload.key),
            "ports": [
                {
                    "name": "http",
                    "port": SERVICE_PORT,
                    "targetPort": replica_port(workload.spec, options),
                    "protocol": "TCP",
                }
            ],
        },
    }


def _pdb(workload: Workload, options: KubernetesOptions) -> dict[str, Any] | None:
    if workload.spec.replicas.max <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(workload, object_name(workload.key), options.namespace),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(workload.key)}},
    }


def hpa_manifest(
    workload: Workload, options: KubernetesOptions, *, cpu_target: float, min_replicas: int = 1
) -> dict[str, Any]:
    """A CPU HPA between ``min_replicas`` (waypost's autoscaler moves it) and the spec's max.

    ``cpu_target`` is the average CPU use to keep, as a share of the request (0.7 = 70%).
    """
    name = object_name(workload.key)
    high = max(1, workload.spec.replicas.max)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(workload, name, options.namespace),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min(max(1, min_replicas), high),
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": max(1, round(cpu_target * 100)),
                        },
                    },
                }
            ],
        },
    }


def unit_manifests(
    workload: Workload,
    options: KubernetesOptions,
    *,
    token: str = "",
    minted_at: float | None = None,
    cpu_target: float | None = None,
) -> UnitManifests:
    deployment = _deployment(workload, options)
    service = _service(workload, options)
    pdb = _pdb(workload, options)
    hpa = None
    if cpu_target is not None and workload.spec.resources.cpu is not None:
        hpa = hpa_manifest(workload, options, cpu_target=cpu_target)
    digest = _hash([deployment, service, pdb, hpa is not None])
    deployment["metadata"]["annotations"][ANNOTATION_SPEC] = digest
    secret = secret_manifest(workload, options.namespace, token=token, minted_at=minted_at)
    return UnitManifests(deployment, service, secret, pdb, hpa, digest)


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def with_owner(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` owned by ``owner`` (an object as the API server returned it, with its uid)."""
    meta = owner["metadata"]
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    out = dict(obj)
    out["metadata"] = {**obj["metadata"], "ownerReferences": [ref]}
    return out
