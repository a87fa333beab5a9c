"""Least outstanding requests over a target's ready, non-ejected replicas.

``Balancer.pick`` returns the replica of a target with the fewest requests in flight
from this worker, skipping any in ``exclude`` (those this request already failed on)
and any that ``Outliers`` has ejected; ties go round robin from a per-target cursor,
so sequential requests alternate and a replica back from ejection (0 in flight) gets
the next request as its probe. If every remaining replica is ejected, they are used
anyway (panic mode: a try beats a certain 503).

The shell calls ``start`` when a request goes to a replica and ``finish`` when it
ends, with ``ok`` True (answered below 500), False (5xx or broken: counts towards
ejection) or None (the gateway's own 504, a client that left: the replica is not
judged); ``connect_failed`` for a connection that could not be opened. ``in_flight``
per replica is kept for replicas that left the route table until their last request
ends (the report lists them, so the control plane knows when a removed replica is
free). A scan is O(replicas); replica lists are short. Time is an argument; one
instance per worker, one event loop, no locks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType

from waypost.gateway.core.outlier import Outliers
from waypost.model.routes import ReplicaAddress, RouteTarget

__all__ = ["Balancer"]

_NONE: Mapping[str, int] = MappingProxyType({})


class Balancer:
    __slots__ = ("_busy", "_next", "outliers")

    def __init__(self, outliers: Outliers | None = None) -> None:
        self.outliers = outliers or Outliers()
        self._next: dict[str, int] = {}
        #: target key -> replica id -> requests in flight (only non-zero counts).
        self._busy: dict[str, dict[str, int]] = {}

    def pick(
        self, target: RouteTarget, exclude: Collection[str] = (), *, now: float
    ) -> ReplicaAddress | None:
        """The replica of ``target`` to send the next request to, or None."""
        replicas = target.replicas
        count = len(replicas)
        if count == 0:
            return None
        key = target.key
        busy = self._busy.get(key, _NONE)
        outliers = self.outliers
        start = self._next.get(key, 0) % count
        best = -1
        best_load = 0
        panic = -1
        panic_load = 0
        for step in range(count):
            index = start + step
            if index >= count:
                index -= count
            replica = replicas[index]
            if replica.id in exclude:
                continue
            load = busy.get(replica.id, 0)
            if outliers.ejected(key, replica.id, now):
                if panic < 0 or load < panic_load:
                    panic, panic_load = index, load
                continue
            if best < 0 or load < best_load:
                best, best_load = index, load
                if load == 0:
                    break
        if best < 0:
            best = panic
        if best < 0:
            return None
        self._next[key] = best + 1 if best + 1 < count else 0
        return replicas[best]

    def start(self, target_key: str, replica_id: str) -> None:
        busy = self._busy.get(target_key)
        if busy is None:
            busy = self._busy[target_key] = {}
        busy[replica_id] = busy.get(replica_id, 0) + 1

    def finish(self, target_key: str, replica_id: str, ok: bool | None, *, now: float) -> bool:
        """A request ``start`` counted ended; True if its failure ejected the replica."""
        busy = self._busy.get(target_key)
        if busy is not None:
            left = busy.get(replica_id, 0) - 1
            if left > 0:
                busy[replica_id] = left
            else:
                busy.pop(replica_id, None)
                if not busy:
                    del self._busy[target_key]
        if ok is None:
            return False
        if ok:
            self.outliers.success(target_key, replica_id, now)
            return False
        return self.outliers.failure(target_key, replica_id, now)

    def connect_failed(self, target_key: str, replica_id: str, *, now: float) -> bool:
        """No connection could be opened to the replica; True if this ejected it."""
        return self.outliers.connect_failure(target_key, replica_id, now)

    def in_flight(self) -> Mapping[str, Mapping[str, int]]:
        """Target key -> replica id -> requests in flight now (non-zero counts only)."""
        return self._busy

    def retain(self, targets: Mapping[str, RouteTarget]) -> None:
        """A new route table: forget cursors and health of what left it (not in-flight
        counts, which end with their requests)."""
        for key in [k for k in self._next if k not in targets]:
            del self._next[key]
        self.outliers.retain(
            {(key, r.id) for key, target in targets.items() for r in target.replicas}
        )

    def ejected(self, targets: Iterable[RouteTarget], now: float) -> int:
        """How many replicas of ``targets`` are ejected now (for the metrics gauge)."""
        return sum(
            1 for t in targets for r in t.replicas if self.outliers.ejected(t.key, r.id, now)
        )
