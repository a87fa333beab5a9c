"""Lifecycle of an endpoint of a version: the states of seed 004 and one transition table.

    Building -> Deploying -> Startup -> Running <-> Sleeping
    Building -> BuildingFailed    Deploying/Startup -> DeployFailed    Running -> RuntimeError
    any active state -> Stopped -> (start) Deploying ...     failed states -> (restart) again

``transition(state, trigger)`` is the only way a state changes; a trigger that
does not fit raises ``Conflict`` with a sentence a user can read.
"""

from __future__ import annotations

from enum import StrEnum

from waypost.errors import Conflict

__all__ = [
    "ACTIVE",
    "FAILED",
    "SERVING",
    "USER_ACTIONS",
    "EndpointState",
    "Trigger",
    "allowed_triggers",
    "transition",
]


class EndpointState(StrEnum):
    BUILDING = "Building"
    BUILDING_FAILED = "BuildingFailed"
    DEPLOYING = "Deploying"
    DEPLOY_FAILED = "DeployFailed"
    STARTUP = "Startup"
    RUNNING = "Running"
    SLEEPING = "Sleeping"
    STOPPED = "Stopped"
    RUNTIME_ERROR = "RuntimeError"


class Trigger(StrEnum):
    """What moves a state: system observations and user actions."""

    # observed by the control plane
    BUILT = "built"
    BUILD_FAILED = "build_failed"
    PLACED = "placed"
    DEPLOY_FAILED = "deploy_failed"
    READY = "ready"
    CRASHED = "crashed"
    IDLE = "idle"
    # asked for by a user
    STOP = "stop"
    START = "start"
    RESTART = "restart"
    WAKE = "wake"


S = EndpointState
T = Trigger

ACTIVE = frozenset({S.BUILDING, S.DEPLOYING, S.STARTUP, S.RUNNING, S.SLEEPING})
FAILED = frozenset({S.BUILDING_FAILED, S.DEPLOY_FAILED, S.RUNTIME_ERROR})
#: States in which the gateway may route traffic to the endpoint (Sleeping holds it).
SERVING = frozenset({S.RUNNING, S.SLEEPING})
USER_ACTIONS = frozenset({T.STOP, T.START, T.RESTART, T.WAKE})

_TABLE: dict[tuple[EndpointState, Trigger], EndpointState] = {
    (S.BUILDING, T.BUILT): S.DEPLOYING,
    (S.BUILDING, T.BUILD_FAILED): S.BUILDING_FAILED,
    (S.DEPLOYING, T.PLACED): S.STARTUP,
    (S.DEPLOYING, T.DEPLOY_FAILED): S.DEPLOY_FAILED,
    (S.STARTUP, T.READY): S.RUNNING,
    (S.STARTUP, T.DEPLOY_FAILED): S.DEPLOY_FAILED,
    (S.RUNNING, T.CRASHED): S.RUNTIME_ERROR,
    (S.RUNNING, T.IDLE): S.SLEEPING,
    (S.RUNNING, T.RESTART): S.DEPLOYING,
    (S.SLEEPING, T.READY): S.RUNNING,
    (S.SLEEPING, T.WAKE): S.SLEEPING,
    (S.SLEEPING, T.RESTART): S.DEPLOYING,
    (S.STOPPED, T.START): S.DEPLOYING,
    (S.STOPPED, T.RESTART): S.DEPLOYING,
    **{(state, T.STOP): S.STOPPED for state in ACTIVE},
    **{(state, T.RESTART): S.BUILDING for state in FAILED},
}

_WHY_NOT: dict[Trigger, str] = {
    T.START: "only a Stopped endpoint can be started (use restart for a failed one)",
    T.STOP: "only an active endpoint (Building, Deploying, Startup, Running, Sleeping)"
    " can be stopped",
    T.RESTART: "it is still being built or deployed; wait or stop it first",
    T.WAKE: "only a Sleeping endpoint can be woken",
}


def transition(state: EndpointState, trigger: Trigger) -> EndpointState:
    """The state after ``trigger``; ``Conflict`` with a sentence if it does not fit."""
    try:
        return _TABLE[(state, trigger)]
    except KeyError:
        reason = _WHY_NOT.get(trigger, f"{trigger.value} does not apply to that state")
        raise Conflict(f"cannot {trigger.value}: endpoint is {state.value}; {reason}") from None


def allowed_triggers(state: EndpointState) -> frozenset[Trigger]:
    return frozenset(trigger for (source, trigger) in _TABLE if source == state)
