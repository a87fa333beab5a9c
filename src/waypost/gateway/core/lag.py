"""Event loop lag as a value: is the worker too busy to afford mirror copies?

The shell runs a timer every ``interval`` seconds and reports how late it fired
(``observe(late)``). A loop that is late is a loop whose CPU is spent: every mirror
copy it makes then delays some primary request. ``LoopLag`` keeps an exponentially
weighted average of the delays (``smoothing`` is the weight of a new sample, so a
single slow callback does not flip it) and says ``busy`` while that average is over
``threshold`` seconds, or the last sample alone is over four times that. No clock
here: delays come in as numbers.
"""

from __future__ import annotations

__all__ = ["LoopLag"]


class LoopLag:
    __slots__ = ("average", "busy", "last", "smoothing", "threshold")

    def __init__(self, threshold: float = 0.002, smoothing: float = 0.3) -> None:
        if threshold <= 0 or not 0 < smoothing <= 1:
            raise ValueError(f"bad loop lag settings: {threshold=}, {smoothing=}")
        self.threshold = threshold
        self.smoothing = smoothing
        self.average = 0.0
        self.last = 0.0
        self.busy = False

    def observe(self, late: float) -> bool:
        """The timer fired ``late`` seconds after it was due; True if the loop is busy."""
        late = max(0.0, late)
        self.last = late
        self.average += self.smoothing * (late - self.average)
        self.busy = self.average > self.threshold or late > 4 * self.threshold
        return self.busy
