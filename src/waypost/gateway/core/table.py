"""The route table: an immutable index of a route snapshot, matched in O(1).

``RouteTable.from_snapshot(snapshot)`` indexes every route by its segment tuple:
``(org, project, deployment, selector, endpoint)``, and endpoint-less routes (an
alias whose backends each have exactly one endpoint) by
``(org, project, deployment, selector)``. ``match(path)`` normalizes the path
(see ``paths``), then does at most two dict lookups, so its cost does not grow
with the number of routes. Segments compare whole, so ``/a/b/c/1/web`` never
matches a request for ``/a/b/c/1/webx``. A table remembers the matches of the last
``MATCH_CACHE_SIZE`` distinct paths (most traffic goes to a few URLs, and the table
never changes), so a repeated path skips normalizing too; the memory is bounded by
forgetting them all once it is full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import final

from waypost.errors import BadRequest
from waypost.gateway.core.access import Grants
from waypost.gateway.core.logline import alias_of
from waypost.gateway.core.paths import LEADING_SEGMENTS, RequestPath, normalize
from waypost.model.routes import LogSink, Route, RouteSnapshot, RouteTarget

__all__ = ["MATCH_CACHE_SIZE", "RouteMatch", "RouteTable"]

#: Distinct request paths whose match a table keeps.
MATCH_CACHE_SIZE = 4096

_NO_TARGETS: Mapping[str, RouteTarget] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A request path matched to a route."""

    route: Route
    #: The prefix as requested, without slashes at the ends: ``acme/shop/hello/latest/web``.
    prefix: str
    #: The raw path after the prefix: ``""`` or ``"/..."``.
    rest: str
    #: The route's backend and mirror targets by key (a key missing here has no replicas).
    targets: Mapping[str, RouteTarget]
    #: ``org/project``, and the alias the route's selector names (None for a version
    #: number or ``latest``): worked out once per route, logged for every request.
    project: str
    alias: str | None

    def target(self, key: str) -> RouteTarget | None:
        return self.targets.get(key)


@dataclass(frozen=True, slots=True)
class _Entry:
    route: Route
    prefix: str
    targets: Mapping[str, RouteTarget]
    project: str
    alias: str | None

    def match(self, rest: str) -> RouteMatch:
        return RouteMatch(self.route, self.prefix, rest, self.targets, self.project, self.alias)


@final
class RouteTable:
    """Routes of one snapshot revision; build a new table to change anything."""

    __slots__ = (
        "_cache",
        "_endpointless",
        "_routed",
        "_targets",
        "grants",
        "log_sinks",
        "revision",
        "route_count",
    )

    def __init__(
        self,
        revision: int,
        routed: Mapping[tuple[str, ...], _Entry],
        endpointless: Mapping[tuple[str, ...], _Entry],
        targets: Mapping[str, RouteTarget],
        log_sinks: tuple[LogSink, ...] = (),
        grants: Grants | None = None,
    ) -> None:
        self.revision = revision
        #: The tokens that may call private endpoints (from the snapshot).
        self.grants = grants if grants is not None else Grants()
        #: Where each project's request-log lines go (from the snapshot).
        self.log_sinks = log_sinks
        self._routed = routed
        self._endpointless = endpointless
        self._targets = targets
        self.route_count = len(routed) + len(endpointless)
        self._cache: dict[str, RouteMatch | None] = {}

    @classmethod
    def empty(cls) -> RouteTable:
        """The table before the first snapshot: matches nothing, revision -1."""
        return cls(-1, MappingProxyType({}), MappingProxyType({}), _NO_TARGETS)

    @classmethod
    def from_snapshot(cls, snapshot: RouteSnapshot) -> RouteTable:
        targets = {t.key: t for t in snapshot.targets}
        routed: dict[tuple[str, ...], _Entry] = {}
        endpointless: dict[tuple[str, ...], _Entry] = {}
        for route in snapshot.routes:
            key: tuple[str, ...] = (route.org, route.project, route.deployment, route.selector)
            index = endpointless
            if route.endpoint is not None:
                key += (route.endpoint,)
                index = routed
            if key in index:
                continue  # a snapshot never repeats a route; if it did, the first one wins
            wanted = [b.target for b in route.backends] + [m.target for m in route.mirrors]
            route_targets = {k: targets[k] for k in wanted if k in targets}
            index[key] = _Entry(
                route,
                "/".join(key),
                MappingProxyType(route_targets),
                f"{route.org}/{route.project}",
                alias_of(route.selector),
            )
        return cls(
            snapshot.revision,
            MappingProxyType(routed),
            MappingProxyType(endpointless),
            MappingProxyType(targets),
            snapshot.log_sinks,
            Grants(snapshot.grants),
        )

    @property
    def targets(self) -> Mapping[str, RouteTarget]:
        return self._targets

    def __len__(self) -> int:
        return self.route_count

    def match(self, path: str) -> RouteMatch | None:
        """The route for a raw request path (no query); BadRequest if the path is malformed."""
        cache = self._cache
        try:
            return cache[path]
        except KeyError:
            pass
        found = self.match_normalized(normalize(path))
        if len(cache) >= MATCH_CACHE_SIZE:
            cache.clear()
        cache[path] = found
        return found

    def match_normalized(self, path: RequestPath) -> RouteMatch | None:
        key = path.endpoint_key()
        if key is not None:
            entry = self._routed.get(key)
            if entry is not None:
                return entry.match(path.rest(LEADING_SEGMENTS))
        short = path.segments(LEADING_SEGMENTS - 1)
        if short is not None:
            entry = self._endpointless.get(short)
            if entry is not None:
                return entry.match(path.rest(LEADING_SEGMENTS - 1))
        if path.fifth_problem is not None:
            raise BadRequest(f"the request path has {path.fifth_problem} in its prefix")
        return None
