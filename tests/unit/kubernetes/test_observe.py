"""Pods, slices and Deployments -> replica phases and messages: a table."""

from __future__ import annotations

from typing import Any

import pytest

from waypost.model.prefix import UnitKey
from waypost.runtimes.base import ReplicaPhase as P
from waypost.runtimes.kubernetes.naming import ANNOTATION_KEY, object_name
from waypost.runtimes.kubernetes.observe import (
    deployment_failure,
    pod_status,
    replica_statuses,
    slice_addresses,
)

KEY = UnitKey("acme", "shop", "churn", 2, "web")
NAME = object_name(KEY)


def pod(
    name: str = "p-1",
    *,
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    last: dict[str, Any] | None = None,
    restarts: int = 0,
    ready: bool = False,
    conditions: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "annotations": {ANNOTATION_KEY: KEY.id},
        "creationTimestamp": "2025-01-01T00:00:00Z",
    }
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:01:00Z"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions or [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [
            {
                "name": "app",
                "ready": ready,
                "restartCount": restarts,
                "state": state or {"running": {"startedAt": "2025-01-01T00:00:05Z"}},
                "lastState": {"terminated": last} if last else {},
            }
        ],
    }
    if init is not None:
        status["initContainerStatuses"] = init
    return {"metadata": meta, "status": status}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"waiting": {"reason": reason, "message": message}}


CASES = [
    pytest.param(pod(), {}, set(), None, P.STARTING, "", id="running-not-ready"),
    pytest.param(pod(ready=True), {"p-1": "10.0.0.1:8000"}, set(), None, P.READY, "", id="ready"),
    pytest.param(
        pod(ready=True),
        {},
        set(),
        None,
        P.STARTING,
        "ready; waiting for its EndpointSlice",
        id="ready-slice-behind",
    ),
    pytest.param(
        pod(),
        {},
        {"uid-p-1"},
        None,
        P.UNHEALTHY,
        "not ready: its readiness probe fails",
        id="was-ready",
    ),
    pytest.param(
        pod(deleting=True), {"p-1": "10.0.0.1:8000"}, set(), None, P.STOPPING, "", id="terminating"
    ),
    pytest.param(
        pod(phase="Pending", state=waiting("ImagePullBackOff", 'Back-off pulling image "x:1"')),
        {},
        set(),
        None,
        P.FAILED,
        'ImagePullBackOff: Back-off pulling image "x:1"',
        id="image-pull",
    ),
    pytest.param(
        pod(
            state=waiting("CrashLoopBackOff", "back-off 10s restarting failed container=app"),
            last={"exitCode": 1, "reason": "Error"},
            restarts=2,
        ),
        {},
        set(),
        None,
        P.FAILED,
        "CrashLoopBackOff: back-off 10s restarting failed container=app",
        id="crash-before-ready",
    ),
    pytest.param(
        pod(
            state=waiting("CrashLoopBackOff", "back-off 40s"),
            last={"exitCode": 137, "reason": "OOMKilled"},
            restarts=4,
        ),
        {},
        {"uid-p-1"},
        None,
        P.BACKOFF,
        "CrashLoopBackOff: back-off 40s (last exit: OOMKilled)",
        id="crash-after-ready",
    ),
    pytest.param(
        pod(
            phase="Pending",
            state=waiting("PodInitializing"),
            init=[
                {
                    "name": "fetch",
                    "restartCount": 1,
                    "state": {"terminated": {"exitCode": 1, "message": "HTTP 401"}},
                }
            ],
        ),
        {},
        set(),
        None,
        P.FAILED,
        "init container fetch failed: exit code 1: HTTP 401",
        id="init-fails-twice",
    ),
    pytest.param(
        pod(
            phase="Pending",
            state=waiting("PodInitializing"),
            init=[
                {
                    "name": "fetch",
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 1, "message": "refused"}},
                }
            ],
        ),
        {},
        set(),
        None,
        P.STARTING,
        "PodInitializing",
        id="init-fails-once",
    ),
    pytest.param(
        pod(
            phase="Pending",
            state=waiting("ContainerCreating"),
            conditions=[
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                }
            ],
        ),
        {},
        set(),
        None,
        P.STARTING,
        "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        id="unschedulable",
    ),
    pytest.param(
        pod(phase="Pending", state=waiting("ContainerCreating")),
        {},
        set(),
        'ProgressDeadlineExceeded: ReplicaSet "x" has timed out progressing.',
        P.FAILED,
        'ProgressDeadlineExceeded: ReplicaSet "x" has timed out progressing.',
        id="deadline",
    ),
]


