"""RoundRobin: rotation over ready replicas, exclusions, set-aside replicas, changing lists."""

from __future__ import annotations

from waypost.gateway.core.balance import RoundRobin
from waypost.model.routes import ReplicaAddress, RouteTarget


def target(key: str, *ids: str) -> RouteTarget:
    replicas = tuple(ReplicaAddress(i, f"127.0.0.1:{4000 + n}") for n, i in enumerate(ids))
    return RouteTarget(key, "Running", "public", False, replicas)


def ids(balancer: RoundRobin, t: RouteTarget, count: int, now: float = 0.0) -> list[str | None]:
    return [(r.id if (r := balancer.pick(t, now=now)) else None) for _ in range(count)]


def test_rotates_over_replicas() -> None:
    balancer = RoundRobin()
    assert ids(balancer, target("t", "a", "b", "c"), 7) == ["a", "b", "c", "a", "b", "c", "a"]
    assert balancer.state == {"t": 1}


def test_targets_rotate_independently() -> None:
    balancer = RoundRobin()
    one, two = target("one", "a", "b"), target("two", "x", "y")
    picked = [balancer.pick(t, now=0.0) for t in (one, two, one, two)]
    assert [r.id for r in picked if r is not None] == ["a", "x", "b", "y"]


def test_no_replica_means_none() -> None:
    assert RoundRobin().pick(target("t"), now=0.0) is None


def test_exclude_skips_replicas_this_request_failed_on() -> None:
    balancer = RoundRobin({"t": 0})
    t = target("t", "a", "b", "c")
    picked = balancer.pick(t, exclude={"a"}, now=0.0)
    assert picked is not None
    assert picked.id == "b"
    assert balancer.pick(t, exclude={"a", "b", "c"}, now=0.0) is None
    assert ids(balancer, t, 2) == ["c", "a"]


def test_failed_replica_is_set_aside_until_its_time_is_up() -> None:
    balancer = RoundRobin(eject_for=5.0)
    t = target("t", "a", "b")
    balancer.failed("t", "a", now=100.0)
    assert balancer.ejected == {("t", "a"): 105.0}
    assert ids(balancer, t, 4, now=101.0) == ["b", "b", "b", "b"]
    assert ids(balancer, t, 2, now=105.0) == ["a", "b"]
    assert balancer.ejected == {}


def test_when_every_replica_is_set_aside_they_are_still_tried() -> None:
    balancer = RoundRobin()
    t = target("t", "a", "b")
    balancer.failed("t", "a", now=0.0)
    balancer.failed("t", "b", now=0.0)
    assert ids(balancer, t, 3, now=1.0) == ["a", "b", "a"]
    assert balancer.pick(t, exclude={"a"}, now=1.0) == t.replicas[1]


def test_state_survives_a_shrinking_replica_list() -> None:
    balancer = RoundRobin({"t": 2})
    assert ids(balancer, target("t", "a", "b"), 3) == ["a", "b", "a"]


def test_retain_forgets_targets_that_left() -> None:
    balancer = RoundRobin({"gone": 1, "kept": 1})
    balancer.failed("gone", "a", now=0.0)
    balancer.failed("kept", "b", now=0.0)
    balancer.retain(["kept", "new"])
    assert balancer.state == {"kept": 1}
    assert set(balancer.ejected) == {("kept", "b")}
