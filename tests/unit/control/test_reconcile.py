"""decide(): one row per (state, observation) the loop can meet; crash counting over time."""

from __future__ import annotations

import pytest

from waypost.control.crashes import CRASH_LIMIT, CrashHistory, track_crashes
from waypost.control.reconcile import Decision, Observed, Unit, decide, desired_replicas
from waypost.model.lifecycle import EndpointState, Trigger
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus

S = EndpointState
T = Trigger
P = ReplicaPhase
NOW = 10_000.0


def replica(
    phase: ReplicaPhase,
    restarts: int = 0,
    message: str = "",
    code: int | None = None,
    rid: str = "r-1",
) -> ReplicaStatus:
    return ReplicaStatus(
        replica_id=rid,
        phase=phase,
        address="127.0.0.1:4000",
        pid=10,
        started_at=1.0,
        restarts=restarts,
        exit_code=code,
        message=message,
    )


READY = replica(P.READY)
STARTING = replica(P.STARTING)
STOPPING = replica(P.STOPPING, rid="r-old")
FAILED = replica(P.FAILED, message="exited with code 3 before it was ready", code=3)
LOOPING = replica(
    P.BACKOFF, restarts=CRASH_LIMIT, message="exited with code 1\nrestarting in 8s", code=1
)

RUNNING_UNIT = Unit(S.RUNNING, replicas_desired=2, min_replicas=1, max_replicas=3)
SCALE_TO_ZERO = Unit(
    S.RUNNING, replicas_desired=1, min_replicas=0, max_replicas=2, idle_timeout=30.0
)
ASLEEP = Unit(S.SLEEPING, replicas_desired=0, min_replicas=0, max_replicas=2)
WOKEN = Unit(
    S.SLEEPING, replicas_desired=1, min_replicas=0, max_replicas=2, reason="woken by alice"
)
CRASH_LOOP_REASON = (
    f"replicas crashed {CRASH_LIMIT} times within 10m; last: replica r-1 exited with code 1"
)


