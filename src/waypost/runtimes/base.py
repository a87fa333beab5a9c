"""The ``Runtime`` protocol: what the control plane asks of any place replicas run.

It is shaped so that both a local process supervisor and Kubernetes fit:

- ``build`` makes a version's endpoint runnable (locally: unpack the bundle and
  make its environment; on Kubernetes: check or build the image). Raises
  ``BuildFailed`` with a reason a user can act on.
- ``scale`` converges the number of replicas of one endpoint of a version,
  idempotently (the reconciler calls it again and again with the desired count).
- ``observe`` reports every replica the runtime knows of, ready or not; the
  control plane derives lifecycle states and the route table from it.
- the runtime restarts replicas that exit (with backoff) and counts restarts,
  as kubelet does; the control plane decides when that becomes RuntimeError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec

__all__ = ["LogChunk", "ReplicaPhase", "ReplicaStatus", "Runtime", "Workload"]


@dataclass(frozen=True)
class Workload:
    """Everything needed to run one endpoint of one version."""

    key: UnitKey
    spec: EndpointSpec
    bundle: Path  # the version's bundle archive (.tar.gz), content-addressed
    bundle_digest: str  # sha256 hex of the archive
    #: Extra environment from the control plane (e.g. project secrets). The runtime
    #: adds PORT, SCRIPT_NAME and VH_DEFAULT_PREFIX itself; the spec's env comes first.
    env: Mapping[str, str] = field(default_factory=dict)
    #: For ``runtime`` endpoints: the model store's directory of ``spec.model`` and its
    #: task, or None when the store does not have the model (the build then fails).
    model_dir: Path | None = None
    model_task: str | None = None


class ReplicaPhase(StrEnum):
    STARTING = "starting"  # process started, not yet answering
    READY = "ready"  # answering its readiness check
    UNHEALTHY = "unhealthy"  # was ready, stopped answering
    BACKOFF = "backoff"  # exited; waiting to be restarted
    FAILED = "failed"  # exited before ever becoming ready, or missed the startup deadline
    STOPPING = "stopping"  # draining / being stopped


@dataclass(frozen=True)
class ReplicaStatus:
    replica_id: str
    phase: ReplicaPhase
    address: str | None  # host:port the gateway sends traffic to
    pid: int | None
    started_at: float  # unix time of the current process start
    restarts: int = 0
    exit_code: int | None = None
    message: str = ""  # why it failed or is unhealthy, for events


@dataclass(frozen=True)
class LogChunk:
    text: str
    offset: int  # pass back to read what comes next


@runtime_checkable
class Runtime(Protocol):
    name: str

    async def start(self) -> None:
        """Called once at control-plane start: adopt or clean up replicas left by a previous run."""

    async def build(self, workload: Workload, log: Callable[[str], None]) -> None:
        """Make the workload runnable; raise BuildFailed with a reason if it cannot be."""

    async def scale(self, workload: Workload, replicas: int) -> None:
        """Converge to exactly ``replicas`` replicas (0 stops them all); idempotent."""

    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        """Every replica this runtime runs, by unit."""

    async def remove(self, key: UnitKey) -> None:
        """Stop every replica of ``key`` and release what it holds (environment refs, logs)."""

    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        """Replica output from ``offset`` (or the last ``tail`` lines)."""

    async def close(self) -> None:
        """Stop every replica this runtime started (SIGTERM, grace, SIGKILL)."""