@pytest.mark.parametrize(("obj", "addresses", "ever", "problem", "phase", "message"), CASES)
def test_pod_status(
    obj: dict[str, Any],
    addresses: dict[str, str],
    ever: set[str],
    problem: str | None,
    phase: P,
    message: str,
) -> None:
    status = pod_status(obj, addresses, ever, problem)
    assert status is not None
    assert (status.phase, status.message) == (phase, message)


def test_restarts_and_exit_codes_are_carried() -> None:
    status = pod_status(
        pod(state=waiting("CrashLoopBackOff"), last={"exitCode": 3}, restarts=5), {}, {"uid-p-1"}
    )
    assert status is not None
    assert (status.restarts, status.exit_code) == (5, 3)


def test_finished_pods_are_not_replicas() -> None:
    assert pod_status(pod(phase="Failed"), {}, set()) is None


def test_slice_addresses_take_ready_endpoints_and_the_http_port() -> None:
    slices = [
        {
            "addressType": "IPv6",
            "ports": [{"name": "http", "port": 8000}],
            "endpoints": [
                {
                    "addresses": ["fd00::1"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "a"},
                },
                {
                    "addresses": ["fd00::3"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "c"},
                },
            ],
        },
        {
            "addressType": "IPv4",
            "ports": [{"name": "metrics", "port": 9100}, {"name": "http", "port": 8000}],
            "endpoints": [
                {
                    "addresses": ["10.1.0.1"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "a"},
                },
                {
                    "addresses": ["10.1.0.2"],
                    "conditions": {"ready": False, "terminating": True},
                    "targetRef": {"kind": "Pod", "name": "b"},
                },
            ],
        },
    ]
    assert slice_addresses(slices) == {"a": "10.1.0.1:8000", "c": "[fd00::3]:8000"}


def deployment(replicas: int, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": NAME, "annotations": {ANNOTATION_KEY: KEY.id}},
        "spec": {"replicas": replicas},
        "status": {"conditions": conditions},
    }


def test_a_deployment_that_cannot_make_pods_reports_one_failed_replica() -> None:
    quota = [
        {
            "type": "ReplicaFailure",
            "status": "True",
            "reason": "FailedCreate",
            "message": 'pods "x" is forbidden: exceeded quota',
        }
    ]
    seen = replica_statuses([deployment(1, quota)], [], [])
    (only,) = seen[KEY]
    assert only.phase is P.FAILED
    assert only.replica_id == NAME
    assert only.message == 'FailedCreate: pods "x" is forbidden: exceeded quota'
    assert replica_statuses([deployment(0, quota)], [], []) == {}


def test_replicas_are_grouped_by_unit_with_slice_addresses() -> None:
    dep = deployment(
        2, [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
    )
    slices = [
        {
            "metadata": {"labels": {"kubernetes.io/service-name": NAME}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8000}],
            "endpoints": [
                {
                    "addresses": ["10.0.0.7"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "p-1"},
                }
            ],
        }
    ]
    seen = replica_statuses([dep], [pod("p-1", ready=True), pod("p-2")], slices)
    assert [(r.replica_id, r.phase, r.address) for r in seen[KEY]] == [
        ("p-1", P.READY, "10.0.0.7:8000"),
        ("p-2", P.STARTING, None),
    ]


def test_deployment_failure_reads_conditions() -> None:
    assert deployment_failure(deployment(1, [])) is None
    stuck = [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": "timed out",
        }
    ]
    assert deployment_failure(deployment(1, stuck)) == "ProgressDeadlineExceeded: timed out"
