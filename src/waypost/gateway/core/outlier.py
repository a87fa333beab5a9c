"""Outlier ejection: replicas that keep failing are taken out of balancing for a while.

``Outliers`` is told how each request to a replica ended:

- ``success``: the replica answered below 500;
- ``failure``: it answered 5xx, or broke off (reset, hang-up) before answering;
- ``connect_failure``: no connection could be opened. Nothing is listening, so the
  replica is set aside at once, without waiting for ``consecutive`` of them (one
  request paying a failed connect is enough; the route table drops it soon).

After ``consecutive`` failures in a row (default 5) a replica is ejected for
``base`` seconds, doubling with each ejection up to ``cap``. When that time is up it
is back on probation: the next request reaches it (a probe), and a single failure
ejects it again for longer; a success ends probation, and once it has stayed healthy
for as long as its last ejection, its ejection count is forgotten.

The gateway's own answers (a 504 after a timeout, a 503 when overloaded, a client
that went away) are not the replica's fault: the shell tells nothing about them.
Whether ejected replicas are still used when every replica of a target is ejected
(panic mode) is the balancer's call. Time is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Outliers"]


@dataclass(slots=True)
class _Health:
    failures: int = 0  # in a row
    ejections: int = 0
    ejected_until: float = 0.0
    healthy_since: float = 0.0
    probation: bool = False


class Outliers:
    __slots__ = ("_health", "base", "cap", "consecutive", "ejections")

    def __init__(self, *, consecutive: int = 5, base: float = 5.0, cap: float = 300.0) -> None:
        if consecutive < 1 or not 0 < base <= cap:
            raise ValueError(f"bad outlier settings: {consecutive=}, {base=}, {cap=}")
        self.consecutive = consecutive
        self.base = base
        self.cap = cap
        self._health: dict[tuple[str, str], _Health] = {}
        #: Ejections so far (for metrics).
        self.ejections = 0

    def ejected(self, target: str, replica: str, now: float) -> bool:
        """Is the replica out of balancing at ``now``? (An ejection that ran out puts
        it on probation.)"""
        health = self._health.get((target, replica))
        if health is None or health.ejected_until == 0.0:
            return False
        if now < health.ejected_until:
            return True
        health.ejected_until = 0.0
        health.probation = True
        return False

    def ejection_seconds(self, ejections: int) -> float:
        """How long the ``ejections``-th ejection in a row lasts."""
        seconds = self.base
        for _ in range(ejections - 1):
            seconds *= 2
            if seconds >= self.cap:
                return self.cap
        return seconds

    def success(self, target: str, replica: str, now: float) -> None:
        health = self._health.get((target, replica))
        if health is None:
            return
        health.failures = 0
        if health.probation:
            health.probation = False
            health.healthy_since = now
        elif (
            health.ejections
            and health.ejected_until == 0.0
            and now - health.healthy_since >= self.ejection_seconds(health.ejections)
        ):
            del self._health[(target, replica)]

    def failure(self, target: str, replica: str, now: float) -> bool:
        """A 5xx or a broken exchange; True if this ejects the replica."""
        health = self._health.setdefault((target, replica), _Health())
        health.failures += 1
        if health.probation or health.failures >= self.consecutive:
            return self._eject(health, now)
        return False

    def connect_failure(self, target: str, replica: str, now: float) -> bool:
        """No connection could be opened; True if this ejects the replica."""
        health = self._health.setdefault((target, replica), _Health())
        health.failures += 1
        if health.ejected_until > now:
            return False
        return self._eject(health, now)

    def retain(self, pairs: set[tuple[str, str]]) -> None:
        """Forget replicas no longer in the route table."""
        for pair in [p for p in self._health if p not in pairs]:
            del self._health[pair]

    def _eject(self, health: _Health, now: float) -> bool:
        health.ejections += 1
        health.failures = 0
        health.probation = False
        health.ejected_until = now + self.ejection_seconds(health.ejections)
        self.ejections += 1
        return True
