"""What to do about one endpoint of a version: a pure function of desired and observed state.

``decide(endpoint, observed, now)`` returns a ``Decision``: at most one lifecycle
trigger (with its reason), whether to start a build, and how many replicas the
runtime should run. The loop applies decisions; calling ``decide`` again with the
same inputs gives the same answer, so the loop is idempotent and survives restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from waypost.model.lifecycle import FAILED, EndpointState, Trigger
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus

__all__ = ["CRASH_LIMIT", "Decision", "Observed", "decide", "desired_replicas"]

S = EndpointState

#: Restarts of one replica after which a Running endpoint is a RuntimeError.
CRASH_LIMIT = 5


@dataclass(frozen=True)
class Observed:
    replicas: Sequence[ReplicaStatus] = ()
    build: Literal["none", "running", "ok", "failed"] = "none"
    build_error: str = ""


@dataclass(frozen=True)
class Decision:
    trigger: Trigger | None = None
    reason: str = ""
    start_build: bool = False
    scale_to: int | None = None


def desired_replicas(replicas_desired: int, spec_min: int) -> int:
    """Replicas to run while active: at least one, so a fresh deploy can be seen working."""
    return max(replicas_desired, spec_min, 1)


def decide(
    state: EndpointState,
    desired: Literal["running", "stopped"],
    replicas_desired: int,
    observed: Observed,
) -> Decision:
    if desired == "stopped" or state in (S.STOPPED, S.SLEEPING) or state in FAILED:
        return Decision(scale_to=0)
    if state is S.BUILDING:
        return _building(observed)
    ready = [r for r in observed.replicas if r.phase is ReplicaPhase.READY]
    failed = [r for r in observed.replicas if r.phase is ReplicaPhase.FAILED]
    if state is S.DEPLOYING:
        return Decision(
            trigger=Trigger.PLACED,
            reason=f"{replicas_desired} replica(s) placed",
            scale_to=replicas_desired,
        )
    if state is S.STARTUP:
        if ready:
            return Decision(
                trigger=Trigger.READY,
                reason=f"replica {ready[0].replica_id} ready at {ready[0].address}",
                scale_to=replicas_desired,
            )
        if failed:
            return Decision(
                trigger=Trigger.DEPLOY_FAILED, reason=_failure_reason(failed[0]), scale_to=0
            )
        return Decision(scale_to=replicas_desired)
    # Running: keep the count; a replica that keeps crashing makes it a RuntimeError.
    crashing = [r for r in observed.replicas if r.restarts >= CRASH_LIMIT and not _is_up(r)]
    if crashing:
        return Decision(
            trigger=Trigger.CRASHED,
            reason=f"replica {crashing[0].replica_id} crashed {crashing[0].restarts} times: "
            + _failure_reason(crashing[0]),
            scale_to=0,
        )
    return Decision(scale_to=replicas_desired)


def _building(observed: Observed) -> Decision:
    if observed.build == "none":
        return Decision(start_build=True)
    if observed.build == "ok":
        return Decision(trigger=Trigger.BUILT, reason="environment ready")
    if observed.build == "failed":
        return Decision(trigger=Trigger.BUILD_FAILED, reason=observed.build_error or "build failed")
    return Decision()


def _is_up(replica: ReplicaStatus) -> bool:
    return replica.phase in (ReplicaPhase.READY, ReplicaPhase.STARTING)


def _failure_reason(replica: ReplicaStatus) -> str:
    code = f" (exit code {replica.exit_code})" if replica.exit_code is not None else ""
    return (replica.message or f"replica {replica.replica_id} failed") + code
