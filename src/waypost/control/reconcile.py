"""What to do about one endpoint of a version: a pure function of desired and observed state.

``decide(unit, observed, now)`` returns a ``Decision``: at most one lifecycle
trigger (with its reason), whether to start a build or apply the pending spec,
how many replicas the runtime should run, and the replica count to store. The
loop applies decisions; calling ``decide`` again with the same inputs gives the
same answer, so the loop is idempotent and survives restarts: everything it
needs is in the store (state, desired, stored replica count, spec) or is
observed afresh.

The stored replica count means: while Running, the autoscaler's last count; while
Sleeping, 0 asleep and 1 or more once woken (the wake is in the store, so a
restarted control plane goes on waking it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from waypost.control.crashes import CRASH_LIMIT, CRASH_WINDOW
from waypost.model.durations import format_duration
from waypost.model.lifecycle import FAILED, EndpointState, Trigger
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus

__all__ = ["Decision", "Observed", "Unit", "decide", "desired_replicas"]

S = EndpointState
P = ReplicaPhase


@dataclass(frozen=True)
class Unit:
    """What the store says of one endpoint of a version."""

    state: EndpointState
    desired: Literal["running", "stopped"] = "running"
    replicas_desired: int = 1  # as stored (see the module docstring)
    min_replicas: int = 1
    max_replicas: int = 1
    idle_timeout: float = 300.0
    reason: str = ""  # why it is in its state (a Sleeping one: who woke it)
    has_pending: bool = False  # a pending spec waits for the next deploy
    #: The autoscaler's count, computed by the loop while Running.
    autoscaled: int | None = None


@dataclass(frozen=True)
class Observed:
    replicas: Sequence[ReplicaStatus] = ()
    build: Literal["none", "running", "ok", "failed"] = "none"
    build_error: str = ""
    crashes: int = 0  # restarts within the crash window
    #: Unix time of the last request (or since when it is Running, or since the
    #: control plane started, whichever is latest): the start of the idle period.
    quiet_since: float = 0.0
    waiting: bool = False  # a gateway holds requests for it


@dataclass(frozen=True)
class Decision:
    trigger: Trigger | None = None
    reason: str = ""
    start_build: bool = False
    apply_pending: bool = False
    scale_to: int | None = None
    #: Store this as the replica count (before recording the trigger).
    replicas_desired: int | None = None
    #: Add the last lines of the endpoint's log to the reason (a crash loop's replicas
    #: restarted since, so no single replica's message holds the story).
    log_tail: bool = False


def desired_replicas(replicas_desired: int, spec_min: int, spec_max: int | None = None) -> int:
    """Replicas to place while active: at least one (a fresh deploy is seen working)
    and, when ``spec_max`` is given, at most that."""
    count = max(replicas_desired, spec_min, 1)
    return count if spec_max is None else min(count, max(spec_max, 1))


def decide(unit: Unit, observed: Observed, now: float) -> Decision:
    state = unit.state
    if unit.desired == "stopped" or state is S.STOPPED or state in FAILED:
        return Decision(scale_to=0)
    if unit.has_pending and state in (S.BUILDING, S.DEPLOYING):
        # A start or restart is under way: it takes the pending spec before placing anything.
        return Decision(apply_pending=True)
    if state is S.BUILDING:
        return _building(observed)
    count = desired_replicas(unit.replicas_desired, unit.min_replicas, unit.max_replicas)
    if state is S.DEPLOYING:
        return _deploying(observed, count)
    if state is S.STARTUP:
        return _startup(observed, count)
    if state is S.SLEEPING:
        return _sleeping(unit, observed)
    return _running(unit, observed, now, count)


def _building(observed: Observed) -> Decision:
    if observed.build == "none":
        return Decision(start_build=True)
    if observed.build == "ok":
        return Decision(trigger=Trigger.BUILT, reason="environment ready")
    if observed.build == "failed":
        return Decision(trigger=Trigger.BUILD_FAILED, reason=observed.build_error or "build failed")
    return Decision()


def _deploying(observed: Observed, count: int) -> Decision:
    """New replicas are placed once the old ones are gone (a restart, a start right after
    a stop): a fixed port would clash, and two generations would need twice the memory."""
    if any(r.phase is not P.STOPPING for r in observed.replicas):
        return Decision(scale_to=0)
    if observed.replicas:
        return Decision()  # still stopping
    return Decision(trigger=Trigger.PLACED, reason=f"{count} replica(s) placed", scale_to=count)


def _startup(observed: Observed, count: int) -> Decision:
    ready = _in(observed, P.READY)
    if ready:
        return Decision(
            trigger=Trigger.READY,
            reason=f"replica {ready[0].replica_id} ready at {ready[0].address}",
            scale_to=count,
        )
    failed = _in(observed, P.FAILED)
    if failed:
        return Decision(
            trigger=Trigger.DEPLOY_FAILED, reason=_failure_reason(failed[0]), scale_to=0
        )
    if observed.crashes >= CRASH_LIMIT:
        return Decision(
            trigger=Trigger.DEPLOY_FAILED,
            reason=_crash_reason(observed),
            scale_to=0,
            log_tail=True,
        )
    return Decision(scale_to=count)


def _running(unit: Unit, observed: Observed, now: float, count: int) -> Decision:
    if observed.crashes >= CRASH_LIMIT:
        return Decision(
            trigger=Trigger.CRASHED, reason=_crash_reason(observed), scale_to=0, log_tail=True
        )
    failed = _in(observed, P.FAILED)
    if failed and not any(_is_up(r) for r in observed.replicas):
        # Every replica there is failed to start (a scale-up that cannot come up, say):
        # nothing serves and nothing will. With one replica still up it keeps serving.
        return Decision(
            trigger=Trigger.CRASHED,
            reason="no replica is up: " + _failure_reason(failed[0]),
            scale_to=0,
        )
    idle_for = now - observed.quiet_since
    if unit.min_replicas == 0 and not observed.waiting and idle_for >= unit.idle_timeout:
        return Decision(
            trigger=Trigger.IDLE,
            reason=f"idle for {format_duration(unit.idle_timeout)}",
            scale_to=0,
            replicas_desired=0,
        )
    return Decision(scale_to=unit.autoscaled if unit.autoscaled is not None else count)


def _sleeping(unit: Unit, observed: Observed) -> Decision:
    if unit.replicas_desired == 0:  # asleep
        if observed.waiting:
            return Decision(
                trigger=Trigger.WAKE,
                reason="woken by a waiting request",
                scale_to=1,
                replicas_desired=1,
            )
        if unit.min_replicas > 0:  # min raised while it slept: it must run again
            count = desired_replicas(0, unit.min_replicas, unit.max_replicas)
            return Decision(
                trigger=Trigger.WAKE,
                reason=f"woken: min replicas is now {unit.min_replicas}",
                scale_to=count,
                replicas_desired=count,
            )
        return Decision(scale_to=0)
    # Woken: it stays Sleeping (the gateway holds requests) until a replica is ready.
    count = desired_replicas(unit.replicas_desired, unit.min_replicas, unit.max_replicas)
    ready = _in(observed, P.READY)
    if ready:
        woken = unit.reason if unit.reason.startswith("woken") else "woken"
        return Decision(
            trigger=Trigger.READY,
            reason=f"{woken}; replica {ready[0].replica_id} ready at {ready[0].address}",
            scale_to=count,
        )
    failed = _in(observed, P.FAILED)
    if failed:
        return Decision(
            trigger=Trigger.CRASHED,
            reason="could not wake: " + _failure_reason(failed[0]),
            scale_to=0,
        )
    if observed.crashes >= CRASH_LIMIT:
        return Decision(
            trigger=Trigger.CRASHED, reason=_crash_reason(observed), scale_to=0, log_tail=True
        )
    return Decision(scale_to=count)


def _in(observed: Observed, phase: ReplicaPhase) -> list[ReplicaStatus]:
    return [r for r in observed.replicas if r.phase is phase]


def _is_up(replica: ReplicaStatus) -> bool:
    return replica.phase in (P.READY, P.STARTING, P.UNHEALTHY, P.BACKOFF)


def _failure_reason(replica: ReplicaStatus) -> str:
    code = f" (exit code {replica.exit_code})" if replica.exit_code is not None else ""
    return (replica.message or f"replica {replica.replica_id} failed") + code


def _crash_reason(observed: Observed) -> str:
    """Which replica crashed last and how; the loop adds the tail of the log."""
    text = f"replicas crashed {observed.crashes} times within {format_duration(CRASH_WINDOW)}"
    worst = max(observed.replicas, key=lambda r: r.restarts, default=None)
    if worst is not None:
        # The message is the runtime's "exited with code N" (with a log tail), or empty
        # when the replica is already starting again; the exit code stays either way.
        how = worst.message.splitlines()[0] if worst.message else ""
        if not how and worst.exit_code is not None:
            how = f"exit code {worst.exit_code}"
        text += f"; last: replica {worst.replica_id} {how}".rstrip()
    return text
