"""Mirror copies: the path a copy takes, whether its body can be kept, its bounded lane."""

from __future__ import annotations

import pytest

from waypost.gateway.core.mirror import Admit, Lane, body_plan, mirror_path

SHADOW = "acme/shop/churn/4/web"


@pytest.mark.parametrize(
    ("rest", "strip", "path"),
    [
        pytest.param("/predict", False, f"/{SHADOW}/predict", id="rest"),
        pytest.param("", False, f"/{SHADOW}", id="no-rest"),
        pytest.param("/", False, f"/{SHADOW}/", id="slash"),
        pytest.param("/a%20b//c", False, f"/{SHADOW}/a%20b//c", id="raw-rest-kept"),
        pytest.param("/predict", True, "/predict", id="strip-prefix"),
        pytest.param("", True, "/", id="strip-prefix-no-rest"),
    ],
)
def test_mirror_path(rest: str, strip: bool, path: str) -> None:
    assert mirror_path(SHADOW, rest, strip_prefix=strip) == path


@pytest.mark.parametrize(
    ("has_body", "length", "plan"),
    [
        pytest.param(False, None, "none", id="no-body"),
        pytest.param(True, 10, "tee", id="small"),
        pytest.param(True, 100, "tee", id="at-the-limit"),
        pytest.param(True, 101, "skip", id="over-the-limit"),
        pytest.param(True, None, "tee", id="chunked-checked-while-streaming"),
    ],
)
def test_body_plan(has_body: bool, length: int | None, plan: str) -> None:
    assert body_plan(has_body, length, 100) == plan


def test_lane_runs_then_queues_then_drops() -> None:
    lane: Lane[str] = Lane(concurrency=2, queue=2)
    assert [lane.offer(x) for x in "abcdef"] == [
        Admit.RUN,
        Admit.RUN,
        Admit.QUEUED,
        Admit.QUEUED,
        Admit.DROPPED,
        Admit.DROPPED,
    ]
    assert (lane.running, lane.queued) == (2, 2)
    assert lane.next_or_idle() == "c"  # a run slot freed: the oldest waiting takes it
    assert lane.offer("g") is Admit.QUEUED
    assert [lane.next_or_idle() for _ in range(3)] == ["d", "g", None]
    assert (lane.running, lane.queued) == (1, 0)
    assert lane.next_or_idle() is None
    assert lane.idle


def test_lane_without_queue_drops_at_concurrency() -> None:
    lane: Lane[int] = Lane(concurrency=1, queue=0)
    assert [lane.offer(i) for i in range(3)] == [Admit.RUN, Admit.DROPPED, Admit.DROPPED]


@pytest.mark.parametrize(("concurrency", "queue"), [(0, 1), (1, -1)])
def test_lane_limits_must_make_sense(concurrency: int, queue: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Lane[int](concurrency, queue)
