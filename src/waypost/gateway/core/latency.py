"""A small log-scale latency histogram: percentiles per report interval, cheaply.

``LatencyHistogram.add(ms)`` counts a latency in a bucket whose bounds grow by
``RATIO`` (5 %), so ``percentile(q)`` is within about 2.5 % of the exact value while
a second of traffic costs a few dozen dict entries, whatever the request rate.
Latencies under ``FLOOR_MS`` share the first bucket. Hand-written because it runs
on every request and only two percentiles are reported; the Prometheus histogram
(fixed buckets, cumulative) answers a different question.
"""

from __future__ import annotations

import math

__all__ = ["FLOOR_MS", "RATIO", "LatencyHistogram"]

RATIO = 1.05
FLOOR_MS = 0.01
_LOG_RATIO = math.log(RATIO)
_LOG_FLOOR = math.log(FLOOR_MS)


class LatencyHistogram:
    __slots__ = ("buckets", "count")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0

    def add(self, ms: float) -> None:
        index = int((math.log(ms) - _LOG_FLOOR) / _LOG_RATIO) + 1 if ms > FLOOR_MS else 0
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1

    def merge(self, other: LatencyHistogram) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) in milliseconds; None when empty."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(self.count * q / 100.0))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return _middle(index)
        return _middle(max(self.buckets))  # pragma: no cover - rank <= count


def _middle(index: int) -> float:
    """The geometric middle of bucket ``index`` (its lower bound for bucket 0)."""
    if index == 0:
        return FLOOR_MS
    low = FLOOR_MS * RATIO ** (index - 1)
    return round(low * math.sqrt(RATIO), 3)