def unit(state: EndpointState, **changes: object) -> Unit:
    values: dict[str, object] = {"replicas_desired": 2, "min_replicas": 1, "max_replicas": 3}
    values.update(changes)
    return Unit(state, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("unit_", "observed", "expected"),
    [
        # Building -------------------------------------------------------------------------
        pytest.param(unit(S.BUILDING), Observed(), Decision(start_build=True), id="build-starts"),
        pytest.param(unit(S.BUILDING), Observed(build="running"), Decision(), id="build-waits"),
        pytest.param(
            unit(S.BUILDING),
            Observed(build="ok"),
            Decision(trigger=T.BUILT, reason="environment ready"),
            id="build-done",
        ),
        pytest.param(
            unit(S.BUILDING),
            Observed(build="failed", build_error="pip said no"),
            Decision(trigger=T.BUILD_FAILED, reason="pip said no"),
            id="build-failed",
        ),
        pytest.param(
            unit(S.BUILDING, has_pending=True),
            Observed(),
            Decision(apply_pending=True),
            id="build-takes-pending-spec-first",
        ),
        # Deploying ------------------------------------------------------------------------
        pytest.param(
            unit(S.DEPLOYING),
            Observed(),
            Decision(trigger=T.PLACED, reason="2 replica(s) placed", scale_to=2),
            id="place",
        ),
        pytest.param(
            unit(S.DEPLOYING, replicas_desired=0, min_replicas=0),
            Observed(),
            Decision(trigger=T.PLACED, reason="1 replica(s) placed", scale_to=1),
            id="place-at-least-one",
        ),
        pytest.param(
            unit(S.DEPLOYING, replicas_desired=4, max_replicas=3),
            Observed(),
            Decision(trigger=T.PLACED, reason="3 replica(s) placed", scale_to=3),
            id="place-at-most-max",
        ),
        pytest.param(
            unit(S.DEPLOYING),
            Observed((READY, FAILED)),
            Decision(scale_to=0),
            id="restart-stops-the-old-replicas-first",
        ),
        pytest.param(
            unit(S.DEPLOYING),
            Observed((STOPPING,)),
            Decision(),
            id="places-once-the-old-ones-are-gone",
        ),
        pytest.param(
            unit(S.DEPLOYING, has_pending=True),
            Observed((READY,)),
            Decision(apply_pending=True),
            id="restart-takes-pending-spec-first",
        ),
        # Startup --------------------------------------------------------------------------
        pytest.param(unit(S.STARTUP), Observed((STARTING,)), Decision(scale_to=2), id="starting"),
        pytest.param(
            unit(S.STARTUP),
            Observed((READY,)),
            Decision(trigger=T.READY, reason="replica r-1 ready at 127.0.0.1:4000", scale_to=2),
            id="ready",
        ),
        pytest.param(
            unit(S.STARTUP),
            Observed((FAILED,)),
            Decision(
                trigger=T.DEPLOY_FAILED,
                reason="exited with code 3 before it was ready (exit code 3)",
                scale_to=0,
            ),
            id="startup-failed",
        ),
        pytest.param(
            unit(S.STARTUP),
            Observed((LOOPING,), crashes=CRASH_LIMIT),
            Decision(trigger=T.DEPLOY_FAILED, reason=CRASH_LOOP_REASON, scale_to=0, log_tail=True),
            id="startup-crash-loop",
        ),
        # Running --------------------------------------------------------------------------
        pytest.param(
            RUNNING_UNIT, Observed((READY,)), Decision(scale_to=2), id="steady-stored-count"
        ),
        pytest.param(
            Unit(S.RUNNING, replicas_desired=1, max_replicas=3, autoscaled=3),
            Observed((READY,)),
            Decision(scale_to=3),
            id="autoscaled-count",
        ),
        pytest.param(
            RUNNING_UNIT,
            Observed((replica(P.BACKOFF, restarts=1),), crashes=1),
            Decision(scale_to=2),
            id="one-crash-is-restarted-by-the-runtime",
        ),
        pytest.param(
            RUNNING_UNIT,
            Observed((LOOPING,), crashes=CRASH_LIMIT),
            Decision(trigger=T.CRASHED, reason=CRASH_LOOP_REASON, scale_to=0, log_tail=True),
            id="crash-loop",
        ),
        pytest.param(
            RUNNING_UNIT,
            Observed((replica(P.STARTING, restarts=7, code=2),), crashes=CRASH_LIMIT),
            Decision(
                trigger=T.CRASHED,
                reason=f"replicas crashed {CRASH_LIMIT} times within 10m; "
                "last: replica r-1 exit code 2",
                scale_to=0,
                log_tail=True,
            ),
            id="crash-loop-seen-while-restarting",
        ),
        pytest.param(
            RUNNING_UNIT,
            Observed((FAILED,)),
            Decision(
                trigger=T.CRASHED,
                reason="no replica is up: exited with code 3 before it was ready (exit code 3)",
                scale_to=0,
            ),
            id="nothing-up-and-nothing-will-be",
        ),
        pytest.param(
            RUNNING_UNIT,
            Observed((READY, replica(P.FAILED, rid="r-2"))),
            Decision(scale_to=2),
            id="a-failed-scale-up-leaves-the-ready-one-serving",
        ),
        pytest.param(
            SCALE_TO_ZERO,
            Observed((READY,), quiet_since=NOW - 30),
            Decision(trigger=T.IDLE, reason="idle for 30s", scale_to=0, replicas_desired=0),
            id="idle-goes-to-sleep",
        ),
        pytest.param(
            SCALE_TO_ZERO,
            Observed((READY,), quiet_since=NOW - 29.9),
            Decision(scale_to=1),
            id="not-idle-long-enough",
        ),
        pytest.param(
            SCALE_TO_ZERO,
            Observed((READY,), quiet_since=NOW - 3600, waiting=True),
            Decision(scale_to=1),
            id="waiting-requests-keep-it-up",
        ),
        pytest.param(
            Unit(S.RUNNING, min_replicas=1, idle_timeout=30.0),
            Observed((READY,), quiet_since=NOW - 3600),
            Decision(scale_to=1),
            id="min-one-never-sleeps",
        ),
        # Sleeping -------------------------------------------------------------------------
        pytest.param(ASLEEP, Observed(), Decision(scale_to=0), id="asleep"),
        pytest.param(
            ASLEEP,
            Observed(waiting=True),
            Decision(
                trigger=T.WAKE,
                reason="woken by a waiting request",
                scale_to=1,
                replicas_desired=1,
            ),
            id="a-waiting-request-wakes-it",
        ),
        pytest.param(
            Unit(S.SLEEPING, replicas_desired=0, min_replicas=2, max_replicas=3),
            Observed(),
            Decision(
                trigger=T.WAKE,
                reason="woken: min replicas is now 2",
                scale_to=2,
                replicas_desired=2,
            ),
            id="min-raised-while-asleep",
        ),
        pytest.param(WOKEN, Observed((STARTING,), waiting=True), Decision(scale_to=1), id="waking"),
        pytest.param(
            WOKEN,
            Observed((READY,)),
            Decision(
                trigger=T.READY,
                reason="woken by alice; replica r-1 ready at 127.0.0.1:4000",
                scale_to=1,
            ),
            id="woken-and-ready",
        ),
        pytest.param(
            WOKEN,
            Observed((FAILED,)),
            Decision(
                trigger=T.CRASHED,
                reason="could not wake: exited with code 3 before it was ready (exit code 3)",
                scale_to=0,
            ),
            id="cannot-wake",
        ),
        # Stopped, failed, being stopped -----------------------------------------------------
        pytest.param(
            unit(S.RUNNING, desired="stopped"),
            Observed((READY,)),
            Decision(scale_to=0),
            id="desired-stopped",
        ),
        pytest.param(
            unit(S.STOPPED, desired="stopped"), Observed(), Decision(scale_to=0), id="stopped"
        ),
        pytest.param(
            unit(S.STOPPED, desired="stopped", has_pending=True),
            Observed(),
            Decision(scale_to=0),
            id="stopped-keeps-its-pending-spec",
        ),
        pytest.param(
            unit(S.DEPLOY_FAILED), Observed((FAILED,)), Decision(scale_to=0), id="failed-stays-down"
        ),
        pytest.param(
            unit(S.BUILDING_FAILED), Observed(), Decision(scale_to=0), id="build-failed-down"
        ),
        pytest.param(
            unit(S.RUNTIME_ERROR),
            Observed((LOOPING,)),
            Decision(scale_to=0),
            id="runtime-error-down",
        ),
    ],
)
def test_decide(unit_: Unit, observed: Observed, expected: Decision) -> None:
    assert decide(unit_, observed, NOW) == expected


