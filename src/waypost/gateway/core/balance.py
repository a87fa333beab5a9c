"""Round robin over a target's ready replicas, with its state in plain sight.

``RoundRobin`` keeps one cursor per target key (``state``). ``pick`` returns the
replica after the one picked last, skipping any replica in ``exclude`` (the ones this
request already failed to connect to). A replica the gateway could not connect to
is set aside for ``eject_for`` seconds (``failed``), so until the next route table
drops it, requests stop paying a failed connect first; if every replica is set
aside, they are tried anyway (a connect attempt beats a certain 503).

Replica lists change between route tables: the cursor is taken modulo the current
list, and ``retain`` forgets targets that left the table. Time is an argument
(``now``, any monotonic clock). One instance per worker; one event loop, no locks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType

from waypost.model.routes import ReplicaAddress, RouteTarget

__all__ = ["RoundRobin"]


class RoundRobin:
    def __init__(self, state: Mapping[str, int] | None = None, *, eject_for: float = 5.0) -> None:
        self._next: dict[str, int] = dict(state or {})
        self._ejected: dict[tuple[str, str], float] = {}
        self._eject_for = eject_for

    @property
    def state(self) -> Mapping[str, int]:
        """Target key -> index of the replica to try next."""
        return MappingProxyType(self._next)

    @property
    def ejected(self) -> Mapping[tuple[str, str], float]:
        """(target key, replica id) -> until when it is set aside."""
        return MappingProxyType(self._ejected)

    def pick(
        self, target: RouteTarget, exclude: Collection[str] = (), *, now: float
    ) -> ReplicaAddress | None:
        """The next replica of ``target`` not in ``exclude``, preferring ones not set aside."""
        replicas = target.replicas
        count = len(replicas)
        if count == 0:
            return None
        start = self._next.get(target.key, 0) % count
        fallback: int | None = None
        for step in range(count):
            index = (start + step) % count
            replica = replicas[index]
            if replica.id in exclude:
                continue
            if self._ejected and self._is_ejected(target.key, replica.id, now):
                if fallback is None:
                    fallback = index
                continue
            self._next[target.key] = (index + 1) % count
            return replica
        if fallback is None:
            return None
        self._next[target.key] = (fallback + 1) % count
        return replicas[fallback]

    def failed(self, target_key: str, replica_id: str, *, now: float) -> None:
        """The gateway could not connect to this replica: set it aside for a while."""
        self._ejected[(target_key, replica_id)] = now + self._eject_for

    def retain(self, keys: Iterable[str]) -> None:
        """Forget the state of targets not in ``keys`` (called when a new table arrives)."""
        keep = set(keys)
        for key in [k for k in self._next if k not in keep]:
            del self._next[key]
        for pair in [p for p in self._ejected if p[0] not in keep]:
            del self._ejected[pair]

    def _is_ejected(self, target_key: str, replica_id: str, now: float) -> bool:
        until = self._ejected.get((target_key, replica_id))
        if until is None:
            return False
        if until <= now:
            del self._ejected[(target_key, replica_id)]
            return False
        return True
