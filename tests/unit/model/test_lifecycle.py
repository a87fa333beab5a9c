"""Every state x trigger pair of the lifecycle table, including the refusals."""

from __future__ import annotations

import pytest

from waypost.errors import Conflict
from waypost.model.lifecycle import (
    ACTIVE,
    FAILED,
    EndpointState,
    Trigger,
    allowed_triggers,
    transition,
)

S = EndpointState
T = Trigger

EXPECTED = {
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
    **{(s, T.STOP): S.STOPPED for s in ACTIVE},
    **{(s, T.RESTART): S.BUILDING for s in FAILED},
}


@pytest.mark.parametrize(
    ("state", "trigger"),
    [pytest.param(s, t, id=f"{s.value}-{t.value}") for s in S for t in T],
)
def test_every_state_and_trigger(state: EndpointState, trigger: Trigger) -> None:
    expected = EXPECTED.get((state, trigger))
    if expected is None:
        with pytest.raises(Conflict) as info:
            transition(state, trigger)
        assert info.value.status == 409
        assert f"cannot {trigger.value}: endpoint is {state.value}" in info.value.message
    else:
        assert transition(state, trigger) is expected


def test_start_on_running_says_why() -> None:
    with pytest.raises(Conflict, match="cannot start: endpoint is Running"):
        transition(S.RUNNING, T.START)


def test_allowed_triggers_match_table() -> None:
    for state in S:
        assert allowed_triggers(state) == {t for (s, t) in EXPECTED if s == state}
