"""What a user declares: deployments, their endpoints, and the settings of each endpoint.

Frozen dataclasses, stdlib only. ``to_json``/``from_json`` round-trip them for the
store (a version keeps its endpoint specs as JSON, immutable once created).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "Autoscaling",
    "DeploymentSpec",
    "EndpointKind",
    "EndpointSpec",
    "FileBinding",
    "Health",
    "Replicas",
    "Resources",
    "Traffic",
    "Visibility",
]

EndpointKind = Literal["wsgi", "asgi", "server-command", "runtime"]
Visibility = Literal["public", "private"]
EngineArgValue = str | int | float | bool


@dataclass(frozen=True)
class Replicas:
    min: int = 1
    max: int = 1


@dataclass(frozen=True)
class Resources:
    """Per-replica limits. ``preset`` names an installation's cloud resource."""

    cpu: float | None = None
    memory: int | None = None  # bytes
    gpu: int = 0
    gpu_type: str | None = None
    preset: str | None = None


@dataclass(frozen=True)
class Health:
    """Readiness: ``path`` is polled until it answers 2xx/3xx; without it any HTTP answer counts."""

    path: str | None = None
    startup_timeout: float = 60.0  # seconds until a replica must be ready
    interval: float = 0.1  # seconds between readiness polls


@dataclass(frozen=True)
class Autoscaling:
    target_concurrency: float = 5.0
    idle_timeout: float = 300.0  # seconds without traffic before Sleeping (min replicas 0)


@dataclass(frozen=True)
class Traffic:
    """How gateways treat requests to the endpoint (seconds for times).

    ``max_concurrency`` caps requests in flight per gateway (None: no cap); up to
    ``queue`` more wait up to ``queue_timeout``; beyond either the gateway answers
    503 with Retry-After. ``retry_non_idempotent`` says a POST may be sent again to
    another replica when one fails after it was sent.
    """

    timeout: float = 60.0
    connect_timeout: float = 5.0
    max_concurrency: int | None = None
    queue: int = 100
    queue_timeout: float = 10.0
    retry_non_idempotent: bool = False


@dataclass(frozen=True)
class FileBinding:
    """A file bound to an endpoint (Valohai ``files``): placed at ``path`` in the bundle.

    ``source`` is where the CLI reads it from when bundling (relative to the
    project folder); without it the file must already be in the bundle.
    """

    name: str
    path: str
    source: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    kind: EndpointKind
    #: ``module:callable`` for wsgi/asgi, the shell command for server-command,
    #: the runtime framework name for runtime.
    target: str
    model: str | None = None
    port: int | None = None
    requirements: str | None = None
    files: tuple[FileBinding, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    replicas: Replicas = Replicas()
    resources: Resources = Resources()
    health: Health = Health()
    autoscaling: Autoscaling = Autoscaling()
    traffic: Traffic = Traffic()
    visibility: Visibility = "public"
    engine_args: Mapping[str, EngineArgValue] = field(default_factory=dict)
    quantization: str | None = None
    image: str | None = None
    description: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    strip_prefix: bool = False
    workers: int = 1
    cluster: str = "local"

    def with_changes(self, **changes: Any) -> EndpointSpec:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        data["env"] = dict(self.env)
        data["engine_args"] = dict(self.engine_args)
        data["node_selector"] = dict(self.node_selector)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EndpointSpec:
        values = dict(data)
        values["files"] = tuple(FileBinding(**f) for f in values.get("files", ()))
        values["replicas"] = Replicas(**values.get("replicas", {}))
        values["resources"] = Resources(**values.get("resources", {}))
        values["health"] = Health(**values.get("health", {}))
        values["autoscaling"] = Autoscaling(**values.get("autoscaling", {}))
        values["traffic"] = Traffic(**values.get("traffic", {}))
        return cls(**values)


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    endpoints: tuple[EndpointSpec, ...]
    branch: str = "main"
    description: str | None = None

    def endpoint(self, name: str) -> EndpointSpec | None:
        return next((e for e in self.endpoints if e.name == name), None)
