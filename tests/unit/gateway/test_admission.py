"""Admission: concurrency cap, FIFO queue, refusals, abandoned waiters, changing caps."""

from __future__ import annotations

from waypost.gateway.core.admission import Admission, Admit


def test_no_cap_counts_nothing() -> None:
    gate = Admission()
    assert [gate.enter("t", i, None, 0) for i in range(3)] == [Admit.RUN] * 3
    assert gate.running("t") == 0


def test_cap_then_queue_then_full() -> None:
    gate = Admission()
    results = [gate.enter("t", i, 2, 2) for i in range(5)]
    assert results == [Admit.RUN, Admit.RUN, Admit.QUEUED, Admit.QUEUED, Admit.FULL]
    assert (gate.running("t"), gate.queued("t")) == (2, 2)
    assert gate.depths() == {"t": 2}


def test_leaving_promotes_the_oldest_waiter() -> None:
    gate = Admission()
    for i in range(4):
        gate.enter("t", i, 1, 10)
    assert gate.leave("t", 1) == [1]
    assert gate.leave("t", 1) == [2]
    assert gate.leave("t", 1) == [3]
    assert gate.leave("t", 1) == []
    assert gate.running("t") == 0
    assert gate.depths() == {}


def test_an_abandoned_waiter_is_skipped() -> None:
    gate = Admission()
    for i in range(3):
        gate.enter("t", i, 1, 10)
    assert gate.abandon("t", 1)
    assert not gate.abandon("t", 1)
    assert gate.leave("t", 1) == [2]


def test_a_promoted_ticket_cannot_be_abandoned() -> None:
    gate = Admission()
    gate.enter("t", 0, 1, 1)
    gate.enter("t", 1, 1, 1)
    assert gate.leave("t", 1) == [1]
    assert not gate.abandon("t", 1)
    assert gate.running("t") == 1


def test_a_raised_cap_lets_waiters_in_before_newcomers() -> None:
    gate = Admission()
    for i in range(4):
        gate.enter("t", i, 1, 5)  # 0 runs; 1, 2, 3 wait
    assert gate.enter("t", 4, 3, 5) is Admit.QUEUED  # below the new cap, but others wait
    assert gate.leave("t", 3) == [1, 2, 3]
    assert gate.running("t") == 3
    assert gate.leave("t", 3) == [4]


def test_a_lowered_cap_promotes_nobody_until_below_it() -> None:
    gate = Admission()
    for i in range(4):
        gate.enter("t", i, 3, 5)  # 0, 1, 2 run; 3 waits
    assert gate.leave("t", 1) == []  # 2 still run, cap now 1
    assert gate.leave("t", 1) == []
    assert gate.leave("t", 1) == [3]


def test_targets_are_independent() -> None:
    gate = Admission()
    assert gate.enter("a", 0, 1, 0) is Admit.RUN
    assert gate.enter("a", 1, 1, 0) is Admit.FULL
    assert gate.enter("b", 2, 1, 0) is Admit.RUN
