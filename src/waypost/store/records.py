"""What the store hands out: frozen values, never ORM objects.

Nothing outside ``waypost.store`` sees SQLAlchemy; callers get these records,
which stay valid after the session that read them is gone. Times are
timezone-aware UTC datetimes, except ``ReplicaRecord.started_at``, which keeps
the runtime's unix time as the runtime reported it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from waypost.model.lifecycle import EndpointState
from waypost.model.policy import AliasPolicy
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec

__all__ = [
    "AliasRecord",
    "DeploymentRecord",
    "Desired",
    "EndpointRecord",
    "EventRecord",
    "ModelRecord",
    "ProjectRecord",
    "ReplicaRecord",
    "SecretRecord",
    "TokenRecord",
    "VersionRecord",
]

#: What the user wants of an endpoint; the reconciler converges the runtime to it.
Desired = Literal["running", "stopped"]


@dataclass(frozen=True)
class ProjectRecord:
    org: str
    name: str
    deployments: int  # how many deployments the project has
    created_at: datetime


@dataclass(frozen=True)
class DeploymentRecord:
    org: str
    project: str
    name: str
    branch: str
    created_at: datetime
    versions: tuple[int, ...]  # ascending


@dataclass(frozen=True)
class ReplicaRecord:
    """A replica as the runtime last reported it (``phase`` is a ``ReplicaPhase`` value)."""

    replica_id: str
    phase: str
    address: str | None
    pid: int | None
    started_at: float  # unix time of the current process start
    restarts: int
    exit_code: int | None
    message: str


@dataclass(frozen=True)
class EndpointRecord:
    """One endpoint of one version: its spec, lifecycle state, and last observed replicas."""

    id: int
    key: UnitKey
    branch: str
    spec: EndpointSpec
    pending_spec: EndpointSpec | None
    state: EndpointState
    desired: Desired
    reason: str
    state_changed_at: datetime
    created_at: datetime
    ever_ready: bool
    replicas_desired: int
    replicas: tuple[ReplicaRecord, ...]
    bundle_digest: str


@dataclass(frozen=True)
class VersionRecord:
    org: str
    project: str
    deployment: str
    number: int
    branch: str
    created_at: datetime
    created_by: str
    bundle_digest: str
    bundle_size: int
    endpoints: tuple[EndpointRecord, ...]  # by name


@dataclass(frozen=True)
class EventRecord:
    """Something that happened: a state transition, a new version, an alias change.

    ``kind`` is ``"transition"``, ``"version"``, ``"alias"``, ``"deleted"``, or one of the
    endpoint notes that keep its state: ``"settings"`` (a settings change) and
    ``"scaled"`` (the autoscaler changed the replica count). A ``"secret"`` event names a
    project secret that was set, changed or deleted, never its value.
    Names are copied into the event, so it outlives what it is about.
    ``alias`` names the alias of an ``"alias"`` event.
    """

    id: int
    at: datetime
    kind: str
    org: str
    project: str
    deployment: str | None
    version: int | None
    endpoint: str | None
    from_state: str | None
    to_state: str | None
    reason: str
    actor: str
    alias: str | None = None


@dataclass(frozen=True)
class AliasRecord:
    org: str
    project: str
    #: ``None``: a Modelbit endpoint file, whose name takes the deployment's place in the URL.
    deployment: str | None
    name: str
    policy: AliasPolicy
    updated_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    """An API token; only its hash is ever stored."""

    id: int
    name: str
    token_hash: str
    scope: str
    project: str | None  # ``org/project`` the token is limited to, if any
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class SecretRecord:
    """A project secret as the API may show it: its name and when it was last set, no value."""

    name: str
    updated_at: datetime


@dataclass(frozen=True)
class ModelRecord:
    """A model in the model store: ``owner/name``, its task and its content digest."""

    id: int
    owner: str
    name: str
    task: str
    digest: str
    size: int  # bytes
    files: int
    created_at: datetime
    created_by: str

    @property
    def model_id(self) -> str:
        return f"{self.owner}/{self.name}"
