"""What the gateways saw, added up: request and error counts per backend and mirror
over the last minute, in-flight requests per endpoint, and endpoints waiting to wake.

Fed by ``GatewayReport``s (one a second from each gateway worker); read by the API
(per-alias stats), the autoscaler (in-flight concurrency) and the sleep/wake logic.
Every method takes ``now`` so the arithmetic is tested without a clock.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from waypost.model.report import GatewayReport

__all__ = ["BackendStats", "ReplicaTraffic", "TrafficBook"]

#: A gateway's in-flight figure or waiting list older than this no longer counts.
FRESH_FOR = 5.0
#: Reports arriving within this many seconds of the last sample update it, not add one.
SAMPLE_EVERY = 1.0


@dataclass(frozen=True)
class BackendStats:
    requests: int
    errors: int
    dropped: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class ReplicaTraffic:
    """What one replica served over the book's window (CSGHub's per-instance figures)."""

    window: float
    requests: int
    errors: int
    latency_ms_sum: float

    @property
    def latency_ms_mean(self) -> float | None:
        return round(self.latency_ms_sum / self.requests, 3) if self.requests else None


@dataclass(frozen=True)
class _Count:
    at: float
    requests: int
    errors: int
    dropped: int


class TrafficBook:
    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        # (route, kind, name) -> counts, oldest first
        self._backends: dict[tuple[str, str, str], deque[_Count]] = defaultdict(deque)
        # key -> gateway -> (at, in_flight)
        self._in_flight: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
        # key -> (at, in_flight summed over fresh gateways), for the autoscaler
        self._samples: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._last_request: dict[str, float] = {}
        self._waiting: dict[str, dict[str, float]] = defaultdict(dict)
        # (key, replica id) -> (at, requests, errors, latency_ms_sum), oldest first
        self._replicas: dict[tuple[str, str], deque[tuple[float, int, int, float]]] = defaultdict(
            deque
        )

    def add(self, report: GatewayReport, now: float) -> None:
        for b in report.backends:
            series = self._backends[(b.route, b.kind, b.name)]
            series.append(_Count(now, b.requests, b.errors, b.dropped))
            self._trim(series, now)
        for t in report.targets:
            self._in_flight[t.key][report.gateway] = (now, t.in_flight)
            if t.requests or t.in_flight:
                self._last_request[t.key] = now
            for replica, (requests, errors, latency) in t.replica_requests.items():
                served = self._replicas[(t.key, replica)]
                served.append((now, int(requests), int(errors), float(latency)))
                while served and served[0][0] < now - self.window:
                    served.popleft()
            samples = self._samples[t.key]
            value = self.in_flight(t.key, now)
            if samples and now - samples[-1][0] < SAMPLE_EVERY:
                # Every gateway reports each second: one sample per second holds the sum
                # over all of them, so the autoscaler's work does not grow with gateways.
                samples[-1] = (samples[-1][0], value)
            else:
                samples.append((now, value))
            while samples and samples[0][0] < now - self.window:
                samples.popleft()
        for key in report.waiting:
            self._waiting[key][report.gateway] = now

    def _trim(self, series: deque[_Count], now: float) -> None:
        while series and series[0].at < now - self.window:
            series.popleft()

    def backend_stats(self, route: str, kind: str, name: str, now: float) -> BackendStats:
        series = self._backends.get((route, kind, name))
        if not series:
            return BackendStats(0, 0, 0)
        self._trim(series, now)
        return BackendStats(
            sum(c.requests for c in series),
            sum(c.errors for c in series),
            sum(c.dropped for c in series),
        )

    def replica_traffic(self, key: str, replica: str, now: float) -> ReplicaTraffic:
        served = [c for c in self._replicas.get((key, replica), ()) if c[0] >= now - self.window]
        return ReplicaTraffic(
            window=self.window,
            requests=sum(c[1] for c in served),
            errors=sum(c[2] for c in served),
            latency_ms_sum=sum(c[3] for c in served),
        )

    def in_flight(self, key: str, now: float) -> int:
        return sum(
            count for at, count in self._in_flight.get(key, {}).values() if now - at <= FRESH_FOR
        )

    def samples(self, key: str, now: float) -> list[tuple[float, int]]:
        """(time, in-flight summed over gateways) for the last window, oldest first."""
        return [(at, n) for at, n in self._samples.get(key, ()) if at >= now - self.window]

    def last_request_at(self, key: str) -> float | None:
        return self._last_request.get(key)

    def waiting(self, now: float) -> set[str]:
        return {
            key
            for key, gateways in self._waiting.items()
            if any(now - at <= FRESH_FOR for at in gateways.values())
        }
