"""Prometheus metrics of the gateway, complete over its pre-fork workers.

Served at ``GET /-/metrics`` on the gateway's port: paths under ``/-/`` are the
gateway's own and can never be a user route (routes start with an org name, and
``-`` is not one), and whichever worker the scrape lands on answers for all of them.

Pre-fork workers each see part of the traffic, so the scrape must add them up. This
uses prometheus-client's multiprocess mode rather than a metrics port per worker plus
an aggregator: each process writes its values to memory-mapped files in one
directory (``PROMETHEUS_MULTIPROC_DIR``, which ``__main__`` creates and sets before
anything imports prometheus-client) and a scrape merges the files. It is the
library's own answer to this exact problem, needs no extra port, no fan-out request
and no second process, and counters of a worker that died stay counted (they must
not go backwards); gauges of a dead worker are dropped by the supervisor
(``mark_dead``). Without that directory (tests, embedding) the values are this
process's only.

Families (label ``status_class`` is ``2xx`` ... ``5xx``; ``alias`` is the route's
selector: a version number, ``latest`` or an alias name):

- ``waypost_gateway_requests_total{project,deployment,version,alias,backend,status_class}``
- ``waypost_gateway_request_duration_seconds{project,deployment,alias,backend}`` (histogram)
- ``waypost_gateway_in_flight{target}``, ``waypost_gateway_queue_depth{target}`` (set
  every second from the worker's counts, not on every request)
- ``waypost_gateway_retries_total{target,failure}``, ``waypost_gateway_ejections_total{target}``
- ``waypost_gateway_overload_refused_total{target}``
- ``waypost_gateway_mirror_dropped_total{project,mirror_target}``
- ``waypost_gateway_loop_lag_seconds`` (max over workers)

A request only touches this process's memory: ``request`` adds it to a tally per
(route, backend, target, status class) -- a latency sum and a count per histogram
bucket, the bucket found with ``bisect``; the counts add up to the request count -- and
``flush`` pushes the tallies into the prometheus children. In multiprocess mode every
``inc`` or ``observe`` on a child takes a lock, calls ``os.getpid()`` and writes a
memory-mapped file per value (several microseconds per request for a counter and a
histogram); a flush pays that once per key and second instead. ``refresh`` (every
second, from the worker) and ``render`` (so a scrape never misses this worker's own
requests) flush, so the other workers' values in a scrape are up to a second old. The
worker's shell must flush once more when it stops, or the requests it answered since
the last refresh are never counted.

A histogram child has no public way to add many observations at once (``observe``
takes one value), so ``flush`` adds to its value cells directly: ``_buckets[i]`` (the
count of bucket ``i`` alone, not cumulative: the scrape adds them up) and ``_sum``.
Those are private to prometheus-client (checked against 0.26; unchanged for many
releases), and a unit test holds a flushed child to what ``observe`` would have
produced, so a release that changes them fails there, not in production. Label
children are cached per key (up to ``_CACHE_LIMIT`` keys).
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client import values as _values
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "Metrics", "mark_dead"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_CACHE_LIMIT = 50_000
_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
#: The histogram's upper bounds as prometheus-client keeps them (``+Inf`` added).
_BOUNDS = (*_BUCKETS, math.inf)
_STATUS_CLASS = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}

_RequestKey = tuple[str, str, str, int]  # route, backend, target, status class


class _Tally:
    """Requests of one key since the last flush, and the children they go to."""

    __slots__ = ("buckets", "counter", "histogram", "seconds")

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self.counter = counter
        self.histogram = histogram
        self.seconds = 0.0
        self.buckets = [0] * len(_BOUNDS)  # per bucket, not cumulative

    def flush(self) -> None:
        counts = self.buckets
        self.counter.inc(sum(counts))
        cells = self.histogram._buckets
        for i, count in enumerate(counts):
            if count:
                cells[i].inc(count)
        self.histogram._sum.inc(self.seconds)


def mark_dead(pid: int) -> None:
    """A worker exited: drop its live gauges from the scrape (counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        # Multiprocess only if prometheus-client was first imported with the directory
        # set (it picks its value class then): otherwise the files would stay empty.
        multiprocess = getattr(_values.ValueClass, "_multiprocess", False)
        self._directory = os.environ.get(MULTIPROC_ENV) if multiprocess else None
        registry = CollectorRegistry(auto_describe=False)
        self._registry = registry
        self._requests = Counter(
            "waypost_gateway_requests",
            "Requests answered, by route selector, backend and status class",
            ("project", "deployment", "version", "alias", "backend", "status_class"),
            registry=registry,
        )
        self._duration = Histogram(
            "waypost_gateway_request_duration_seconds",
            "Request latency at the gateway, to the end of the response",
            ("project", "deployment", "alias", "backend"),
            buckets=_BUCKETS,
            registry=registry,
        )
        self._in_flight = Gauge(
            "waypost_gateway_in_flight",
            "Requests in flight per target",
            ("target",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._queue = Gauge(
            "waypost_gateway_queue_depth",
            "Requests waiting for a concurrency slot per target",
            ("target",),
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._retries = Counter(
            "waypost_gateway_retries",
            "Attempts sent again to another replica",
            ("target", "failure"),
            registry=registry,
        )
        self._ejections = Counter(
            "waypost_gateway_ejections",
            "Replicas taken out of balancing after failures",
            ("target",),
            registry=registry,
        )
        self._refused = Counter(
            "waypost_gateway_overload_refused",
            "Requests refused with 503 by a concurrency cap (queue full or wait too long)",
            ("target",),
            registry=registry,
        )
        self._mirror_dropped = Counter(
            "waypost_gateway_mirror_dropped",
            "Mirror copies not sent (queue full, busy event loop, body over the limit)",
            ("project", "mirror_target"),
            registry=registry,
        )
        self._lag = Gauge(
            "waypost_gateway_loop_lag_seconds",
            "Smoothed event loop lag (max over workers)",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._request_children: dict[_RequestKey, tuple[Counter, Histogram]] = {}
        self._tallies: dict[_RequestKey, _Tally] = {}
        self._gauge_children: dict[tuple[str, str], Any] = {}
        self._queued: set[str] = set()
        self._in_flight_keys: set[str] = set()

    def request(
        self, project: str, route: str, backend: str, target: str, status: int, seconds: float
    ) -> None:
        """One request ended (``route``: the prefix it was matched by); counted in
        this process only until the next ``flush``."""
        key = (route, backend, target, status // 100)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tally(project, key)
        tally.seconds += seconds
        tally.buckets[bisect_left(_BOUNDS, seconds)] += 1

    def flush(self) -> None:
        """Add the requests tallied since the last flush to the prometheus children."""
        tallies, self._tallies = self._tallies, {}
        for tally in tallies.values():
            tally.flush()

    def _tally(self, project: str, key: _RequestKey) -> _Tally:
        if len(self._tallies) >= _CACHE_LIMIT:
            self.flush()
        children = self._request_children.get(key)
        if children is None:
            children = self._request_child(project, key)
        tally = self._tallies[key] = _Tally(*children)
        return tally

    def _request_child(self, project: str, key: _RequestKey) -> tuple[Counter, Histogram]:
        if len(self._request_children) >= _CACHE_LIMIT:
            self._request_children.clear()
        route, backend, target, cls = key
        parts = route.split("/")
        deployment = parts[2] if len(parts) > 2 else ""
        alias = parts[3] if len(parts) > 3 else ""
        target_parts = target.split("/")
        version = target_parts[3] if len(target_parts) > 3 else ""
        status_class = _STATUS_CLASS.get(cls, "other")
        children = (
            self._requests.labels(project, deployment, version, alias, backend, status_class),
            self._duration.labels(project, deployment, alias, backend),
        )
        self._request_children[key] = children
        return children

    def _gauge(self, gauge: Gauge, name: str, target: str) -> Any:
        key = (name, target)
        child = self._gauge_children.get(key)
        if child is None:
            if len(self._gauge_children) >= _CACHE_LIMIT:
                self._gauge_children.clear()
            child = self._gauge_children[key] = gauge.labels(target)
        return child

    def retry(self, target: str, failure: str) -> None:
        self._retries.labels(target, failure).inc()

    def ejection(self, target: str) -> None:
        self._ejections.labels(target).inc()

    def refused(self, target: str) -> None:
        self._refused.labels(target).inc()

    def mirror_dropped(self, project: str, target: str) -> None:
        self._mirror_dropped.labels(project, target).inc()

    def refresh(
        self, in_flight: Mapping[str, int], queue_depths: Mapping[str, int], lag_seconds: float
    ) -> None:
        """The gauges, set periodically rather than on every request (cheaper): requests
        in flight and waiting per target (0 once a target has none) and loop lag; and
        the requests tallied since the last call are flushed."""
        self.flush()
        self._in_flight_keys = self._set_all(
            self._in_flight, "in_flight", in_flight, self._in_flight_keys
        )
        self._queued = self._set_all(self._queue, "queue", queue_depths, self._queued)
        self._lag.set(lag_seconds)

    def _set_all(
        self, gauge: Gauge, name: str, values: Mapping[str, int], before: set[str]
    ) -> set[str]:
        for target in before - set(values):
            self._gauge(gauge, name, target).set(0)
        for target, value in values.items():
            self._gauge(gauge, name, target).set(value)
        return set(values)

    def render(self) -> bytes:
        """The scrape: every worker's values when in multiprocess mode, else this one's
        (this worker's requests flushed first, so they are never stale here)."""
        self.flush()
        if self._directory is None:
            return generate_latest(self._registry)
        registry = CollectorRegistry(auto_describe=False)
        _multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self._directory
        )
        return generate_latest(registry)
