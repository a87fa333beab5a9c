"""TrafficCounter: deltas per target and per route backend/mirror, given back when unsent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from waypost.gateway.core.traffic import TrafficCounter, TrafficDelta
from waypost.model.report import BackendCount, TargetLoad

A, B = "acme/shop/churn/3/web", "acme/shop/churn/4/web"
ROUTE = "acme/shop/churn/production/web"


def plain(delta: TrafficDelta) -> tuple[TargetLoad, ...]:
    """The loads without their percentiles (checked on their own below)."""
    return tuple(replace(t, latency_p50_ms=None, latency_p99_ms=None) for t in delta.targets)


def test_counts_are_deltas_and_in_flight_is_now() -> None:
    traffic = TrafficCounter()
    for status in (200, 200, 503, 499):
        traffic.begin(A)
        traffic.end(A, status, 10.0)
        traffic.backend(ROUTE, "control", A, status)
    traffic.begin(A)  # still in flight
    traffic.mirror(ROUTE, "shadow", B, error=True, dropped=False)
    traffic.mirror(ROUTE, "shadow", B, error=False, dropped=False)
    traffic.mirror(ROUTE, "shadow", B, error=False, dropped=True)
    delta = traffic.take()
    assert plain(delta) == (TargetLoad(A, 1, 4, 1, 40.0),)
    assert delta.backends == (
        BackendCount(ROUTE, "control", "backend", A, 4, 1, 0),
        BackendCount(ROUTE, "shadow", "mirror", B, 2, 1, 1),
    )
    # Nothing new: only the target still in flight is reported.
    assert plain(traffic.take()) == (TargetLoad(A, 1, 0, 0, 0.0),)
    traffic.end(A, 200, 5.0)
    assert plain(traffic.take()) == (TargetLoad(A, 0, 1, 0, 5.0),)
    # The drop to 0 was reported once; then the target has nothing to say.
    assert traffic.take().targets == ()


def test_a_drop_to_zero_in_flight_is_reported_once() -> None:
    traffic = TrafficCounter()
    traffic.begin(A)
    assert plain(traffic.take()) == (TargetLoad(A, 1, 0, 0, 0.0),)
    traffic.end(A, 200, 1.0)
    traffic.take()
    assert traffic.take() == traffic.take()
    assert traffic.take().targets == ()


def test_counts_given_back_go_into_the_next_report() -> None:
    traffic = TrafficCounter()
    traffic.begin(A)
    traffic.end(A, 500, 2.0)
    traffic.backend(ROUTE, "control", A, 500)
    unsent = traffic.take()
    traffic.begin(A)
    traffic.end(A, 200, 3.0)
    traffic.backend(ROUTE, "control", A, 200)
    traffic.give_back(unsent)
    delta = traffic.take()
    assert plain(delta) == (TargetLoad(A, 0, 2, 1, 5.0),)
    assert delta.backends == (BackendCount(ROUTE, "control", "backend", A, 2, 1, 0),)


def test_a_busy_target_in_an_unsent_report_still_gets_its_drop_reported() -> None:
    traffic = TrafficCounter()
    traffic.begin(A)
    unsent = traffic.take()
    traffic.end(A, 200, 1.0)
    traffic.give_back(unsent)
    assert plain(traffic.take()) == (TargetLoad(A, 0, 1, 0, 1.0),)


def test_kept_keys_are_bounded() -> None:
    traffic = TrafficCounter(max_entries=2)
    for i in range(5):
        traffic.begin(f"t{i}")
        traffic.end(f"t{i}", 200, 1.0)
        traffic.backend(ROUTE, "b", f"t{i}", 200)
    assert traffic.lost == 6
    delta = traffic.take()
    assert [t.key for t in delta.targets if t.requests] == ["t0", "t1"]
    assert len(delta.backends) == 2
    assert traffic.in_flight("t4") == 0


def test_percentiles_of_the_interval() -> None:
    traffic = TrafficCounter()
    for ms in [*[10.0] * 98, 200.0, 400.0]:
        traffic.begin(A)
        traffic.end(A, 200, ms)
    (load,) = traffic.take().targets
    assert load.latency_p50_ms == pytest.approx(10.0, rel=0.03)
    assert load.latency_p99_ms == pytest.approx(200.0, rel=0.03)
    traffic.begin(A)
    (idle,) = traffic.take().targets  # in flight, nothing ended: no percentiles
    assert (idle.latency_p50_ms, idle.latency_p99_ms) == (None, None)


def test_replica_in_flight_counts_are_reported_even_without_other_counts() -> None:
    traffic = TrafficCounter()
    delta = traffic.take({A: {"r-1": 2, "r-gone": 1}})
    assert plain(delta) == (TargetLoad(A, 0, 0, 0, 0.0, {"r-1": 2, "r-gone": 1}),)


def test_requests_are_also_counted_per_replica_that_served_them() -> None:
    counter = TrafficCounter()
    for replica, status, ms in (("r-a", 200, 10.0), ("r-a", 503, 30.0), ("r-b", 200, 5.0)):
        counter.begin("acme/shop/web/1/api")
        counter.end("acme/shop/web/1/api", status, ms, replica)
    counter.begin("acme/shop/web/1/api")
    counter.end("acme/shop/web/1/api", 504, 1.0)  # never reached a replica

    [load] = counter.take().targets

    assert load.requests == 4
    assert load.replica_requests == {"r-a": (2, 1, 40.0), "r-b": (1, 0, 5.0)}
    assert counter.take().targets == ()
