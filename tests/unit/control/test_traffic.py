"""TrafficBook: windows, sums over gateways, freshness."""

from __future__ import annotations

from waypost.control.traffic import FRESH_FOR, BackendStats, TrafficBook
from waypost.model.report import BackendCount, GatewayReport, TargetLoad

KEY = "acme/shop/churn/3/web"
ROUTE = "acme/shop/churn/production/web"


def report(gateway: str, *, in_flight: int = 0, requests: int = 0, errors: int = 0,
           waiting: tuple[str, ...] = ()) -> GatewayReport:  # fmt: skip
    return GatewayReport(
        gateway,
        at=0.0,
        interval=1.0,
        targets=(TargetLoad(KEY, in_flight, requests, errors, 1.0),),
        backends=(BackendCount(ROUTE, "control", "backend", KEY, requests, errors),),
        waiting=waiting,
    )


def test_backend_counts_add_up_within_the_window() -> None:
    book = TrafficBook(window=60.0)
    book.add(report("a", requests=10, errors=1), now=0.0)
    book.add(report("b", requests=5), now=30.0)
    assert book.backend_stats(ROUTE, "backend", "control", now=30.0) == BackendStats(15, 1, 0)
    assert book.backend_stats(ROUTE, "backend", "control", now=61.0) == BackendStats(5, 0, 0)
    assert book.backend_stats(ROUTE, "backend", "other", now=61.0) == BackendStats(0, 0, 0)
    assert BackendStats(10, 1, 0).error_rate == 0.1


def test_in_flight_sums_fresh_gateways_only() -> None:
    book = TrafficBook()
    book.add(report("a", in_flight=3), now=0.0)
    book.add(report("b", in_flight=4), now=1.0)
    assert book.in_flight(KEY, now=1.0) == 7
    assert book.in_flight(KEY, now=FRESH_FOR + 0.5) == 4
    assert book.samples(KEY, now=1.0) == [(0.0, 3), (1.0, 7)]


def test_last_request_and_waiting() -> None:
    book = TrafficBook()
    book.add(report("a"), now=0.0)
    assert book.last_request_at(KEY) is None
    book.add(report("a", requests=1, waiting=(KEY,)), now=2.0)
    assert book.last_request_at(KEY) == 2.0
    assert book.waiting(now=3.0) == {KEY}
    assert book.waiting(now=2.0 + FRESH_FOR + 1) == set()


def test_per_replica_traffic_adds_up_over_gateways_within_the_window() -> None:
    book = TrafficBook(window=60.0)

    def served(gateway: str, at: float, counts: dict[str, tuple[int, int, float]]) -> None:
        load = TargetLoad("k", 0, sum(c[0] for c in counts.values()), 0, 0.0,
                          replica_requests=counts)  # fmt: skip
        book.add(GatewayReport(gateway, at, 1.0, (load,)), at)

    served("g1", 100.0, {"r-a": (3, 1, 30.0), "r-b": (1, 0, 2.0)})
    served("g2", 130.0, {"r-a": (2, 0, 10.0)})

    now = book.replica_traffic("k", "r-a", 150.0)
    assert (now.requests, now.errors, now.latency_ms_sum) == (5, 1, 40.0)
    assert now.latency_ms_mean == 8.0
    later = book.replica_traffic("k", "r-a", 175.0)  # the first report left the window
    assert (later.requests, later.errors) == (2, 0)
    nothing = book.replica_traffic("k", "r-x", 175.0)
    assert (nothing.requests, nothing.latency_ms_mean) == (0, None)


def test_reports_within_a_second_make_one_sample_of_their_sum() -> None:
    book = TrafficBook()
    for index, gateway in enumerate(("g1", "g2", "g3", "g4")):
        load = TargetLoad("k", 2, 0, 0, 0.0)
        book.add(GatewayReport(gateway, 100.0 + index * 0.1, 1.0, (load,)), 100.0 + index * 0.1)
    book.add(GatewayReport("g1", 101.2, 1.0, (TargetLoad("k", 1, 0, 0, 0.0),)), 101.2)

    assert book.samples("k", 101.5) == [(100.0, 8), (101.2, 7)]
