"""Build the gateway's route snapshot from endpoint records: a pure function.

Every endpoint of every version gets its version route; ``latest`` points at the
highest version of a deployment that has ever been Running (so a new version
that is still building, or failed, never takes ``latest`` traffic); aliases
become routes with their backends and mirrors resolved to concrete targets. Each
project's log sinks ride along, as the gateway never reads the store, and so do the
grants: the tokens that may call private endpoints (``token_grants``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy, Target
from waypost.model.routes import (
    LogSink,
    ReplicaAddress,
    Route,
    RouteBackend,
    RouteMirror,
    RouteSnapshot,
    RouteTarget,
    TokenGrant,
)
from waypost.model.spec import Traffic
from waypost.runtimes.base import ReplicaPhase

__all__ = [
    "GRANT_SCOPES",
    "AliasInput",
    "EndpointInput",
    "build_snapshot",
    "latest_versions",
    "token_grants",
]

#: Token scopes that may call private endpoints (within their project limit).
GRANT_SCOPES = frozenset({"admin", "deploy", "invoke"})


@dataclass(frozen=True)
class EndpointInput:
    """The few facts about an endpoint of a version that routing needs."""

    org: str
    project: str
    deployment: str
    version: int
    name: str
    state: EndpointState
    ever_ready: bool
    visibility: str
    strip_prefix: bool
    ready: tuple[ReplicaAddress, ...]
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def key(self) -> str:
        return f"{self.org}/{self.project}/{self.deployment}/{self.version}/{self.name}"


@dataclass(frozen=True)
class AliasInput:
    org: str
    project: str
    deployment: str | None  # None: a Modelbit endpoint file (its name takes the deployment's place)
    name: str
    policy: AliasPolicy


class GrantableToken(Protocol):
    """What ``token_grants`` needs of a stored token (the store's TokenRecord fits)."""

    @property
    def token_hash(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def revoked(self) -> bool: ...


def token_grants(tokens: Iterable[GrantableToken]) -> tuple[TokenGrant, ...]:
    """The tokens the gateway accepts for private endpoints: not revoked, of a granting scope.

    Expired tokens stay in: the gateway judges expiry with its own clock, so a token
    expiring needs no new revision.
    """
    return tuple(
        TokenGrant(
            t.token_hash,
            t.scope,
            t.project,
            None if t.expires_at is None else t.expires_at.timestamp(),
        )
        for t in tokens
        if not t.revoked and t.scope in GRANT_SCOPES
    )


def ready_addresses(
    replicas: Iterable[tuple[str, str, str | None]],
) -> tuple[ReplicaAddress, ...]:
    """(replica_id, phase, address) triples -> the addresses of the ready ones."""
    return tuple(
        ReplicaAddress(rid, address)
        for rid, phase, address in replicas
        if phase == ReplicaPhase.READY.value and address
    )


def latest_versions(endpoints: Iterable[EndpointInput]) -> dict[tuple[str, str, str], int]:
    """(org, project, deployment) -> the highest version that has ever been Running."""
    latest: dict[tuple[str, str, str], int] = {}
    for ep in endpoints:
        if ep.ever_ready:
            k = (ep.org, ep.project, ep.deployment)
            latest[k] = max(latest.get(k, 0), ep.version)
    return latest


def build_snapshot(
    revision: int,
    endpoints: Sequence[EndpointInput],
    aliases: Sequence[AliasInput] = (),
    log_sinks: Sequence[LogSink] = (),
    grants: Sequence[TokenGrant] = (),
) -> RouteSnapshot:
    targets = tuple(
        RouteTarget(
            ep.key,
            ep.state.value,
            ep.visibility,
            ep.strip_prefix,
            ep.ready,
            timeout=ep.traffic.timeout,
            connect_timeout=ep.traffic.connect_timeout,
            retry_non_idempotent=ep.traffic.retry_non_idempotent,
            max_concurrency=ep.traffic.max_concurrency,
            queue_size=ep.traffic.queue,
            queue_timeout=ep.traffic.queue_timeout,
        )
        for ep in endpoints
    )
    routes: list[Route] = []
    by_version: dict[tuple[str, str, str, int], list[EndpointInput]] = defaultdict(list)
    for ep in endpoints:
        by_version[(ep.org, ep.project, ep.deployment, ep.version)].append(ep)
        routes.append(_single(ep, str(ep.version)))
    for (org, project, deployment), version in latest_versions(endpoints).items():
        routes.extend(
            _single(ep, "latest") for ep in by_version[(org, project, deployment, version)]
        )
    latest = latest_versions(endpoints)
    for alias in aliases:
        routes.extend(_alias_routes(alias, by_version, latest))
    return RouteSnapshot(revision, targets, tuple(routes), tuple(log_sinks), tuple(grants))


def _single(ep: EndpointInput, selector: str) -> Route:
    backend = RouteBackend(f"v{ep.version}", 1, ep.key)
    return Route(ep.org, ep.project, ep.deployment, selector, ep.name, (backend,))


def _resolve(
    alias: AliasInput,
    target: Target,
    by_version: dict[tuple[str, str, str, int], list[EndpointInput]],
    latest: dict[tuple[str, str, str], int],
) -> list[EndpointInput]:
    deployment = target.deployment or alias.deployment
    if deployment is None:
        return []
    version = (
        latest.get((alias.org, alias.project, deployment))
        if target.version == "latest"
        else target.version
    )
    if version is None:
        return []
    eps = by_version.get((alias.org, alias.project, deployment, version), [])
    return [ep for ep in eps if target.endpoint in (None, ep.name)]


def _alias_routes(
    alias: AliasInput,
    by_version: dict[tuple[str, str, str, int], list[EndpointInput]],
    latest: dict[tuple[str, str, str], int],
) -> list[Route]:
    """One route per endpoint name the backends share; plus an endpoint-less route when
    every backend resolves to exactly one endpoint (Modelbit URLs leave it out)."""
    resolved = [(b, _resolve(alias, b.target, by_version, latest)) for b in alias.policy.backends]
    mirrors = [(m, _resolve(alias, m.target, by_version, latest)) for m in alias.policy.mirrors]
    deployment, selector = (
        (alias.deployment, alias.name) if alias.deployment else (alias.name, "latest")
    )

    def route(
        endpoint: str | None,
        backends: tuple[RouteBackend, ...],
        mirror_routes: tuple[RouteMirror, ...],
    ) -> Route:
        return Route(
            alias.org,
            alias.project,
            deployment,
            selector,
            endpoint,
            backends,
            mirror_routes,
            alias.policy.sticky,
        )

    names = sorted({ep.name for _, eps in resolved for ep in eps})
    routes: list[Route] = []
    for name in names:
        backends = tuple(
            RouteBackend(b.name, b.weight, ep.key)
            for b, eps in resolved
            for ep in eps
            if ep.name == name
        )
        mirror_routes = tuple(
            RouteMirror(m.name, ep.key) for m, eps in mirrors for ep in eps if ep.name == name
        )
        routes.append(route(name, backends, mirror_routes))
    if resolved and all(len(eps) == 1 for _, eps in resolved):
        backends = tuple(RouteBackend(b.name, b.weight, eps[0].key) for b, eps in resolved)
        mirror_routes = tuple(
            RouteMirror(m.name, eps[0].key) for m, eps in mirrors if len(eps) == 1
        )
        routes.append(route(None, backends, mirror_routes))
    return routes
