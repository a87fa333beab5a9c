"""``waypost k8s install``'s manifests: control plane, gateways, RBAC, NetworkPolicy. Pure.

- **Control plane**: one replica (the reconciler is a single writer; ``Recreate``
  so two never overlap) running ``waypost up --runtime kubernetes --no-gateway``,
  its database URL from a Secret (PostgreSQL), its home (bundles) on a
  PersistentVolumeClaim, the gateway token mounted where it looks for it.
- **Gateways**: N replicas of ``python -m waypost.gateway`` behind a Service, with
  a PodDisruptionBudget, a preStop drain, and the same token.
- **RBAC**: a ServiceAccount and, per managed namespace, a Role and RoleBinding
  with exactly what the runtime does there (apply, scale, watch, delete; read pod
  logs) — no ClusterRole.
- **NetworkPolicy** per managed namespace: replicas accept traffic only from the
  gateways (kubelet probes come from the node and are not subject to it on the
  common CNIs).

The gateway token is a value the caller passes (the CLI makes a random one);
objects marked ``waypost.io/create-only`` are made once and never overwritten, so
installing again does not rotate it under running gateways.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from waypost.runtimes.kubernetes.naming import COMPONENT_REPLICA, LABEL_COMPONENT, LABEL_MANAGED

__all__ = ["CREATE_ONLY", "InstallOptions", "install_manifests"]

CREATE_ONLY = "waypost.io/create-only"
APP = "app.kubernetes.io/name"
CONTROL = "waypost-control"
GATEWAY = "waypost-gateway"
HOME = "/var/lib/waypost"
TOKEN_DIR = "/var/run/waypost/gateway"


@dataclass(frozen=True)
class InstallOptions:
    namespace: str = "waypost"
    #: Where replicas run; the control plane's namespace when empty.
    managed_namespaces: tuple[str, ...] = ()
    image: str = "waypost:latest"
    gateway_replicas: int = 2
    gateway_workers: int = 2
    gateway_service_type: str = "ClusterIP"
    api_port: int = 8081
    gateway_port: int = 8080
    #: Secret with key ``url`` holding the PostgreSQL URL; rendered when ``database_url`` is given.
    database_secret: str = "waypost-database"
    database_url: str | None = None
    storage: str = "10Gi"
    storage_class: str | None = None

    @property
    def managed(self) -> tuple[str, ...]:
        return self.managed_namespaces or (self.namespace,)

    @property
    def api_url(self) -> str:
        return f"http://{CONTROL}.{self.namespace}.svc:{self.api_port}"


def _labels(component: str) -> dict[str, str]:
    return {APP: "waypost", LABEL_COMPONENT: component, LABEL_MANAGED: "waypost"}


def _meta(name: str, namespace: str | None, component: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels(component)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _secret(
    name: str, namespace: str, data: dict[str, str], *, create_only: bool
) -> dict[str, Any]:
    meta = _meta(name, namespace, "config")
    if create_only:
        meta["annotations"] = {CREATE_ONLY: "true"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _role(namespace: str, sa_namespace: str) -> list[dict[str, Any]]:
    rules = [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]},
        {
            "apiGroups": [""],
            "resources": ["services", "secrets"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["policy"],
            "resources": ["poddisruptionbudgets"],
            "verbs": ["get", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": ["get", "create", "update", "patch", "delete"],
        },
    ]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta("waypost-runtime", namespace, "rbac"),
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta("waypost-runtime", namespace, "rbac"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "waypost-runtime",
        },
        "subjects": [{"kind": "ServiceAccount", "name": CONTROL, "namespace": sa_namespace}],
    }
    return [role, binding]


def _network_policy(namespace: str, gateway_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("waypost-replicas", namespace, "network"),
        "spec": {
            "podSelector": {
                "matchLabels": {LABEL_MANAGED: "waypost", LABEL_COMPONENT: COMPONENT_REPLICA}
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": gateway_namespace}
                            },
                            "podSelector": {"matchLabels": {LABEL_COMPONENT: "gateway"}},
                        }
                    ]
                }
            ],
        },
    }


def _control_plane(opts: InstallOptions) -> list[dict[str, Any]]:
    ns = opts.namespace
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": opts.storage}},
    }
    if opts.storage_class:
        claim["storageClassName"] = opts.storage_class
    env = [
        {"name": "WAYPOST_HOME", "value": HOME},
        {
            "name": "WAYPOST_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": opts.database_secret, "key": "url"}},
        },
        {"name": "WAYPOST_K8S_NAMESPACE", "value": opts.managed[0]},
        {"name": "WAYPOST_K8S_API_URL", "value": opts.api_url},
        {"name": "WAYPOST_K8S_IMAGE", "value": opts.image},
    ]
    pod = {
        "metadata": {"labels": _labels("control-plane")},
        "spec": {
            "serviceAccountName": CONTROL,
            "securityContext": {"fsGroup": 1000},
            "containers": [
                {
                    "name": "control",
                    "image": opts.image,
                    "command": ["waypost", "up", "--runtime", "kubernetes", "--no-gateway"],
                    "args": ["--host", "0.0.0.0", "--api-port", str(opts.api_port)],
                    "env": env,
                    "ports": [{"name": "api", "containerPort": opts.api_port}],
                    "readinessProbe": {"tcpSocket": {"port": "api"}, "periodSeconds": 5},
                    "livenessProbe": {
                        "tcpSocket": {"port": "api"},
                        "periodSeconds": 10,
                        "failureThreshold": 6,
                    },
                    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                    "volumeMounts": [
                        {"name": "home", "mountPath": HOME},
                        {
                            "name": "gateway-token",
                            "mountPath": f"{HOME}/gateway-token",
                            "subPath": "token",
                            "readOnly": True,
                        },
                    ],
                }
            ],
            "volumes": [
                {"name": "home", "persistentVolumeClaim": {"claimName": "waypost-home"}},
                {"name": "gateway-token", "secret": {"secretName": "waypost-gateway-token"}},
            ],
        },
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _meta("waypost-home", ns, "control-plane"),
            "spec": claim,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(CONTROL, ns, "control-plane"),
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": _labels("control-plane")},
                "template": pod,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(CONTROL, ns, "control-plane"),
            "spec": {
                "selector": _labels("control-plane"),
                "ports": [{"name": "api", "port": opts.api_port, "targetPort": "api"}],
            },
        },
    ]


def _gateways(opts: InstallOptions) -> list[dict[str, Any]]:
    ns = opts.namespace
    command = ["python", "-m", "waypost.gateway", "--host", "0.0.0.0"]
    command += ["--port", str(opts.gateway_port), "--control-url", opts.api_url]
    command += ["--token-file", f"{TOKEN_DIR}/token", "--workers", str(opts.gateway_workers)]
    pod = {
        "metadata": {"labels": _labels("gateway")},
        "spec": {
            "terminationGracePeriodSeconds": 20,
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "gateway",
                    "image": opts.image,
                    "command": command,
                    "ports": [{"name": "http", "containerPort": opts.gateway_port}],
                    "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2},
                    "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                    "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                    "volumeMounts": [
                        {"name": "gateway-token", "mountPath": TOKEN_DIR, "readOnly": True}
                    ],
                }
            ],
            "volumes": [
                {"name": "gateway-token", "secret": {"secretName": "waypost-gateway-token"}}
            ],
        },
    }
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(GATEWAY, ns, "gateway"),
            "spec": {
                "replicas": opts.gateway_replicas,
                "selector": {"matchLabels": _labels("gateway")},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                },
                "template": pod,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(GATEWAY, ns, "gateway"),
            "spec": {
                "type": opts.gateway_service_type,
                "selector": _labels("gateway"),
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]
    if opts.gateway_replicas > 1:
        out.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(GATEWAY, ns, "gateway"),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels("gateway")}},
            }
        )
    return out


def install_manifests(opts: InstallOptions, *, gateway_token: str) -> list[dict[str, Any]]:
    """Every object of an installation, in the order to apply them."""
    namespaces = [opts.namespace] + [n for n in opts.managed if n != opts.namespace]
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(n, None, "namespace")}
        for n in namespaces
    ]
    out.append(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(CONTROL, opts.namespace, "control-plane"),
        }
    )
    for namespace in opts.managed:
        out += _role(namespace, opts.namespace)
        out.append(_network_policy(namespace, opts.namespace))
    out.append(
        _secret("waypost-gateway-token", opts.namespace, {"token": gateway_token}, create_only=True)
    )
    if opts.database_url:
        out.append(
            _secret(
                opts.database_secret, opts.namespace, {"url": opts.database_url}, create_only=False
            )
        )
    out += _control_plane(opts)
    out += _gateways(opts)
    return out
