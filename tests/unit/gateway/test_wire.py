"""The new snapshot and report fields: defaults, round trips, old payloads still accepted."""

from __future__ import annotations

from waypost.model.report import GatewayReport, TargetLoad
from waypost.model.routes import ReplicaAddress, RouteSnapshot, RouteTarget

OLD_SNAPSHOT = {
    "revision": 3,
    "targets": [
        {
            "key": "acme/shop/hello/1/web",
            "state": "Running",
            "visibility": "public",
            "strip_prefix": False,
            "replicas": [{"id": "r-1", "address": "127.0.0.1:1"}],
        }
    ],
    "routes": [],
}


def test_an_old_snapshot_gets_the_defaults() -> None:
    (target,) = RouteSnapshot.from_json(OLD_SNAPSHOT).targets
    assert (target.timeout, target.connect_timeout) == (60.0, 5.0)
    assert not target.retry_non_idempotent
    assert target.max_concurrency is None
    assert (target.queue_size, target.queue_timeout) == (100, 10.0)


def test_new_target_fields_round_trip() -> None:
    target = RouteTarget(
        "acme/shop/hello/1/web",
        "Running",
        "public",
        False,
        (ReplicaAddress("r-1", "127.0.0.1:1"),),
        timeout=2.5,
        connect_timeout=0.5,
        retry_non_idempotent=True,
        max_concurrency=8,
        queue_size=3,
        queue_timeout=1.5,
    )
    snapshot = RouteSnapshot(1, (target,), ())
    assert RouteSnapshot.from_json(snapshot.to_json()) == snapshot


def test_an_old_report_gets_the_defaults_and_new_fields_round_trip() -> None:
    old = {
        "gateway": "g",
        "at": 1.0,
        "interval": 1.0,
        "targets": [
            {"key": "k", "in_flight": 1, "requests": 2, "errors": 0, "latency_ms_sum": 3.0}
        ],
    }
    (load,) = GatewayReport.from_json(old).targets
    assert (load.replicas, load.latency_p50_ms, load.latency_p99_ms) == ({}, None, None)
    report = GatewayReport("g", 1.0, 1.0, (TargetLoad("k", 1, 2, 0, 3.0, {"r": 1}, 1.5, 9.0),))
    assert GatewayReport.from_json(report.to_json()) == report