def test_decide_is_idempotent() -> None:
    observed = Observed((STARTING,))
    assert decide(unit(S.STARTUP), observed, NOW) == decide(unit(S.STARTUP), observed, NOW)


@pytest.mark.parametrize(
    ("stored", "spec_min", "spec_max", "expected"),
    [
        (0, 0, None, 1),
        (1, 0, None, 1),
        (3, 1, None, 3),
        (0, 2, None, 2),
        (5, 1, 3, 3),
        (0, 0, 0, 1),
    ],
)
def test_desired_replicas_between_one_and_max(
    stored: int, spec_min: int, spec_max: int | None, expected: int
) -> None:
    assert desired_replicas(stored, spec_min, spec_max) == expected


def test_crashes_are_counted_from_restart_deltas_within_the_window() -> None:
    history = CrashHistory()
    history = track_crashes(history, [replica(P.READY)], now=0.0)
    assert history.count == 0
    history = track_crashes(history, [replica(P.BACKOFF, restarts=2)], now=10.0)
    history = track_crashes(history, [replica(P.READY, restarts=2)], now=11.0)  # no new one
    assert history.times == (10.0, 10.0)
    history = track_crashes(history, [replica(P.BACKOFF, restarts=3)], now=500.0)
    assert history.count == 3
    # Ten minutes after the first two, only the third is still in the window.
    history = track_crashes(history, [replica(P.READY, restarts=3)], now=610.0)
    assert history.times == (500.0,)


def test_crashes_of_several_replicas_add_up_and_gone_replicas_are_forgotten() -> None:
    a, b = "r-a", "r-b"
    history = track_crashes(
        CrashHistory(),
        [replica(P.READY, rid=a), replica(P.READY, rid=b)],
        now=0.0,
    )
    history = track_crashes(
        history,
        [replica(P.BACKOFF, restarts=2, rid=a), replica(P.BACKOFF, restarts=3, rid=b)],
        now=1.0,
    )
    assert history.count == 5
    history = track_crashes(history, [replica(P.READY, rid="r-c")], now=2.0)
    assert dict(history.seen) == {"r-c": 0}
    assert history.count == 5


def test_a_replica_first_seen_with_restarts_brings_them() -> None:
    history = track_crashes(CrashHistory(), [replica(P.BACKOFF, restarts=4)], now=5.0)
    assert history.count == 4
