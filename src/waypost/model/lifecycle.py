"""Lifecycle of an endpoint of a version: the states of seed 004 and one transition table.

    Building -> Deploying -> Startup -> Running <-> Sleeping
    Building -> BuildingFailed    Deploying/Startup -> DeployFailed
    Running/Sleeping -> RuntimeError (crash loop, or a replica that cannot wake)
    any active state -> Stopped -> (start) Deploying ...     failed states -> (restart) Building
    update: accepted in every state          delete: from every state, the endpoint is gone

A Sleeping endpoint that is woken (by a user, or by a request a gateway holds)
stays Sleeping until one replica is ready, then becomes Running.

``outcome(state, trigger)`` is the only way a state changes; a trigger that does
not fit raises ``Conflict`` with a sentence a user can read. ``transition`` is the
same for the triggers that keep the endpoint (every one but ``delete``).
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
    "outcome",
    "pending_until_restart",
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
    # asked for by a user (wake also by a gateway holding a request)
    STOP = "stop"
    START = "start"
    RESTART = "restart"
    WAKE = "wake"
    UPDATE = "update"
    DELETE = "delete"


S = EndpointState
T = Trigger

ACTIVE = frozenset({S.BUILDING, S.DEPLOYING, S.STARTUP, S.RUNNING, S.SLEEPING})
FAILED = frozenset({S.BUILDING_FAILED, S.DEPLOY_FAILED, S.RUNTIME_ERROR})
#: States in which the gateway may route traffic to the endpoint (Sleeping holds it).
SERVING = frozenset({S.RUNNING, S.SLEEPING})
USER_ACTIONS = frozenset({T.STOP, T.START, T.RESTART, T.WAKE, T.UPDATE, T.DELETE})

#: (state, trigger) -> the state after it; ``None``: the endpoint is gone.
_TABLE: dict[tuple[EndpointState, Trigger], EndpointState | None] = {
    (S.BUILDING, T.BUILT): S.DEPLOYING,
    (S.BUILDING, T.BUILD_FAILED): S.BUILDING_FAILED,
    (S.DEPLOYING, T.PLACED): S.STARTUP,
    (S.DEPLOYING, T.DEPLOY_FAILED): S.DEPLOY_FAILED,
    (S.STARTUP, T.READY): S.RUNNING,
    (S.STARTUP, T.DEPLOY_FAILED): S.DEPLOY_FAILED,
    (S.RUNNING, T.CRASHED): S.RUNTIME_ERROR,
    (S.RUNNING, T.IDLE): S.SLEEPING,
    (S.RUNNING, T.RESTART): S.DEPLOYING,
    # Woken: it stays Sleeping (the gateway keeps holding requests) until a replica is ready.
    (S.SLEEPING, T.WAKE): S.SLEEPING,
    (S.SLEEPING, T.READY): S.RUNNING,
    (S.SLEEPING, T.CRASHED): S.RUNTIME_ERROR,
    (S.SLEEPING, T.RESTART): S.DEPLOYING,
    (S.STOPPED, T.START): S.DEPLOYING,
    (S.STOPPED, T.RESTART): S.DEPLOYING,
    **{(state, T.STOP): S.STOPPED for state in ACTIVE},
    **{(state, T.RESTART): S.BUILDING for state in FAILED},
    # Settings are accepted in every state; ``pending_until_restart`` says when they apply.
    **{(state, T.UPDATE): state for state in S},
    **{(state, T.DELETE): None for state in S},
}

_WHY_NOT: dict[Trigger, str] = {
    T.START: "only a Stopped endpoint can be started (restart a running or failed one)",
    T.STOP: "only an active endpoint (Building, Deploying, Startup, Running, Sleeping)"
    " can be stopped",
    T.RESTART: "it is still being built or deployed; wait, or stop it first",
    T.WAKE: "only a Sleeping endpoint can be woken",
}


def outcome(state: EndpointState, trigger: Trigger) -> EndpointState | None:
    """The state after ``trigger`` (None: the endpoint is removed); Conflict if it does not fit."""
    try:
        return _TABLE[(state, trigger)]
    except KeyError:
        reason = _WHY_NOT.get(trigger, f"{trigger.value} does not apply to that state")
        raise Conflict(f"cannot {trigger.value}: endpoint is {state.value}; {reason}") from None


def transition(state: EndpointState, trigger: Trigger) -> EndpointState:
    """The state after ``trigger``, for every trigger that keeps the endpoint."""
    after = outcome(state, trigger)
    if after is None:
        raise ValueError(f"{trigger.value} removes the endpoint: there is no state after it")
    return after


def allowed_triggers(state: EndpointState) -> frozenset[Trigger]:
    return frozenset(trigger for (source, trigger) in _TABLE if source == state)


def pending_until_restart(state: EndpointState) -> bool:
    """Whether a setting that needs new replicas (resources, engine args, ...) must wait.

    While replicas run or are being made (an active state) such a change is kept as
    the pending spec, which the next start or restart applies; in a Stopped or
    failed endpoint nothing runs, so it is applied at once.
    """
    return state in ACTIVE
