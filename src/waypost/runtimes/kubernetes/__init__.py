"""The Kubernetes runtime: replicas as pods of one Deployment per endpoint of a version.

Modules, by job:

- ``options``: ``KubernetesOptions``, the installation's choices (namespace, images,
  where bundles come from), from ``WAYPOST_K8S_*`` variables;
- ``naming``: object names, labels and annotations of a unit (pure);
- ``podspec`` and ``manifests``: a ``Workload`` -> Deployment, Service, Secret,
  PodDisruptionBudget, HPA (pure; the same argv and environment as the local runtime);
- ``observe``: Deployments, Pods and EndpointSlices -> ``ReplicaStatus`` (pure);
- ``apply``: ``ClusterApi``, the only module that imports the ``kubernetes`` client
  (server-side apply, scale, list and watch);
- ``runtime``: ``KubernetesRuntime`` (the ``Runtime`` protocol: a watch-fed cache and
  writes of differences only); ``factory``: ``create_runtime(settings, ...)``;
- ``fetch``: the init container that downloads a bundle into a pod;
- ``install``: the control plane, gateways, RBAC and NetworkPolicy (pure);
- ``gatewayapi``: aliases and version routes -> Gateway API ``HTTPRoute``s (pure);
- ``render``: YAML text of manifests, validated by the CLI's tests.

May import ``waypost.model``, ``waypost.errors``, ``waypost.settings``,
``waypost.runtimes.base`` and the local runtime's pure helpers (``commands``,
``bundle``, ``shim``); never the store, the control plane or the gateway.
"""

from __future__ import annotations

from waypost.runtimes.kubernetes.factory import create_runtime
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.kubernetes.runtime import KubernetesRuntime

__all__ = ["KubernetesOptions", "KubernetesRuntime", "create_runtime"]
