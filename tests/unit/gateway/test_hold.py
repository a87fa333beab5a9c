"""HoldBook: which requests are held while an endpoint wakes, and how many per target."""

from __future__ import annotations

import pytest

from waypost.gateway.core.hold import Entered, HoldBook
from waypost.model.routes import ReplicaAddress, RouteTarget

KEY = "acme/shop/hello/1/web"


def target(state: str, *replicas: str, key: str = KEY) -> RouteTarget:
    return RouteTarget(
        key,
        state,
        "public",
        False,
        tuple(ReplicaAddress(f"r{i}", a) for i, a in enumerate(replicas)),
    )


@pytest.mark.parametrize(
    ("state", "replicas", "seen_sleeping", "decision"),
    [
        pytest.param("Running", ("127.0.0.1:1",), False, "proxy", id="running"),
        pytest.param("Sleeping", ("127.0.0.1:1",), False, "proxy", id="sleeping-but-ready"),
        pytest.param("Sleeping", (), False, "hold", id="sleeping"),
        pytest.param("Deploying", (), True, "hold", id="deploying-after-wake"),
        pytest.param("Startup", (), True, "hold", id="startup-after-wake"),
        pytest.param("Deploying", (), False, "unavailable", id="deploying-first-time"),
        pytest.param("Startup", (), False, "unavailable", id="startup-first-time"),
        pytest.param("Running", (), True, "unavailable", id="running-no-replica"),
        pytest.param("Stopped", (), True, "unavailable", id="stopped"),
        pytest.param("DeployFailed", (), True, "unavailable", id="failed"),
        pytest.param("Building", (), False, "unavailable", id="building"),
    ],
)
def test_decide(state: str, replicas: tuple[str, ...], seen_sleeping: bool, decision: str) -> None:
    book = HoldBook()
    if seen_sleeping:
        book.observe({KEY: target("Sleeping")})
    book.observe({KEY: target(state, *replicas)})
    assert book.decide(target(state, *replicas)) == decision


def test_a_target_missing_from_the_table_is_unavailable() -> None:
    assert HoldBook().decide(None) == "unavailable"


def test_waking_is_forgotten_once_running_or_gone() -> None:
    book = HoldBook()
    book.observe({KEY: target("Sleeping")})
    book.observe({KEY: target("Running", "127.0.0.1:1")})
    assert book.decide(target("Deploying")) == "unavailable"
    book.observe({KEY: target("Sleeping")})
    book.observe({})
    assert book.decide(target("Startup")) == "unavailable"


def test_held_requests_keep_a_target_waking() -> None:
    # A worker that never saw it sleeping but holds requests for it (woken elsewhere).
    book = HoldBook()
    assert book.enter(KEY) is Entered.FIRST
    assert book.decide(target("Deploying")) == "hold"


def test_enter_counts_up_to_capacity_and_says_when_a_target_starts_waiting() -> None:
    book = HoldBook(capacity=2)
    other = "acme/shop/hello/2/web"
    assert book.waiting == ()
    assert [book.enter(KEY), book.enter(KEY), book.enter(KEY)] == [
        Entered.FIRST,
        Entered.HELD,
        Entered.FULL,
    ]
    assert book.enter(other) is Entered.FIRST
    assert book.waiting == (KEY, other)
    assert book.held(KEY) == 2
    book.leave(KEY)
    assert book.enter(KEY) is Entered.HELD
    book.leave(KEY)
    book.leave(KEY)
    assert book.waiting == (other,)
    assert book.enter(KEY) is Entered.FIRST  # waiting again: report again
    book.leave(other)
    book.leave(other)  # one leave too many is harmless
    assert book.held(other) == 0


def test_capacity_zero_holds_nothing() -> None:
    assert HoldBook(capacity=0).enter(KEY) is Entered.FULL


def test_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        HoldBook(capacity=-1)
