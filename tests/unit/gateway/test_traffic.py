"""TrafficCounter: deltas per target and per route backend/mirror, given back when unsent."""

from __future__ import annotations

from waypost.gateway.core.traffic import TrafficCounter
from waypost.model.report import BackendCount, TargetLoad

A, B = "acme/shop/churn/3/web", "acme/shop/churn/4/web"
ROUTE = "acme/shop/churn/production/web"


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
    assert delta.targets == (TargetLoad(A, 1, 4, 1, 40.0),)
    assert delta.backends == (
        BackendCount(ROUTE, "control", "backend", A, 4, 1, 0),
        BackendCount(ROUTE, "shadow", "mirror", B, 2, 1, 1),
    )
    # Nothing new: only the target still in flight is reported.
    assert traffic.take().targets == (TargetLoad(A, 1, 0, 0, 0.0),)
    traffic.end(A, 200, 5.0)
    assert traffic.take().targets == (TargetLoad(A, 0, 1, 0, 5.0),)
    # The drop to 0 was reported once; then the target has nothing to say.
    assert traffic.take().targets == ()


def test_a_drop_to_zero_in_flight_is_reported_once() -> None:
    traffic = TrafficCounter()
    traffic.begin(A)
    assert traffic.take().targets == (TargetLoad(A, 1, 0, 0, 0.0),)
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
    assert delta.targets == (TargetLoad(A, 0, 2, 1, 5.0),)
    assert delta.backends == (BackendCount(ROUTE, "control", "backend", A, 2, 1, 0),)


def test_a_busy_target_in_an_unsent_report_still_gets_its_drop_reported() -> None:
    traffic = TrafficCounter()
    traffic.begin(A)
    unsent = traffic.take()
    traffic.end(A, 200, 1.0)
    traffic.give_back(unsent)
    assert traffic.take().targets == (TargetLoad(A, 0, 1, 0, 1.0),)


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
