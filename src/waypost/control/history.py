"""Traffic history per endpoint for the console's charts: the last hour in 10 s buckets.

Fed with every ``GatewayReport`` (``ControlService.record_traffic``) and, alongside it,
the route snapshot the gateways serve, whose targets carry the ready replicas. Pure
and in memory: a restart of the control plane starts the charts afresh, which is
what a ring buffer for "the last hour" is for (the durable record is the event log).

Several gateway workers report each second, so a bucket adds their counts up. Their
percentiles cannot be merged exactly: a bucket's p50 is the request-weighted mean of
the reported p50s and its p99 the highest reported p99 (an upper bound). A report
without percentiles (an older gateway) gives the mean latency for both.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from waypost.model.report import GatewayReport, TargetLoad
from waypost.model.routes import RouteSnapshot

__all__ = ["BUCKET_SECONDS", "SPAN_SECONDS", "History", "Point", "Rates"]

BUCKET_SECONDS = 10.0
SPAN_SECONDS = 3600.0
#: A gateway's in-flight figure older than this no longer counts (as in ``TrafficBook``).
_FRESH_FOR = 5.0


@dataclass(frozen=True)
class Point:
    """One bucket of one endpoint; ``None`` where nothing was measured."""

    at: float  # the bucket's start, Unix seconds
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    in_flight: int
    ready: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": None if self.p50_ms is None else round(self.p50_ms, 3),
            "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 3),
            "in_flight": self.in_flight,
            "ready": self.ready,
        }


@dataclass(frozen=True)
class Rates:
    requests_per_s: float
    error_rate: float  # errors / requests, 0 without requests


class _Bucket:
    __slots__ = (
        "errors",
        "in_flight",
        "p50_sum",
        "p50_weight",
        "p99",
        "ready",
        "requests",
        "start",
    )

    def __init__(self, start: float) -> None:
        self.start = start
        self.requests = 0
        self.errors = 0
        self.p50_sum = 0.0
        self.p50_weight = 0
        self.p99: float | None = None
        self.in_flight = 0
        self.ready: int | None = None

    def point(self) -> Point:
        p50 = self.p50_sum / self.p50_weight if self.p50_weight else None
        return Point(
            self.start, self.requests, self.errors, p50, self.p99, self.in_flight, self.ready
        )


class History:
    def __init__(self, bucket: float = BUCKET_SECONDS, span: float = SPAN_SECONDS) -> None:
        if bucket <= 0 or span < bucket:
            raise ValueError(f"bucket {bucket} must be above 0 and at most span {span}")
        self.bucket = bucket
        self.span = span
        self._buckets: dict[str, deque[_Bucket]] = {}
        # key -> gateway -> (at, in_flight)
        self._in_flight: dict[str, dict[str, tuple[float, int]]] = {}

    def add(self, report: GatewayReport, now: float, snapshot: RouteSnapshot | None = None) -> None:
        for load in report.targets:
            self._add_load(report.gateway, load, now)
        if snapshot is not None:
            for target in snapshot.targets:
                self._at(target.key, now).ready = len(target.replicas)

    def _add_load(self, gateway: str, load: TargetLoad, now: float) -> None:
        bucket = self._at(load.key, now)
        bucket.requests += load.requests
        bucket.errors += load.errors
        p50, p99 = _percentiles(load)
        if p50 is not None and load.requests:
            bucket.p50_sum += p50 * load.requests
            bucket.p50_weight += load.requests
        if p99 is not None and load.requests:
            bucket.p99 = p99 if bucket.p99 is None else max(bucket.p99, p99)
        gateways = self._in_flight.setdefault(load.key, {})
        gateways[gateway] = (now, load.in_flight)
        total = sum(n for at, n in gateways.values() if now - at <= _FRESH_FOR)
        bucket.in_flight = max(bucket.in_flight, total)

    def _at(self, key: str, now: float) -> _Bucket:
        start = math.floor(now / self.bucket) * self.bucket
        series = self._buckets.setdefault(key, deque())
        if not series or series[-1].start < start:
            series.append(_Bucket(start))
        while series and series[0].start <= now - self.span:
            series.popleft()
        # A report stamped a little in the past still lands in the newest bucket.
        return series[-1]

    def keys(self) -> list[str]:
        return sorted(self._buckets)

    def series(self, key: str, now: float, since: float | None = None) -> list[Point]:
        """One point per bucket from ``since`` (default: an hour ago) to now, oldest first;
        buckets nothing was reported for are zero, with ``ready`` unknown."""
        first = math.floor(max(since or 0.0, now - self.span + self.bucket) / self.bucket)
        last = math.floor(now / self.bucket)
        known = {b.start: b for b in self._buckets.get(key, ())}
        points = []
        for i in range(first, last + 1):
            start = i * self.bucket
            found = known.get(start)
            points.append(found.point() if found else Point(start, 0, 0, None, None, 0, None))
        return points

    def rates(self, key: str, now: float, window: float = 30.0) -> Rates:
        """Requests per second and the error rate over the last ``window`` seconds."""
        begin = math.floor((now - window) / self.bucket) * self.bucket
        requests = errors = 0
        for b in self._buckets.get(key, ()):
            if b.start >= begin:
                requests += b.requests
                errors += b.errors
        elapsed = max(now - begin, self.bucket)
        return Rates(requests / elapsed, errors / requests if requests else 0.0)


def _percentiles(load: TargetLoad) -> tuple[float | None, float | None]:
    """(p50, p99) of a report line: its own, or the mean latency for both."""
    mean = load.latency_ms_sum / load.requests if load.requests else None
    p50 = load.latency_p50_ms if load.latency_p50_ms is not None else mean
    p99 = load.latency_p99_ms if load.latency_p99_ms is not None else mean
    return p50, p99
