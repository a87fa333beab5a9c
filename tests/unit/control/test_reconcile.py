"""decide(): one row per (state, observation) the loop can meet."""

from __future__ import annotations

import pytest

from waypost.control.reconcile import CRASH_LIMIT, Decision, Observed, decide, desired_replicas
from waypost.model.lifecycle import EndpointState, Trigger
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus

S = EndpointState


def replica(
    phase: ReplicaPhase, restarts: int = 0, message: str = "", code: int | None = None
) -> ReplicaStatus:
    return ReplicaStatus(
        replica_id="r-1",
        phase=phase,
        address="127.0.0.1:4000",
        pid=10,
        started_at=1.0,
        restarts=restarts,
        exit_code=code,
        message=message,
    )


READY = replica(ReplicaPhase.READY)
STARTING = replica(ReplicaPhase.STARTING)
FAILED = replica(ReplicaPhase.FAILED, message="exited before ready", code=3)
CRASHING = replica(ReplicaPhase.BACKOFF, restarts=CRASH_LIMIT, message="exited", code=1)


@pytest.mark.parametrize(
    ("state", "desired", "observed", "expected"),
    [
        pytest.param(
            S.BUILDING, "running", Observed(), Decision(start_build=True), id="build-starts"
        ),
        pytest.param(
            S.BUILDING, "running", Observed(build="running"), Decision(), id="build-waits"
        ),
        pytest.param(
            S.BUILDING,
            "running",
            Observed(build="ok"),
            Decision(trigger=Trigger.BUILT, reason="environment ready"),
            id="build-done",
        ),
        pytest.param(
            S.BUILDING,
            "running",
            Observed(build="failed", build_error="pip said no"),
            Decision(trigger=Trigger.BUILD_FAILED, reason="pip said no"),
            id="build-failed",
        ),
        pytest.param(
            S.DEPLOYING,
            "running",
            Observed(),
            Decision(trigger=Trigger.PLACED, reason="2 replica(s) placed", scale_to=2),
            id="place",
        ),
        pytest.param(
            S.STARTUP, "running", Observed((STARTING,)), Decision(scale_to=2), id="starting"
        ),
        pytest.param(
            S.STARTUP,
            "running",
            Observed((READY,)),
            Decision(
                trigger=Trigger.READY, reason="replica r-1 ready at 127.0.0.1:4000", scale_to=2
            ),
            id="ready",
        ),
        pytest.param(
            S.STARTUP,
            "running",
            Observed((FAILED,)),
            Decision(
                trigger=Trigger.DEPLOY_FAILED,
                reason="exited before ready (exit code 3)",
                scale_to=0,
            ),
            id="startup-failed",
        ),
        pytest.param(S.RUNNING, "running", Observed((READY,)), Decision(scale_to=2), id="steady"),
        pytest.param(
            S.RUNNING,
            "running",
            Observed((replica(ReplicaPhase.BACKOFF, restarts=1),)),
            Decision(scale_to=2),
            id="one-crash-is-restarted",
        ),
        pytest.param(
            S.RUNNING,
            "running",
            Observed((CRASHING,)),
            Decision(
                trigger=Trigger.CRASHED,
                reason=f"replica r-1 crashed {CRASH_LIMIT} times: exited (exit code 1)",
                scale_to=0,
            ),
            id="crash-loop",
        ),
        pytest.param(
            S.RUNNING, "stopped", Observed((READY,)), Decision(scale_to=0), id="desired-stopped"
        ),
        pytest.param(S.STOPPED, "stopped", Observed(), Decision(scale_to=0), id="stopped"),
        pytest.param(
            S.DEPLOY_FAILED,
            "running",
            Observed((FAILED,)),
            Decision(scale_to=0),
            id="failed-stays-down",
        ),
        pytest.param(
            S.BUILDING_FAILED, "running", Observed(), Decision(scale_to=0), id="build-failed-down"
        ),
        pytest.param(
            S.RUNTIME_ERROR, "running", Observed(), Decision(scale_to=0), id="runtime-error-down"
        ),
    ],
)
def test_decide(state: S, desired: str, observed: Observed, expected: Decision) -> None:
    assert decide(state, desired, 2, observed) == expected  # type: ignore[arg-type]


def test_decide_is_idempotent() -> None:
    observed = Observed((STARTING,))
    assert decide(S.STARTUP, "running", 1, observed) == decide(S.STARTUP, "running", 1, observed)


@pytest.mark.parametrize(
    ("stored", "spec_min", "expected"),
    [(0, 0, 1), (1, 0, 1), (3, 1, 3), (0, 2, 2)],
)
def test_desired_replicas_never_zero_while_active(
    stored: int, spec_min: int, expected: int
) -> None:
    assert desired_replicas(stored, spec_min) == expected
