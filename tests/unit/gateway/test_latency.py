"""LatencyHistogram: percentiles within a few percent, merging, empty."""

from __future__ import annotations

import random

import pytest

from waypost.gateway.core.latency import LatencyHistogram


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * int(q) // 100) - 1)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_are_within_three_percent(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(2.0, 1.0) for _ in range(5000)]
    histogram = LatencyHistogram()
    for v in values:
        histogram.add(v)
    for q in (50, 90, 99):
        assert histogram.percentile(q) == pytest.approx(exact(values, q), rel=0.03)


def test_empty_has_no_percentile() -> None:
    assert LatencyHistogram().percentile(50) is None


def test_tiny_latencies_share_the_first_bucket() -> None:
    histogram = LatencyHistogram()
    histogram.add(0.0)
    histogram.add(0.001)
    assert histogram.percentile(99) == 0.01


def test_merge_adds_counts() -> None:
    one, two = LatencyHistogram(), LatencyHistogram()
    for _ in range(99):
        one.add(1.0)
    two.add(1000.0)
    one.merge(two)
    assert one.count == 100
    assert one.percentile(100) == pytest.approx(1000.0, rel=0.03)
    assert one.percentile(99) == pytest.approx(1.0, rel=0.03)
