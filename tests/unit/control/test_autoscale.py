"""The autoscaler as traces: load over time in, replica counts over time out.

Each trace plays a gateway reporting the requests in flight once a second (as
``TrafficBook`` keeps them: the last 60 s) and calls ``autoscale`` after each
report, as the reconciler does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import pairwise

import pytest

from waypost.control.autoscale import (
    AutoscaleConfig,
    AutoscaleState,
    autoscale,
    explain,
    window_average,
)
from waypost.model.spec import Autoscaling, EndpointSpec, Replicas

Load = Callable[[float], int | None]  # requests in flight at t; None: no report at t
Trace = list[tuple[float, int]]

CONFIG = AutoscaleConfig(target=5.0, min_replicas=1, max_replicas=5)


def play(load: Load, seconds: int, config: AutoscaleConfig = CONFIG, start: int = 1) -> Trace:
    samples: deque[tuple[float, int]] = deque()
    state = AutoscaleState(replicas=start)
    trace: Trace = []
    for second in range(seconds + 1):
        now = float(second)
        value = load(now)
        if value is not None:
            samples.append((now, value))
        while samples and samples[0][0] < now - 60:
            samples.popleft()
        count, state = autoscale(config, list(samples), state, now)
        trace.append((now, count))
    return trace


def at(trace: Trace, second: float) -> int:
    return next(count for t, count in trace if t == second)


def changes(trace: Trace) -> list[tuple[float, int, int]]:
    return [(t, before, after) for (_, before), (t, after) in pairwise(trace) if before != after]


def test_burst_scales_up_within_seconds() -> None:
    trace = play(lambda t: 0 if t < 30 else 50, 60)
    assert at(trace, 29) == 1
    first_at_max = min(t for t, count in trace if count == 5)
    assert first_at_max <= 32
    assert all(count == 5 for t, count in trace if t >= first_at_max)


def test_slow_ramp_follows_the_load_and_never_scales_down_on_the_way() -> None:
    config = AutoscaleConfig(target=5.0, min_replicas=1, max_replicas=10)
    ramp = 200

    def load(t: float) -> int:
        return round(20 * min(t, ramp) / ramp)

    trace = play(load, ramp + 120, config)
    counts = [count for _, count in trace]
    assert counts == sorted(counts), "a rising load must never make it scale down"
    assert counts[-1] == 4  # 20 in flight / 5 per replica
    # It keeps up: never more than one replica short of what the load needs right now.
    assert all(count >= -(-load(t) // 5) - 1 for t, count in trace)


@pytest.mark.parametrize(
    "silence",
    [pytest.param(0, id="gateways-report-zero"), pytest.param(None, id="gateways-report-nothing")],
)
def test_spike_then_silence_stays_up_through_the_stable_window(silence: int | None) -> None:
    trace = play(lambda t: 30 if 10 <= t < 15 else (0 if t < 10 else silence), 100)
    assert at(trace, 14) == 5  # 30 in flight want 6: capped at max, within 4 s
    assert all(count == 5 for t, count in trace if 14 <= t < 70)
    assert at(trace, 80) == 1
    downs = [(t, before, after) for t, before, after in changes(trace) if after < before]
    assert len(downs) == 1
    assert downs[0][0] >= 70  # a whole stable window after the spike


def test_flapping_load_does_not_make_the_count_oscillate() -> None:
    # 15 and 3 in flight in turns every 2 s: 9 on average, two replicas' worth.
    trace = play(lambda t: 15 if int(t) // 2 % 2 == 0 else 3, 300)
    assert len(changes(trace)) <= 3
    assert not [c for c in changes(trace) if c[0] > 100], "still changing after 100 s"
    assert trace[-1][1] == 2


def test_scale_down_follows_the_stable_window_only() -> None:
    # 15 in flight for two minutes (3 replicas, no panic from 3), then 5.
    trace = play(lambda t: 15 if t < 120 else 5, 240, start=3)
    assert all(count == 3 for t, count in trace if t < 120)
    down = changes(trace)
    assert [(before, after) for _, before, after in down] == [(3, 2), (2, 1)]
    assert all(t > 140 for t, _, _ in down), "scaled down before the stable window said so"


@pytest.mark.parametrize(
    ("load", "panics"),
    [pytest.param(15, False, id="3-wanted-of-2"), pytest.param(20, True, id="4-wanted-of-2")],
)
def test_panic_needs_twice_the_replicas(load: int, panics: bool) -> None:
    config = AutoscaleConfig(target=5.0, min_replicas=1, max_replicas=10)
    samples = [(float(t), 8) for t in range(61)]  # two replicas' worth for a minute
    state = AutoscaleState(replicas=2)
    seen_panic = False
    for second in range(61, 70):
        samples.append((float(second), load))
        _, state = autoscale(config, samples[-61:], state, float(second))
        seen_panic = seen_panic or state.panicking
    assert seen_panic is panics


@pytest.mark.parametrize(
    ("config", "load", "expected"),
    [
        pytest.param(AutoscaleConfig(min_replicas=2, max_replicas=4), 0, 2, id="never-below-min"),
        pytest.param(AutoscaleConfig(min_replicas=1, max_replicas=4), 500, 4, id="never-above-max"),
        pytest.param(AutoscaleConfig(target=10.0, max_replicas=9), 35, 4, id="target-per-replica"),
    ],
)
def test_bounds(config: AutoscaleConfig, load: int, expected: int) -> None:
    trace = play(lambda t: load, 120, config)
    assert trace[-1][1] == expected


def test_config_from_spec_keeps_a_running_endpoint_at_one_at_least() -> None:
    spec = EndpointSpec(
        "web",
        "wsgi",
        "app:app",
        replicas=Replicas(min=0, max=3),
        autoscaling=Autoscaling(target_concurrency=2.5),
    )
    assert AutoscaleConfig.from_spec(spec) == AutoscaleConfig(
        target=2.5, min_replicas=1, max_replicas=3
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"target": 0.0}, "above zero", id="target"),
        pytest.param({"min_replicas": 3, "max_replicas": 2}, "min <= max", id="min-over-max"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        AutoscaleConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("samples", "now", "window", "expected"),
    [
        pytest.param([], 10.0, 6.0, 0.0, id="nothing"),
        pytest.param([(10.0, 12)], 10.0, 6.0, 12.0, id="one-fresh-sample"),
        pytest.param([(t, 6) for t in range(0, 11)], 10.0, 6.0, 6.0, id="steady"),
        pytest.param([(0.0, 10)], 10.0, 6.0, 0.0, id="old-sample-outside"),
        # 10 for 2 s (its hold) then 8 s of nothing: the first sample's 2 s count, the rest 0.
        pytest.param([(0.0, 10)], 8.0, 60.0, 2.0, id="silence-after-a-sample"),
        # A young endpoint: the average runs over its 3 s, not the whole window.
        pytest.param([(9.0, 4), (10.0, 8)], 10.0, 6.0, 16 / 3, id="young-endpoint"),
    ],
)
def test_window_average(
    samples: list[tuple[float, int]], now: float, window: float, expected: float
) -> None:
    assert window_average(samples, now, window, hold=2.0) == pytest.approx(expected)


def test_explain_says_why() -> None:
    state = AutoscaleState(replicas=3, concurrency=14.0, wanted=3)
    assert explain(1, 3, CONFIG, state) == (
        "scaled 1 → 3: 14 requests in flight, target 5 per replica"
    )
    capped = AutoscaleState(replicas=5, panic_since=1.0, concurrency=52.5, wanted=11)
    assert explain(1, 5, CONFIG, capped) == (
        "scaled 1 → 5: 52.5 requests in flight, target 5 per replica "
        "(panic: the last 6s need a fast scale-up; max replicas 5)"
    )
