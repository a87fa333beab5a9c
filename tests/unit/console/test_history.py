"""The traffic history: buckets, sums over gateways, percentiles, ready replicas, rates."""

from __future__ import annotations

import pytest

from waypost.control.history import History
from waypost.model.report import GatewayReport, TargetLoad
from waypost.model.routes import ReplicaAddress, RouteSnapshot, RouteTarget

KEY = "acme/shop/hello/1/web"
T0 = 1_700_000_000.0  # a bucket boundary (divisible by 10)


def report(gateway: str, *loads: TargetLoad) -> GatewayReport:
    return GatewayReport(gateway, T0, 1.0, targets=loads)


def load(
    requests: int, errors: int = 0, latency_sum: float = 0.0, in_flight: int = 0
) -> TargetLoad:
    return TargetLoad(KEY, in_flight, requests, errors, latency_sum)


def test_reports_in_one_bucket_add_up_across_gateways() -> None:
    history = History()
    history.add(report("a", load(10, 1, 100.0, in_flight=2)), T0 + 1)
    history.add(report("b", load(30, 0, 900.0, in_flight=3)), T0 + 2)
    [point] = history.series(KEY, T0 + 5, since=T0)
    assert (point.requests, point.errors, point.in_flight) == (40, 1, 5)
    # Without percentiles, each report's mean latency stands for both, weighted by requests.
    assert point.p50_ms == pytest.approx((10 * 10 + 30 * 30) / 40)
    assert point.p99_ms == 30.0


def test_buckets_follow_time_and_gaps_are_zero() -> None:
    history = History()
    history.add(report("a", load(5)), T0 + 1)
    history.add(report("a", load(7)), T0 + 31)
    points = history.series(KEY, T0 + 35, since=T0)
    assert [p.at for p in points] == [T0, T0 + 10, T0 + 20, T0 + 30]
    assert [p.requests for p in points] == [5, 0, 0, 7]
    assert points[1].p50_ms is None
    assert points[1].ready is None


def test_an_hour_is_kept_and_no_more() -> None:
    history = History(bucket=10, span=60)
    for i in range(20):
        history.add(report("a", load(1)), T0 + i * 10)
    points = history.series(KEY, T0 + 190)
    assert len(points) == 6
    assert points[0].at == T0 + 140


def test_stale_gateways_no_longer_count_for_in_flight() -> None:
    history = History()
    history.add(report("a", load(0, in_flight=4)), T0 + 1)
    history.add(report("b", load(0, in_flight=1)), T0 + 12)  # a's figure is 11 s old
    points = history.series(KEY, T0 + 15, since=T0)
    assert [p.in_flight for p in points] == [4, 1]


def test_reported_percentiles_are_used_when_given() -> None:
    history = History()
    first = TargetLoad(KEY, 0, 10, 0, 1000.0, latency_p50_ms=20.0, latency_p99_ms=90.0)
    second = TargetLoad(KEY, 0, 30, 0, 3000.0, latency_p50_ms=40.0, latency_p99_ms=70.0)
    history.add(report("a", first), T0)
    history.add(report("b", second), T0)
    [point] = history.series(KEY, T0, since=T0)
    assert point.p50_ms == pytest.approx(35.0)  # (10*20 + 30*40) / 40
    assert point.p99_ms == 90.0  # the highest reported: an upper bound


def test_ready_replicas_come_from_the_route_snapshot() -> None:
    snapshot = RouteSnapshot(
        1,
        targets=(
            RouteTarget(KEY, "Running", "public", False, (ReplicaAddress("r1", "127.0.0.1:1"),)),
            RouteTarget("acme/shop/hello/2/web", "Stopped", "public", False, ()),
        ),
        routes=(),
    )
    history = History()
    history.add(report("a"), T0 + 1, snapshot)
    assert history.series(KEY, T0 + 1, since=T0)[0].ready == 1
    assert history.series("acme/shop/hello/2/web", T0 + 1, since=T0)[0].ready == 0


def test_rates_over_a_window() -> None:
    history = History()
    history.add(report("a", load(100, 5)), T0 + 1)
    history.add(report("a", load(200, 0)), T0 + 11)
    rates = history.rates(KEY, T0 + 20, window=30.0)
    assert rates.requests_per_s == pytest.approx(300 / 30)
    assert rates.error_rate == pytest.approx(5 / 300)
    assert history.rates("nothing/here/x/1/y", T0).requests_per_s == 0


def test_a_bucket_must_fit_the_span() -> None:
    with pytest.raises(ValueError, match="bucket"):
        History(bucket=0)
