"""Every state x trigger pair of the lifecycle table, including the refusals and their sentences."""

from __future__ import annotations

import pytest

from waypost.errors import Conflict
from waypost.model.lifecycle import (
    EndpointState,
    Trigger,
    allowed_triggers,
    outcome,
    pending_until_restart,
    transition,
)

S = EndpointState
T = Trigger

# Written out rather than derived from the module, so a change to the table shows here.
_ACTIVE = (S.BUILDING, S.DEPLOYING, S.STARTUP, S.RUNNING, S.SLEEPING)
_FAILED = (S.BUILDING_FAILED, S.DEPLOY_FAILED, S.RUNTIME_ERROR)
GONE = "gone"

EXPECTED: dict[tuple[EndpointState, Trigger], EndpointState | str] = {
    (S.BUILDING, T.BUILT): S.DEPLOYING,
    (S.BUILDING, T.BUILD_FAILED): S.BUILDING_FAILED,
    (S.DEPLOYING, T.PLACED): S.STARTUP,
    (S.DEPLOYING, T.DEPLOY_FAILED): S.DEPLOY_FAILED,
    (S.STARTUP, T.READY): S.RUNNING,
    (S.STARTUP, T.DEPLOY_FAILED): S.DEPLOY_FAILED,
    (S.RUNNING, T.CRASHED): S.RUNTIME_ERROR,
    (S.RUNNING, T.IDLE): S.SLEEPING,
    (S.RUNNING, T.RESTART): S.DEPLOYING,
    (S.SLEEPING, T.WAKE): S.SLEEPING,
    (S.SLEEPING, T.READY): S.RUNNING,
    (S.SLEEPING, T.CRASHED): S.RUNTIME_ERROR,
    (S.SLEEPING, T.RESTART): S.DEPLOYING,
    (S.STOPPED, T.START): S.DEPLOYING,
    (S.STOPPED, T.RESTART): S.DEPLOYING,
    **{(s, T.STOP): S.STOPPED for s in _ACTIVE},
    **{(s, T.RESTART): S.BUILDING for s in _FAILED},
    **{(s, T.UPDATE): s for s in S},
    **{(s, T.DELETE): GONE for s in S},
}

#: The sentence after "cannot ACTION: endpoint is STATE; " for each refused user action.
WHY = {
    T.START: "only a Stopped endpoint can be started",
    T.STOP: "only an active endpoint",
    T.RESTART: "it is still being built or deployed",
    T.WAKE: "only a Sleeping endpoint can be woken",
}


@pytest.mark.parametrize(
    ("state", "trigger"),
    [pytest.param(s, t, id=f"{s.value}-{t.value}") for s in S for t in T],
)
def test_every_state_and_trigger(state: EndpointState, trigger: Trigger) -> None:
    expected = EXPECTED.get((state, trigger))
    if expected is None:
        with pytest.raises(Conflict) as info:
            outcome(state, trigger)
        assert info.value.status == 409
        message = info.value.message
        assert message.startswith(f"cannot {trigger.value}: endpoint is {state.value}; ")
        if trigger in WHY:
            assert WHY[trigger] in message
        with pytest.raises(Conflict):
            transition(state, trigger)
    elif expected == GONE:
        assert outcome(state, trigger) is None
        with pytest.raises(ValueError, match="removes the endpoint"):
            transition(state, trigger)
    else:
        assert outcome(state, trigger) is expected
        assert transition(state, trigger) is expected


@pytest.mark.parametrize(
    ("state", "trigger", "sentence"),
    [
        pytest.param(
            S.RUNNING,
            T.START,
            "cannot start: endpoint is Running; only a Stopped endpoint can be started "
            "(restart a running or failed one)",
            id="start-running",
        ),
        pytest.param(
            S.DEPLOYING,
            T.RESTART,
            "cannot restart: endpoint is Deploying; it is still being built or deployed; "
            "wait, or stop it first",
            id="restart-deploying",
        ),
        pytest.param(
            S.RUNNING,
            T.WAKE,
            "cannot wake: endpoint is Running; only a Sleeping endpoint can be woken",
            id="wake-running",
        ),
    ],
)
def test_refusals_say_why(state: EndpointState, trigger: Trigger, sentence: str) -> None:
    with pytest.raises(Conflict) as info:
        transition(state, trigger)
    assert info.value.message == sentence


def test_allowed_triggers_match_table() -> None:
    for state in S:
        assert allowed_triggers(state) == {t for (s, t) in EXPECTED if s == state}


@pytest.mark.parametrize(
    ("state", "waits"),
    [pytest.param(s, s in _ACTIVE, id=s.value) for s in S],
)
def test_settings_needing_new_replicas_wait_while_replicas_run(
    state: EndpointState, waits: bool
) -> None:
    assert pending_until_restart(state) is waits
