"""Endpoints: reading, lifecycle transitions (compare-and-set), settings, replicas, deletion."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, event

from tests.integration.store.helpers import StepClock, key, make_version, replica, spec
from waypost.errors import Conflict, InvalidSpec, NotFound
from waypost.model.lifecycle import EndpointState
from waypost.runtimes.base import ReplicaPhase
from waypost.store import Store

S = EndpointState


def test_get_endpoint_of_a_missing_key_names_it(store: Store) -> None:
    make_version(store)
    with pytest.raises(NotFound, match="no endpoint acme/shop/hello/1/api"):
        store.get_endpoint(key(endpoint="api"))


def test_list_endpoints_orders_and_filters(store: Store) -> None:
    make_version(store, "hello", ["web", "api"])
    make_version(store, "hello", ["web"])
    make_version(store, "alpha", ["web"])
    make_version(store, "x", ["web"], project="other")
    store.record_transition(key("alpha"), S.DEPLOYING, reason="built", actor="system")

    every = [e.key.id for e in store.list_endpoints()]
    assert every == [
        "acme/other/x/1/web",
        "acme/shop/alpha/1/web",
        "acme/shop/hello/1/api",
        "acme/shop/hello/1/web",
        "acme/shop/hello/2/web",
    ]
    shop = store.list_endpoints(org="acme", project="shop", deployment="hello")
    assert [e.key.id for e in shop] == every[2:]
    deploying = store.list_endpoints(states=[S.DEPLOYING, S.RUNNING])
    assert [e.key.id for e in deploying] == ["acme/shop/alpha/1/web"]
    assert store.list_endpoints(states=[]) == []
    assert store.list_endpoints(org="nobody") == []


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs while the test does."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(Engine, "before_cursor_execute", count)
    yield seen
    event.remove(Engine, "before_cursor_execute", count)


def test_listing_endpoints_takes_the_same_queries_for_one_or_many(
    store: Store, statements: list[str]
) -> None:
    make_version(store, endpoints=["web"])
    store.save_replicas(key(), [replica("r-1")])
    statements.clear()
    store.list_endpoints()
    for_one = len(statements)

    for n in range(2, 12):
        make_version(store, endpoints=["web", "api"])
        store.save_replicas(key(version=n), [replica("r-1"), replica("r-2", address="h:2")])
    statements.clear()
    endpoints = store.list_endpoints()

    assert len(endpoints) == 21
    assert sum(len(e.replicas) for e in endpoints) == 21
    assert len(statements) == for_one


def test_record_transition_sets_state_and_writes_an_event(store: Store, clock: StepClock) -> None:
    make_version(store)
    revision = store.route_revision()

    record = store.record_transition(key(), S.DEPLOYING, reason="built", actor="system")

    assert (record.state, record.reason, record.ever_ready) == (S.DEPLOYING, "built", False)
    assert record.state_changed_at == clock.last
    assert store.get_endpoint(key()) == record
    assert store.route_revision() > revision
    last = store.list_events()[-1]
    assert (last.kind, last.from_state, last.to_state, last.reason, last.actor) == (
        "transition",
        "Building",
        "Deploying",
        "built",
        "system",
    )
    assert last.at == clock.last
    assert (last.org, last.project, last.deployment, last.version, last.endpoint) == (
        "acme",
        "shop",
        "hello",
        1,
        "web",
    )


def test_running_sets_ever_ready_for_good(store: Store) -> None:
    make_version(store)
    for state in (S.DEPLOYING, S.STARTUP, S.RUNNING, S.SLEEPING):
        record = store.record_transition(key(), state, reason="r", actor="system")
        assert record.ever_ready is (state in (S.RUNNING, S.SLEEPING))
    assert store.record_transition(key(), S.STOPPED, reason="r", actor="u").ever_ready


def test_a_stale_expectation_is_a_conflict_and_changes_nothing(store: Store) -> None:
    make_version(store)
    store.record_transition(key(), S.DEPLOYING, reason="built", actor="system")
    revision, events = store.route_revision(), store.list_events()

    with pytest.raises(Conflict, match="is Deploying now, not Building"):
        store.record_transition(
            key(), S.BUILDING_FAILED, reason="late", actor="system", expect=S.BUILDING
        )

    assert store.get_endpoint(key()).state is S.DEPLOYING
    assert (store.route_revision(), store.list_events()) == (revision, events)
    ok = store.record_transition(key(), S.STARTUP, reason="p", actor="s", expect=S.DEPLOYING)
    assert ok.state is S.STARTUP


def test_compare_and_set_lets_exactly_one_of_many_racers_win(store: Store) -> None:
    make_version(store)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def racer(n: int) -> None:
        barrier.wait()
        try:
            store.record_transition(
                key(), S.DEPLOYING, reason=f"racer {n}", actor="system", expect=S.BUILDING
            )
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    transitions = [e for e in store.list_events() if e.to_state == "Deploying"]
    assert len(transitions) == 1


def test_record_transition_of_a_missing_endpoint_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="acme/shop/hello/1/web"):
        store.record_transition(key(), S.RUNNING, reason="r", actor="system")


def test_desired_state_and_count_do_not_move_the_route_revision(store: Store) -> None:
    make_version(store)
    revision = store.route_revision()

    assert store.set_desired(key(), "stopped").desired == "stopped"
    assert store.set_replicas_desired(key(), 3).replicas_desired == 3
    record = store.get_endpoint(key())
    assert (record.desired, record.replicas_desired) == ("stopped", 3)
    assert store.route_revision() == revision


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.set_desired(key(), "paused"), id="desired"),
        pytest.param(lambda s: s.set_replicas_desired(key(), -1), id="replicas"),
    ],
)
def test_bad_settings_are_refused(store: Store, call: Callable[[Store], object]) -> None:
    make_version(store)
    with pytest.raises(ValueError, match=r"desired must be|cannot be negative"):
        call(store)


def test_pending_spec_is_kept_and_forgotten(store: Store) -> None:
    make_version(store)
    revision = store.route_revision()
    pending = spec("web", target="new:app")

    assert store.set_pending_spec(key(), pending).pending_spec == pending
    assert store.get_endpoint(key()).pending_spec == pending
    assert store.get_endpoint(key()).spec == spec("web")
    assert store.set_pending_spec(key(), None).pending_spec is None
    assert store.route_revision() == revision


def test_update_spec_replaces_the_spec_and_moves_the_route_revision(store: Store) -> None:
    make_version(store)
    revision = store.route_revision()
    private = spec("web", visibility="private", strip_prefix=True)

    assert store.update_spec(key(), private).spec == private
    assert store.get_endpoint(key()).spec == private
    assert store.route_revision() > revision


def test_a_spec_cannot_rename_its_endpoint(store: Store) -> None:
    make_version(store)
    with pytest.raises(InvalidSpec, match="cannot be renamed"):
        store.update_spec(key(), spec("other"))
    with pytest.raises(InvalidSpec, match="cannot be renamed"):
        store.set_pending_spec(key(), spec("other"))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.set_desired(key(), "running"), id="desired"),
        pytest.param(lambda s: s.set_replicas_desired(key(), 1), id="replicas-desired"),
        pytest.param(lambda s: s.set_pending_spec(key(), None), id="pending"),
        pytest.param(lambda s: s.update_spec(key(), spec()), id="spec"),
        pytest.param(lambda s: s.save_replicas(key(), []), id="replicas"),
        pytest.param(lambda s: s.delete_endpoint(key()), id="delete"),
    ],
)
def test_changes_to_a_missing_endpoint_are_not_found(
    store: Store, call: Callable[[Store], object]
) -> None:
    with pytest.raises(NotFound, match="no endpoint acme/shop/hello/1/web"):
        call(store)


def test_save_replicas_reports_changes_and_moves_the_revision_only_for_routing(
    store: Store,
) -> None:
    make_version(store)
    r1 = replica("r-1", ReplicaPhase.STARTING)

    revision = store.route_revision()
    assert store.save_replicas(key(), [r1]) is True
    assert store.route_revision() > revision
    assert store.get_endpoint(key()).replicas[0].phase == "starting"

    revision = store.route_revision()
    assert store.save_replicas(key(), [r1]) is False
    assert store.route_revision() == revision

    # pid, restarts, exit code and message are bookkeeping: stored, but routing ignores them
    restarted = replica("r-1", ReplicaPhase.STARTING, pid=99, restarts=1, message="crashed")
    assert store.save_replicas(key(), [restarted]) is True
    assert store.route_revision() == revision
    [stored] = store.get_endpoint(key()).replicas
    assert (stored.pid, stored.restarts, stored.message) == (99, 1, "crashed")

    for changed in (
        [replica("r-1", ReplicaPhase.READY, pid=99, restarts=1, message="crashed")],
        [replica("r-1", ReplicaPhase.READY, "127.0.0.1:5000", pid=99, restarts=1)],
        [replica("r-2")],
        [],
    ):
        revision = store.route_revision()
        assert store.save_replicas(key(), changed) is True
        assert store.route_revision() > revision


def test_replicas_read_back_as_saved(store: Store) -> None:
    make_version(store)
    saved = [
        replica("r-b", ReplicaPhase.FAILED, None, pid=None, exit_code=3, message="boom"),
        replica("r-a", ReplicaPhase.READY, "127.0.0.1:4001", restarts=2),
    ]
    store.save_replicas(key(), saved)

    stored = store.get_endpoint(key()).replicas
    assert [r.replica_id for r in stored] == ["r-a", "r-b"]
    failed = stored[1]
    assert (failed.phase, failed.address, failed.pid, failed.exit_code, failed.message) == (
        "failed",
        None,
        None,
        3,
        "boom",
    )
    assert (stored[0].started_at, stored[0].restarts) == (1_700_000_000.5, 2)


def test_a_replica_listed_twice_is_refused(store: Store) -> None:
    make_version(store)
    with pytest.raises(ValueError, match="r-1 of acme/shop/hello/1/web is listed twice"):
        store.save_replicas(key(), [replica("r-1"), replica("r-1")])


def test_delete_endpoint_removes_it_and_its_replicas_but_keeps_events(store: Store) -> None:
    make_version(store, endpoints=["web", "api"])
    store.save_replicas(key(), [replica("r-1")])
    store.record_transition(key(), S.DEPLOYING, reason="built", actor="system")
    revision = store.route_revision()

    store.delete_endpoint(key(), actor="alice")

    with pytest.raises(NotFound):
        store.get_endpoint(key())
    assert [e.key.endpoint for e in store.list_endpoints()] == ["api"]
    assert store.route_revision() > revision
    events = store.list_events(key=key())
    assert [(e.kind, e.from_state, e.to_state) for e in events] == [
        ("transition", None, "Building"),
        ("transition", "Building", "Deploying"),
        ("deleted", "Deploying", None),
    ]
    assert events[-1].actor == "alice"
    # A new version may reuse the name; it starts with no replicas of the deleted one.
    make_version(store, endpoints=["web"])
    assert store.get_endpoint(key(version=2)).replicas == ()
