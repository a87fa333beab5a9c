"""Traffic counts for the gateway's report: per target, per route backend and mirror.

``TrafficCounter`` is fed by the request handler (``begin``/``end`` around every request
that reached a target, ``backend``/``mirror`` for the route counts) and emptied once a
second by ``take``, which returns the deltas since the last ``take`` as report pieces
(``model.report``'s ``TargetLoad`` and ``BackendCount``) plus ``in_flight`` as it is now.
If the report could not be sent, ``give_back`` merges its counts into the next one; the
counter keeps at most ``max_entries`` keys of each kind, dropping the counts of new keys
beyond that (``lost`` says how many were dropped).

A target is reported while it has anything to say: counts in the interval, requests in
flight, or in-flight requests at the previous report (so a drop to 0 is reported once).
An error is a status of 500 or more, the gateway's own 502/503/504 included.
Each target's latencies also go into a ``LatencyHistogram`` for the interval's p50 and
p99 (not given back: a late report carries the counts, not the old percentiles).
Requests that reached a replica are also counted per replica (``replica_requests``).
``take(replicas)`` adds the requests in flight per replica (the balancer's counts) to
each target's load, and reports targets that only have those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from waypost.gateway.core.latency import LatencyHistogram
from waypost.model.report import BackendCount, TargetLoad

__all__ = ["TrafficCounter", "TrafficDelta"]

_Kind = Literal["backend", "mirror"]


@dataclass(slots=True)
class _Target:
    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    #: replica id -> [requests, errors, latency_ms_sum] (CSGHub's per-instance figures)
    replicas: dict[str, list[float]] = field(default_factory=dict)


@dataclass(slots=True)
class _Route:
    requests: int = 0
    errors: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class TrafficDelta:
    """One report's counts (``in_flight`` as of ``take``)."""

    targets: tuple[TargetLoad, ...] = ()
    backends: tuple[BackendCount, ...] = ()


@dataclass
class TrafficCounter:
    max_entries: int = 10_000
    _in_flight: dict[str, int] = field(default_factory=dict)
    _targets: dict[str, _Target] = field(default_factory=dict)
    _routes: dict[tuple[str, _Kind, str, str], _Route] = field(default_factory=dict)
    _reported_busy: set[str] = field(default_factory=set)
    lost: int = 0

    def begin(self, target: str) -> None:
        """A request for ``target`` is in flight (held requests count too)."""
        self._in_flight[target] = self._in_flight.get(target, 0) + 1

    def end(self, target: str, status: int, latency_ms: float, replica: str | None = None) -> None:
        """The request ``begin`` counted has ended with ``status`` (served by ``replica``)."""
        left = self._in_flight.get(target, 0) - 1
        if left > 0:
            self._in_flight[target] = left
        else:
            self._in_flight.pop(target, None)
        counts = self._target(target)
        if counts is not None:
            counts.requests += 1
            counts.latency_ms_sum += latency_ms
            counts.latency.add(latency_ms)
            if status >= 500:
                counts.errors += 1
            if replica is not None:
                served = counts.replicas.setdefault(replica, [0, 0, 0.0])
                served[0] += 1
                served[1] += status >= 500
                served[2] += latency_ms

    def in_flight(self, target: str) -> int:
        return self._in_flight.get(target, 0)

    @property
    def busy(self) -> Mapping[str, int]:
        """Target key -> requests in flight now (targets with none are absent)."""
        return self._in_flight

    def backend(self, route: str, name: str, target: str, status: int) -> None:
        counts = self._route((route, "backend", name, target))
        if counts is not None:
            counts.requests += 1
            if status >= 500:
                counts.errors += 1

    def mirror(self, route: str, name: str, target: str, *, error: bool, dropped: bool) -> None:
        """A mirror copy's end: ``dropped`` for a copy never sent (queue full or skipped)."""
        counts = self._route((route, "mirror", name, target))
        if counts is None:
            return
        if dropped:
            counts.dropped += 1
            return
        counts.requests += 1
        if error:
            counts.errors += 1

    def take(self, replicas: Mapping[str, Mapping[str, int]] | None = None) -> TrafficDelta:
        """The counts since the last ``take``, and what is in flight now (``replicas``:
        target key -> replica id -> requests in flight)."""
        busy = replicas or {}
        keys = set(self._targets) | set(self._in_flight) | self._reported_busy | set(busy)
        loads = []
        for key in sorted(keys):
            c = self._targets.get(key) or _Target()
            loads.append(
                TargetLoad(
                    key,
                    self._in_flight.get(key, 0),
                    c.requests,
                    c.errors,
                    c.latency_ms_sum,
                    dict(busy.get(key, {})),
                    c.latency.percentile(50),
                    c.latency.percentile(99),
                    {r: (int(n), int(e), ms) for r, (n, e, ms) in c.replicas.items()},
                )
            )
        backends = tuple(
            BackendCount(route, name, kind, target, c.requests, c.errors, c.dropped)
            for (route, kind, name, target), c in sorted(self._routes.items())
        )
        self._targets = {}
        self._routes = {}
        self._reported_busy = {k for k, n in self._in_flight.items() if n > 0}
        return TrafficDelta(tuple(loads), backends)

    def give_back(self, delta: TrafficDelta) -> None:
        """A report that was not sent: its counts go into the next one."""
        for load in delta.targets:
            counts = self._target(load.key)
            if counts is not None:
                counts.requests += load.requests
                counts.errors += load.errors
                counts.latency_ms_sum += load.latency_ms_sum
        for b in delta.backends:
            route = self._route((b.route, b.kind, b.name, b.target))
            if route is not None:
                route.requests += b.requests
                route.errors += b.errors
                route.dropped += b.dropped
        # A target busy at the failed report must still have its drop to 0 reported.
        self._reported_busy |= {t.key for t in delta.targets if t.in_flight}

    def _target(self, key: str) -> _Target | None:
        counts = self._targets.get(key)
        if counts is None:
            if len(self._targets) >= self.max_entries:
                self.lost += 1
                return None
            counts = self._targets[key] = _Target()
        return counts

    def _route(self, key: tuple[str, _Kind, str, str]) -> _Route | None:
        counts = self._routes.get(key)
        if counts is None:
            if len(self._routes) >= self.max_entries:
                self.lost += 1
                return None
            counts = self._routes[key] = _Route()
        return counts
