"""A log sink's buffer: bounded, oldest dropped first, batches retried until they land.

Lines wait in a bounded buffer (``capacity``); a full buffer drops its oldest line to
take a new one and counts it. ``batch()`` cuts the next batch (up to ``batch_size``
lines) and keeps it aside until ``sent()``: a batch that failed is sent again as it
was, so nothing in it is lost, while new lines queue behind it. Lines dropped since the
last batch travel in the next one as ``{"kind":"sink_dropped","count":N}``.

A batch the sink refuses for good (``reject``, e.g. a 400) is not sent again: its
lines count as dropped. ``due(now)`` says when to send: a full batch is waiting, or
``interval`` seconds passed since the last batch was cut and some line is waiting.
Retry delays come from ``core.backoff.Backoff``. No clock, no I/O here.
"""

from __future__ import annotations

from collections import deque

from waypost.gateway.core.logline import sink_dropped_line

__all__ = ["SinkBuffer"]


class SinkBuffer:
    def __init__(
        self, capacity: int = 10_000, batch_size: int = 500, interval: float = 1.0
    ) -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError(f"need capacity and batch_size >= 1, got {capacity}, {batch_size}")
        self.capacity = capacity
        self.batch_size = batch_size
        self.interval = interval
        self._lines: deque[str] = deque()
        self._batch: list[str] | None = None
        self._unreported = 0
        self._batch_dropped = 0  # the dropped count carried by the batch set aside
        #: Lines dropped since the buffer was made (for logging).
        self.dropped_total = 0
        self._last_cut: float | None = None

    def __len__(self) -> int:
        """Lines waiting, not counting a batch set aside."""
        return len(self._lines)

    @property
    def in_flight(self) -> list[str] | None:
        """The batch cut and not yet sent, if any."""
        return self._batch

    def append(self, line: str) -> None:
        lines = self._lines
        if len(lines) >= self.capacity:
            lines.popleft()
            self._unreported += 1
            self.dropped_total += 1
        lines.append(line)

    def full(self) -> bool:
        """A whole batch is waiting."""
        return len(self._lines) >= self.batch_size

    def due(self, now: float) -> bool:
        """Whether to cut and send a batch now."""
        if self._batch is not None:
            return True
        if not self._lines and not self._unreported:
            return False
        if self.full() or self._last_cut is None:
            return True
        return now - self._last_cut >= self.interval

    def wait_time(self, now: float) -> float | None:
        """Seconds until ``due`` turns true by itself; None while nothing waits."""
        if self.due(now):
            return 0.0
        if not self._lines:
            return None
        if self._last_cut is None:  # not reached: due() is true until the first cut
            return 0.0
        return max(0.0, self._last_cut + self.interval - now)

    def batch(self, now: float) -> list[str]:
        """The batch to send: the one that failed last, or a new one (maybe empty)."""
        if self._batch is not None:
            return self._batch
        self._last_cut = now
        count = min(self.batch_size, len(self._lines))
        lines = [self._lines.popleft() for _ in range(count)]
        self._batch_dropped = self._unreported
        if self._unreported:
            lines.append(sink_dropped_line(self._unreported))
            self._unreported = 0
        if lines:
            self._batch = lines
        return lines

    def sent(self) -> None:
        """The batch landed: forget it."""
        self._batch = None
        self._batch_dropped = 0

    def reject(self) -> int:
        """The sink refused the batch for good: its lines count as dropped. How many."""
        if self._batch is None:
            return 0
        lines = len(self._batch) - (1 if self._batch_dropped else 0)
        self._unreported += self._batch_dropped + lines
        self.dropped_total += lines
        self._batch = None
        self._batch_dropped = 0
        return lines
