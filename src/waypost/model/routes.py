"""The route snapshot: what the control plane gives the gateway (the gateway never reads the store).

A snapshot has a monotonically increasing ``revision``, the ``targets`` (endpoints
of versions, with their ready replicas) and the ``routes`` (URL keys and the
policy that picks a target for them). A version URL, ``latest`` and an alias
are all routes; a version URL simply has one backend.

Wire format (``GET /api/v1/internal/routes?after=REV&wait=SECONDS``)::

    {"revision": 7,
     "targets": [{"key": "acme/shop/hello/1/web", "state": "Running",
                  "visibility": "public", "strip_prefix": false,
                  "replicas": [{"id": "r-1a2b", "address": "127.0.0.1:40123"}]}],
     "routes": [{"org": "acme", "project": "shop", "deployment": "hello",
                 "selector": "1", "endpoint": "web",
                 "backends": [{"name": "v1", "weight": 1, "target": "acme/shop/hello/1/web"}],
                 "mirrors": [], "sticky": null}],
     "log_sinks": [{"project": "acme/shop", "url": "http://127.0.0.1:9000/logs"}],
     "grants": [{"token_hash": "9f86d0...", "scope": "invoke", "project": "acme/shop",
                 "expires_at": 1767225600.0}]}

``log_sinks`` are the logging endpoints each project configured: the gateway sends
them the JSON request-log lines of that project's traffic (Modelbit's "logs sent to
your logging endpoints", where backend names appear).

``grants`` are the tokens that may call private endpoints (``visibility: "private"``):
every token of scope ``admin``, ``deploy`` or ``invoke`` that is not revoked, as the
SHA-256 hex of the token (the store holds nothing more), its ``project`` limit
(``org/project``, or for ``invoke`` also a target key) and its expiry in Unix seconds
(``null``: never). Creating or revoking a token moves the revision, so the gateway
learns of it like of any other route change; expiry it checks with its own clock.

``endpoint`` is ``null`` on a route that may leave the endpoint segment out (an
alias file whose backend deployment has exactly one endpoint).

Resilience and overload settings of a target (each optional on the wire; a payload
without them gets the defaults, so older control planes and gateways interoperate):

- ``timeout`` (seconds, default 60): how long the gateway waits for the replica's
  response headers (beyond it, 504), and then for each piece of its body (beyond
  it, the response is cut off);
- ``connect_timeout`` (seconds, default 5): to open a connection to a replica;
- ``retry_non_idempotent`` (default false): a POST/PATCH that failed after it was
  sent may be retried on another replica (the endpoint says it is safe to repeat);
- ``max_concurrency`` (default null: no cap): requests in flight to the target at
  once, per gateway (shared out over its workers); more wait in a queue of
  ``queue_size`` (default 100) for up to ``queue_timeout`` seconds (default 10);
  beyond either, 503 with ``Retry-After``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "LogSink",
    "ReplicaAddress",
    "Route",
    "RouteBackend",
    "RouteMirror",
    "RouteSnapshot",
    "RouteTarget",
    "TokenGrant",
]


@dataclass(frozen=True)
class ReplicaAddress:
    id: str
    address: str  # host:port


@dataclass(frozen=True)
class RouteTarget:
    key: str  # org/project/deployment/version/endpoint, also the default prefix
    state: str
    visibility: str
    strip_prefix: bool
    replicas: tuple[ReplicaAddress, ...]
    timeout: float = 60.0  # seconds for response headers, then per body read
    connect_timeout: float = 5.0
    retry_non_idempotent: bool = False
    max_concurrency: int | None = None  # None: no cap
    queue_size: int = 100
    queue_timeout: float = 10.0


@dataclass(frozen=True)
class RouteBackend:
    name: str
    weight: int
    target: str  # a RouteTarget key


@dataclass(frozen=True)
class RouteMirror:
    name: str
    target: str


@dataclass(frozen=True)
class Route:
    org: str
    project: str
    deployment: str
    selector: str
    endpoint: str | None
    backends: tuple[RouteBackend, ...]
    mirrors: tuple[RouteMirror, ...] = ()
    sticky: str | None = None

    @property
    def prefix_header(self) -> str:
        parts = [self.org, self.project, self.deployment, self.selector]
        if self.endpoint is not None:
            parts.append(self.endpoint)
        return "/".join(parts)


@dataclass(frozen=True)
class LogSink:
    project: str  # org/project whose request logs go to ``url``
    url: str


@dataclass(frozen=True)
class TokenGrant:
    """A token that may call private endpoints, as the gateway needs to know it."""

    token_hash: str  # SHA-256 hex of the token
    scope: str  # admin, deploy or invoke
    project: str | None  # org/project, or (invoke) org/project/deployment/version/endpoint
    expires_at: float | None  # Unix seconds; None: never


@dataclass(frozen=True)
class RouteSnapshot:
    revision: int
    targets: tuple[RouteTarget, ...]
    routes: tuple[Route, ...]
    log_sinks: tuple[LogSink, ...] = ()
    grants: tuple[TokenGrant, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "targets": [
                {
                    "key": t.key,
                    "state": t.state,
                    "visibility": t.visibility,
                    "strip_prefix": t.strip_prefix,
                    "replicas": [{"id": r.id, "address": r.address} for r in t.replicas],
                    "timeout": t.timeout,
                    "connect_timeout": t.connect_timeout,
                    "retry_non_idempotent": t.retry_non_idempotent,
                    "max_concurrency": t.max_concurrency,
                    "queue_size": t.queue_size,
                    "queue_timeout": t.queue_timeout,
                }
                for t in self.targets
            ],
            "routes": [
                {
                    "org": r.org,
                    "project": r.project,
                    "deployment": r.deployment,
                    "selector": r.selector,
                    "endpoint": r.endpoint,
                    "backends": [
                        {"name": b.name, "weight": b.weight, "target": b.target} for b in r.backends
                    ],
                    "mirrors": [{"name": m.name, "target": m.target} for m in r.mirrors],
                    "sticky": r.sticky,
                }
                for r in self.routes
            ],
            "log_sinks": [{"project": k.project, "url": k.url} for k in self.log_sinks],
            "grants": [
                {
                    "token_hash": g.token_hash,
                    "scope": g.scope,
                    "project": g.project,
                    "expires_at": g.expires_at,
                }
                for g in self.grants
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RouteSnapshot:
        return cls(
            revision=int(data["revision"]),
            targets=tuple(
                RouteTarget(
                    key=t["key"],
                    state=t["state"],
                    visibility=t["visibility"],
                    strip_prefix=bool(t["strip_prefix"]),
                    replicas=tuple(ReplicaAddress(r["id"], r["address"]) for r in t["replicas"]),
                    timeout=float(t.get("timeout", 60.0)),
                    connect_timeout=float(t.get("connect_timeout", 5.0)),
                    retry_non_idempotent=bool(t.get("retry_non_idempotent", False)),
                    max_concurrency=(
                        None if t.get("max_concurrency") is None else int(t["max_concurrency"])
                    ),
                    queue_size=int(t.get("queue_size", 100)),
                    queue_timeout=float(t.get("queue_timeout", 10.0)),
                )
                for t in data["targets"]
            ),
            routes=tuple(
                Route(
                    org=r["org"],
                    project=r["project"],
                    deployment=r["deployment"],
                    selector=r["selector"],
                    endpoint=r["endpoint"],
                    backends=tuple(
                        RouteBackend(b["name"], int(b["weight"]), b["target"])
                        for b in r["backends"]
                    ),
                    mirrors=tuple(RouteMirror(m["name"], m["target"]) for m in r["mirrors"]),
                    sticky=r.get("sticky"),
                )
                for r in data["routes"]
            ),
            log_sinks=tuple(LogSink(k["project"], k["url"]) for k in data.get("log_sinks", ())),
            grants=tuple(
                TokenGrant(
                    g["token_hash"],
                    g["scope"],
                    g["project"],
                    None if g["expires_at"] is None else float(g["expires_at"]),
                )
                for g in data.get("grants", ())
            ),
        )
