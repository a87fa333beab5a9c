"""SinkBuffer: bounded, oldest dropped and reported, failed batches kept, timing as values."""

from __future__ import annotations

import json

import pytest

from waypost.gateway.core.backoff import Backoff
from waypost.gateway.core.sinkbuffer import SinkBuffer


def lines(n: int, start: int = 0) -> list[str]:
    return [f'{{"n":{i}}}' for i in range(start, start + n)]


def test_batches_are_cut_in_order_up_to_batch_size() -> None:
    buffer = SinkBuffer(capacity=100, batch_size=3)
    for line in lines(7):
        buffer.append(line)
    assert buffer.full()
    sent = []
    while len(buffer):
        sent.append(buffer.batch(0.0))
        buffer.sent()
    assert sent == [lines(3), lines(3, 3), lines(1, 6)]
    assert buffer.batch(0.0) == []
    assert buffer.in_flight is None


def test_a_failed_batch_is_sent_again_as_it_was() -> None:
    buffer = SinkBuffer(capacity=100, batch_size=2)
    for line in lines(3):
        buffer.append(line)
    first = buffer.batch(0.0)
    buffer.append("late")
    assert buffer.batch(1.0) is first  # not sent(): the same batch again
    assert buffer.due(1.0)
    buffer.sent()
    assert buffer.batch(2.0) == [lines(3)[2], "late"]


def test_overflow_drops_the_oldest_and_the_next_batch_says_how_many() -> None:
    buffer = SinkBuffer(capacity=3, batch_size=10)
    for line in lines(5):
        buffer.append(line)
    assert buffer.dropped_total == 2
    batch = buffer.batch(0.0)
    assert batch[:-1] == lines(3, 2)
    assert json.loads(batch[-1]) == {"kind": "sink_dropped", "count": 2}
    buffer.sent()
    buffer.append("x")
    assert buffer.batch(1.0) == ["x"]  # reported once, not again


def test_drops_while_a_batch_is_retried_go_in_the_following_batch() -> None:
    buffer = SinkBuffer(capacity=2, batch_size=2)
    for line in lines(2):
        buffer.append(line)
    failing = buffer.batch(0.0)
    for line in lines(5, 10):  # the sink is down; the buffer keeps the newest 2
        buffer.append(line)
    assert buffer.batch(1.0) == failing == lines(2)
    buffer.sent()
    batch = buffer.batch(2.0)
    assert batch[:-1] == lines(2, 13)
    assert json.loads(batch[-1]) == {"kind": "sink_dropped", "count": 3}
    # Every line is accounted for: delivered or counted as dropped.
    assert len(failing) + len(batch) - 1 + 3 == 7


def test_a_rejected_batch_counts_as_dropped_with_the_count_it_carried() -> None:
    buffer = SinkBuffer(capacity=2, batch_size=5)
    for line in lines(3):
        buffer.append(line)
    assert len(buffer.batch(0.0)) == 3  # 2 lines + the dropped line
    assert buffer.reject() == 2
    assert buffer.reject() == 0
    assert buffer.dropped_total == 3
    buffer.append("x")
    assert buffer.batch(1.0) == ["x", '{"kind":"sink_dropped","count":3}']


@pytest.mark.parametrize(
    ("waiting", "last_cut", "now", "due", "wait"),
    [
        pytest.param(0, None, 0.0, False, None, id="empty"),
        pytest.param(1, None, 0.0, True, 0.0, id="first-line-goes-at-once"),
        pytest.param(1, 10.0, 10.4, False, 0.6, id="within-the-interval"),
        pytest.param(1, 10.0, 11.0, True, 0.0, id="interval-passed"),
        pytest.param(5, 10.0, 10.1, True, 0.0, id="full-batch"),
        pytest.param(0, 10.0, 99.0, False, None, id="nothing-after-a-while"),
    ],
)
def test_due_and_wait_time(
    waiting: int, last_cut: float | None, now: float, due: bool, wait: float | None
) -> None:
    buffer = SinkBuffer(capacity=100, batch_size=5, interval=1.0)
    if last_cut is not None:
        buffer.append("cut")
        buffer.batch(last_cut)
        buffer.sent()
    for line in lines(waiting):
        buffer.append(line)
    assert buffer.due(now) is due
    result = buffer.wait_time(now)
    assert result == wait if wait is None else result == pytest.approx(wait)


def test_sink_retry_delays_double_from_half_a_second_to_thirty() -> None:
    backoff = Backoff(initial=0.5, cap=30.0)
    assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SinkBuffer(capacity=0)
