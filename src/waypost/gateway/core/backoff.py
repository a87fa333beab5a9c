"""Capped exponential backoff as a value: ``Backoff().delay(failures)``.

The route sync waits ``delay(n)`` seconds after its n-th failure in a row:
0.2 s, 0.4 s, 0.8 s ... up to 5 s. No clock, no sleeping here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.2
    cap: float = 5.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError(f"need 0 < initial <= cap, got {self.initial} and {self.cap}")
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1, got {self.factor}")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (0 failures: no wait)."""
        if failures <= 0:
            return 0.0
        # Stop multiplying once capped so huge failure counts cannot overflow.
        delay = self.initial
        for _ in range(failures - 1):
            delay *= self.factor
            if delay >= self.cap:
                return self.cap
        return min(delay, self.cap)
