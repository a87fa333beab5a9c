"""What alias rules and alias stats need to know about a project, and an alias's live counts.

``ProjectFacts`` is read from the store once per request: each deployment's versions
with their endpoint names, and which version ``latest`` is now. ``alias_stats`` adds up
the gateways' per-backend counts (``TrafficBook``) over every route an alias has: one
per endpoint name (``acme/shop/churn/production/web``) and the endpoint-less one.
Pure functions of their inputs, the time included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from waypost.control.routing import EndpointInput, latest_versions
from waypost.control.traffic import BackendStats
from waypost.model.policy import Target
from waypost.store import AliasRecord, DeploymentRecord, EndpointRecord

__all__ = [
    "AliasLive",
    "BackendLive",
    "MirrorLive",
    "ProjectFacts",
    "StatsSource",
    "alias_prefix",
    "alias_stats",
]


@dataclass(frozen=True)
class ProjectFacts:
    project: str  # org/project
    #: deployment -> version number -> the names of that version's endpoints
    versions: Mapping[str, Mapping[int, frozenset[str]]]
    #: deployment -> the version ``latest`` routes to now (the highest that ever ran)
    latest: Mapping[str, int]

    @classmethod
    def of(
        cls,
        project: str,
        deployments: Iterable[DeploymentRecord],
        endpoints: Iterable[EndpointRecord],
    ) -> ProjectFacts:
        names: dict[tuple[str, int], set[str]] = {}
        inputs = []
        for ep in endpoints:
            k = ep.key
            names.setdefault((k.deployment, k.version), set()).add(k.endpoint)
            inputs.append(
                EndpointInput(
                    org=k.org,
                    project=k.project,
                    deployment=k.deployment,
                    version=k.version,
                    name=k.endpoint,
                    state=ep.state,
                    ever_ready=ep.ever_ready,
                    visibility=ep.spec.visibility,
                    strip_prefix=ep.spec.strip_prefix,
                    ready=(),
                )
            )
        versions = {
            d.name: {v: frozenset(names.get((d.name, v), ())) for v in d.versions}
            for d in deployments
        }
        latest = {dep: v for (_, _, dep), v in latest_versions(inputs).items()}
        return cls(project, versions, latest)

    def no_deployment(self, name: str) -> str:
        known = ", ".join(sorted(self.versions)) or "none"
        return f"there is no deployment {name!r} in project {self.project} (deployments: {known})"

    @property
    def endpoint_names(self) -> frozenset[str]:
        return frozenset(
            n for versions in self.versions.values() for ns in versions.values() for n in ns
        )

    def resolve(self, target: Target, own: str | None) -> str | None:
        """The key a target routes to now (``org/project/dep/3`` plus ``/endpoint`` when it
        is given or the version has one endpoint); None when it routes nowhere yet."""
        deployment = target.deployment or own
        if deployment is None:
            return None
        version = self.latest.get(deployment) if target.version == "latest" else target.version
        endpoints = self.versions.get(deployment, {}).get(version) if version else None
        if endpoints is None:
            return None
        key = f"{self.project}/{deployment}/{version}"
        if target.endpoint is not None:
            return f"{key}/{target.endpoint}" if target.endpoint in endpoints else None
        return f"{key}/{next(iter(endpoints))}" if len(endpoints) == 1 else key


def alias_prefix(org: str, project: str, deployment: str | None, name: str) -> str:
    """The URL prefix of an alias: ``org/project/dep/name`` or, for an alias file,
    ``org/project/name/latest``."""
    if deployment is None:
        return f"{org}/{project}/{name}/latest"
    return f"{org}/{project}/{deployment}/{name}"


class StatsSource(Protocol):
    def backend_stats(self, route: str, kind: str, name: str, now: float) -> BackendStats: ...


@dataclass(frozen=True)
class BackendLive:
    name: str
    weight: int
    share: float  # weight / total weight
    target: str | None
    requests: int
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class MirrorLive:
    name: str
    target: str | None
    requests: int
    errors: int
    dropped: int


@dataclass(frozen=True)
class AliasLive:
    backends: tuple[BackendLive, ...]
    mirrors: tuple[MirrorLive, ...]


def alias_stats(
    alias: AliasRecord, facts: ProjectFacts, source: StatsSource, now: float
) -> AliasLive:
    """Requests and errors per backend and mirror over the traffic book's window."""
    prefix = alias_prefix(alias.org, alias.project, alias.deployment, alias.name)
    # Every endpoint name the project has, not just today's: a route that resolved
    # differently a minute ago still counts for that minute.
    routes = [prefix, *(f"{prefix}/{e}" for e in sorted(facts.endpoint_names))]

    def total(kind: str, name: str) -> BackendStats:
        found = [source.backend_stats(r, kind, name, now) for r in routes]
        return BackendStats(
            sum(s.requests for s in found),
            sum(s.errors for s in found),
            sum(s.dropped for s in found),
        )

    policy = alias.policy
    weights = policy.total_weight
    backends = []
    for b in policy.backends:
        counts = total("backend", b.name)
        share = b.weight / weights if weights else 0.0
        target = facts.resolve(b.target, alias.deployment)
        backends.append(
            BackendLive(b.name, b.weight, share, target, counts.requests, counts.errors)
        )
    mirrors = []
    for m in policy.mirrors:
        counts = total("mirror", m.name)
        target = facts.resolve(m.target, alias.deployment)
        mirrors.append(MirrorLive(m.name, target, counts.requests, counts.errors, counts.dropped))
    return AliasLive(tuple(backends), tuple(mirrors))
