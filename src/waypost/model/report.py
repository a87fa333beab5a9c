"""What a gateway reports to the control plane, every second: the traffic it saw.

The control plane aggregates reports from every gateway into per-backend request
and error rates (shown per alias), per-endpoint in-flight concurrency (the
autoscaler's input) and the endpoints gateways hold requests for (wake-ups).

Wire format (``POST /api/v1/internal/report``)::

    {"gateway": "host/1234", "at": 1764000000.5, "interval": 1.0,
     "targets": [{"key": "acme/shop/churn/3/web", "in_flight": 2, "requests": 40,
                  "errors": 1, "latency_ms_sum": 812.5}],
     "backends": [{"route": "acme/shop/churn/production/web", "name": "control",
                   "kind": "backend", "target": "acme/shop/churn/3/web",
                   "requests": 36, "errors": 1, "dropped": 0}],
     "waiting": ["acme/shop/churn/4/web"]}

Counts are deltas since the previous report of the same gateway; ``in_flight`` is
the value at ``at``.

Optional fields of a target (absent in older reports; the defaults apply):

- ``replicas``: ``{replica_id: in_flight}`` at ``at``, for every replica this gateway
  has requests on, including replicas already gone from the route table (the control
  plane stops a removed replica once no gateway lists it here);
- ``replica_requests``: ``{replica_id: [requests, errors, latency_ms_sum]}`` of the
  requests that ended in the interval, per replica that served any;
- ``latency_p50_ms`` / ``latency_p99_ms``: the median and 99th percentile latency of
  the requests that ended in the interval (``null`` without any); per gateway worker,
  from a log-scale histogram (within a few percent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["BackendCount", "GatewayReport", "TargetLoad"]


@dataclass(frozen=True)
class TargetLoad:
    key: str  # org/project/deployment/version/endpoint
    in_flight: int
    requests: int
    errors: int  # 5xx from the replica and the gateway's own 502/503/504
    latency_ms_sum: float
    replicas: dict[str, int] = field(default_factory=dict)  # replica id -> in flight
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    #: replica id -> [requests, errors, latency_ms_sum] that ended in the interval
    #: (CSGHub's per-instance request count and latency).
    replica_requests: dict[str, tuple[int, int, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendCount:
    route: str  # the route's prefix as requested, e.g. acme/shop/churn/production/web
    name: str  # backend or mirror name
    kind: Literal["backend", "mirror"]
    target: str  # the target key it resolved to
    requests: int
    errors: int
    dropped: int = 0  # mirror copies dropped (queue full) or skipped (body over the limit)


@dataclass(frozen=True)
class GatewayReport:
    gateway: str
    at: float  # unix time
    interval: float  # seconds the counts cover
    targets: tuple[TargetLoad, ...] = ()
    backends: tuple[BackendCount, ...] = ()
    #: Target keys the gateway holds requests for because no replica is ready (wake them).
    waiting: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "at": self.at,
            "interval": self.interval,
            "targets": [asdict(t) for t in self.targets],
            "backends": [asdict(b) for b in self.backends],
            "waiting": list(self.waiting),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GatewayReport:
        return cls(
            gateway=str(data["gateway"]),
            at=float(data["at"]),
            interval=float(data["interval"]),
            targets=tuple(TargetLoad(**t) for t in data.get("targets", ())),
            backends=tuple(BackendCount(**b) for b in data.get("backends", ())),
            waiting=tuple(str(k) for k in data.get("waiting", ())),
        )
