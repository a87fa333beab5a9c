"""Counting crashes of an endpoint's replicas over a sliding window: pure.

The runtime restarts a replica that exits after it was ready (with backoff) and
counts its ``restarts``; it does not judge. The control plane does: it watches
those counters grow between passes, remembers when each restart was seen, and
an endpoint with ``CRASH_LIMIT`` restarts within ``CRASH_WINDOW`` seconds is in a
crash loop (RuntimeError), however its replicas share the crashes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from waypost.runtimes.base import ReplicaStatus

__all__ = ["CRASH_LIMIT", "CRASH_WINDOW", "CrashHistory", "track_crashes"]

#: Restarts within ``CRASH_WINDOW`` after which an endpoint is a RuntimeError.
CRASH_LIMIT = 5
CRASH_WINDOW = 600.0


@dataclass(frozen=True)
class CrashHistory:
    #: replica id -> its ``restarts`` when last seen.
    seen: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: When each restart within the window was seen, oldest first.
    times: tuple[float, ...] = ()

    @property
    def count(self) -> int:
        return len(self.times)


def track_crashes(
    history: CrashHistory,
    replicas: Sequence[ReplicaStatus],
    now: float,
    window: float = CRASH_WINDOW,
) -> CrashHistory:
    """``history`` updated with the restarts that happened since it was made.

    A replica seen for the first time brings all its restarts (its counter starts
    at zero when the runtime makes it); a replica that is gone is forgotten.
    """
    times = [t for t in history.times if now - t < window]
    seen: dict[str, int] = {}
    for replica in replicas:
        before = history.seen.get(replica.replica_id, 0)
        times.extend([now] * max(0, replica.restarts - before))
        seen[replica.replica_id] = replica.restarts
    return CrashHistory(MappingProxyType(seen), tuple(times))
