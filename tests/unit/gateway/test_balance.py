"""Balancer: least outstanding requests, round robin on ties, ejection, panic, in-flight counts."""

from __future__ import annotations

from waypost.gateway.core.balance import Balancer
from waypost.gateway.core.outlier import Outliers
from waypost.model.routes import ReplicaAddress, RouteTarget


def target(key: str, *ids: str) -> RouteTarget:
    replicas = tuple(ReplicaAddress(i, f"127.0.0.1:{4000 + n}") for n, i in enumerate(ids))
    return RouteTarget(key, "Running", "public", False, replicas)


def ids(balancer: Balancer, t: RouteTarget, count: int, now: float = 0.0) -> list[str | None]:
    return [(r.id if (r := balancer.pick(t, now=now)) else None) for _ in range(count)]


def test_idle_replicas_rotate() -> None:
    balancer = Balancer()
    assert ids(balancer, target("t", "a", "b", "c"), 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_targets_rotate_independently() -> None:
    balancer = Balancer()
    one, two = target("one", "a", "b"), target("two", "x", "y")
    picked = [balancer.pick(t, now=0.0) for t in (one, two, one, two)]
    assert [r.id for r in picked if r is not None] == ["a", "x", "b", "y"]


def test_no_replica_means_none() -> None:
    assert Balancer().pick(target("t"), now=0.0) is None


def test_the_least_busy_replica_wins() -> None:
    balancer = Balancer()
    t = target("t", "a", "b", "c")
    for replica, busy in (("a", 3), ("b", 1), ("c", 2)):
        for _ in range(busy):
            balancer.start("t", replica)
    assert ids(balancer, t, 2) == ["b", "b"]  # picking does not count: start does
    balancer.start("t", "b")
    balancer.start("t", "b")
    assert ids(balancer, t, 1) == ["c"]
    assert balancer.in_flight() == {"t": {"a": 3, "b": 3, "c": 2}}


def test_finish_lowers_the_count_and_forgets_zeroes() -> None:
    balancer = Balancer()
    balancer.start("t", "a")
    balancer.start("t", "a")
    balancer.finish("t", "a", True, now=0.0)
    assert balancer.in_flight() == {"t": {"a": 1}}
    balancer.finish("t", "a", None, now=0.0)
    assert balancer.in_flight() == {}


def test_exclude_skips_replicas_this_request_failed_on() -> None:
    balancer = Balancer()
    t = target("t", "a", "b", "c")
    picked = balancer.pick(t, exclude={"a"}, now=0.0)
    assert picked is not None
    assert picked.id == "b"
    assert balancer.pick(t, exclude={"a", "b", "c"}, now=0.0) is None


def test_five_failures_in_a_row_eject_until_the_time_is_up() -> None:
    balancer = Balancer(Outliers(consecutive=5, base=10.0))
    t = target("t", "a", "b")
    for n in range(5):
        balancer.start("t", "a")
        assert balancer.finish("t", "a", False, now=100.0) is (n == 4)
    assert ids(balancer, t, 3, now=101.0) == ["b", "b", "b"]
    assert ids(balancer, t, 2, now=110.0) == ["a", "b"]  # back: the probe goes to it


def test_a_success_resets_the_failure_run() -> None:
    balancer = Balancer(Outliers(consecutive=3))
    for ok in (False, False, True, False, False):
        balancer.start("t", "a")
        assert not balancer.finish("t", "a", ok, now=0.0)


def test_unjudged_endings_do_not_count() -> None:
    balancer = Balancer(Outliers(consecutive=2))
    for _ in range(5):
        balancer.start("t", "a")
        assert not balancer.finish("t", "a", None, now=0.0)  # the gateway's own 504s


def test_a_refused_connection_sets_the_replica_aside_at_once() -> None:
    balancer = Balancer()
    t = target("t", "a", "b")
    assert balancer.connect_failed("t", "a", now=0.0)
    assert not balancer.connect_failed("t", "a", now=1.0)  # already out
    assert ids(balancer, t, 3, now=1.0) == ["b", "b", "b"]


def test_when_every_replica_is_ejected_they_are_still_used() -> None:
    balancer = Balancer()
    t = target("t", "a", "b")
    balancer.connect_failed("t", "a", now=0.0)
    balancer.connect_failed("t", "b", now=0.0)
    assert ids(balancer, t, 3, now=1.0) == ["a", "b", "a"]
    assert balancer.pick(t, exclude={"a"}, now=1.0) == t.replicas[1]
    assert balancer.ejected([t], now=1.0) == 2


def test_a_shrinking_replica_list_keeps_working() -> None:
    balancer = Balancer()
    assert ids(balancer, target("t", "a", "b", "c"), 3) == ["a", "b", "c"]
    assert ids(balancer, target("t", "a", "b"), 3) == ["a", "b", "a"]


def test_retain_keeps_in_flight_of_removed_replicas() -> None:
    balancer = Balancer()
    balancer.start("gone", "a")
    balancer.connect_failed("kept", "b", now=0.0)
    balancer.connect_failed("gone", "a", now=0.0)
    kept = target("kept", "b")
    balancer.retain({"kept": kept})
    assert balancer.in_flight() == {"gone": {"a": 1}}  # ends with its request, not the table
    assert balancer.ejected([kept], now=1.0) == 1
    assert not balancer.outliers.ejected("gone", "a", 1.0)
