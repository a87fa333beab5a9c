"""Routes -> Gateway API ``HTTPRoute``s (``gateway.networking.k8s.io/v1``). Pure.

For clusters that already run a Gateway API implementation (Envoy Gateway,
Istio, Cilium, NGINX Gateway Fabric...) and want it, not waypost's gateway, in
front of the replicas. Each waypost route (a version, ``latest`` or an alias, with
or without its endpoint segment) becomes one HTTPRoute with one rule:

- match ``PathPrefix`` ``/org/project/deployment/selector[/endpoint]`` — Gateway
  API prefixes match whole segments, as waypost's gateway does;
- ``RequestHeaderModifier`` *sets* ``X-VH-Prefix`` to the prefix as requested
  (overwriting whatever the client sent);
- weighted ``backendRefs`` (the units' Services) for splits;
- one ``RequestMirror`` filter per mirror (the filter may be repeated);
- ``URLRewrite`` ``ReplacePrefixMatch: /`` where the target has ``strip-prefix``
  (on the rule when every backend strips, else on each stripping backendRef).

What the Gateway API cannot say is left out, with a note: sticky splits
(session persistence is not in the standard channel), and private endpoints (an
HTTPRoute cannot check waypost tokens, so they are not exposed at all). Scale to
zero needs waypost's gateway too: a Gateway API implementation answers 503 for a
Service with no ready pod instead of holding the request while one wakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waypost.model.prefix import UnitKey
from waypost.model.routes import Route, RouteSnapshot, RouteTarget
from waypost.runtimes.kubernetes.manifests import SERVICE_PORT
from waypost.runtimes.kubernetes.naming import LABEL_MANAGED, MANAGED_BY, object_name, route_name

__all__ = ["GatewayRef", "RenderedRoutes", "http_route", "http_routes"]

API_VERSION = "gateway.networking.k8s.io/v1"
X_VH_PREFIX = "X-VH-Prefix"


@dataclass(frozen=True)
class GatewayRef:
    """The Gateway the routes attach to (``parentRefs``)."""

    name: str
    namespace: str | None = None
    section: str | None = None


@dataclass(frozen=True)
class RenderedRoutes:
    routes: list[dict[str, Any]]
    notes: list[str]


def _service(target_key: str, namespace: str) -> dict[str, Any]:
    return {
        "group": "",
        "kind": "Service",
        "name": object_name(UnitKey.parse(target_key)),
        "namespace": namespace,
        "port": SERVICE_PORT,
    }


def _rewrite() -> dict[str, Any]:
    return {
        "type": "URLRewrite",
        "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
    }


def http_route(
    route: Route,
    targets: Mapping[str, RouteTarget],
    *,
    namespace: str,
    gateway: GatewayRef,
    hostnames: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One route as an HTTPRoute (its backends and mirrors must be in ``targets``)."""
    prefix = route.prefix_header
    backends = [b for b in route.backends if b.target in targets]
    strips = [targets[b.target].strip_prefix for b in backends]
    all_strip = bool(strips) and all(strips)
    filters: list[dict[str, Any]] = [
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": X_VH_PREFIX, "value": prefix}]},
        }
    ]
    for mirror in route.mirrors:
        if mirror.target in targets:
            filters.append(
                {
                    "type": "RequestMirror",
                    "requestMirror": {"backendRef": _service(mirror.target, namespace)},
                }
            )
    if all_strip:
        filters.append(_rewrite())
    refs = []
    for backend, strip in zip(backends, strips, strict=True):
        ref: dict[str, Any] = {**_service(backend.target, namespace), "weight": backend.weight}
        if strip and not all_strip:
            ref["filters"] = [_rewrite()]
        refs.append(ref)
    parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway"}
    parent["name"] = gateway.name
    if gateway.namespace:
        parent["namespace"] = gateway.namespace
    if gateway.section:
        parent["sectionName"] = gateway.section
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/" + prefix}}],
                "filters": filters,
                "backendRefs": refs,
            }
        ],
    }
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {
            "name": route_name(prefix),
            "namespace": namespace,
            "labels": {LABEL_MANAGED: MANAGED_BY, "app.kubernetes.io/component": "route"},
            "annotations": {"waypost.io/prefix": prefix},
        },
        "spec": spec,
    }


def http_routes(
    snapshot: RouteSnapshot,
    *,
    namespace: str,
    gateway: GatewayRef,
    hostnames: tuple[str, ...] = (),
) -> RenderedRoutes:
    targets = {t.key: t for t in snapshot.targets}
    routes: list[dict[str, Any]] = []
    notes: list[str] = []
    for route in snapshot.routes:
        prefix = route.prefix_header
        private = [
            k
            for k in [b.target for b in route.backends] + [m.target for m in route.mirrors]
            if k in targets and targets[k].visibility == "private"
        ]
        if private:
            notes.append(f"{prefix}: left out, it reaches private endpoints ({', '.join(private)})")
            continue
        if not any(b.target in targets for b in route.backends):
            notes.append(f"{prefix}: left out, no backend resolves to an endpoint yet")
            continue
        if route.sticky:
            notes.append(f"{prefix}: sticky ({route.sticky}) is not expressed; the split is random")
        routes.append(
            http_route(route, targets, namespace=namespace, gateway=gateway, hostnames=hostnames)
        )
    return RenderedRoutes(routes, notes)
