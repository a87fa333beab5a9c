"""Per-target concurrency caps with a bounded wait queue: who runs, who waits, who is refused.

``Admission.enter(key, ticket, cap, queue)`` admits a request for target ``key``:
``RUN`` if fewer than ``cap`` run (it now counts as running), ``QUEUED`` if fewer than
``queue`` wait (first in, first out), else ``FULL`` (the shell answers 503 with
``Retry-After``). ``leave(key, cap)`` ends a running request and returns the tickets
that run now (one in its place, more if the cap was raised meanwhile);
``abandon(key, ticket)`` takes a waiting ticket out (its wait timed out or its client
left). A ``cap`` of None means no cap: nothing is
counted. The cap and queue size come from the route table at each call, so a new
table changes them for the next request. Like ``core.mirror.Lane`` this runs nothing
and holds no futures, only integer tickets: the shell maps them to waiters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["Admission", "Admit"]


class Admit(enum.Enum):
    RUN = "run"
    QUEUED = "queued"
    FULL = "full"


@dataclass(slots=True)
class _Gate:
    running: int = 0
    #: Waiting tickets in arrival order (a dict is an ordered set with O(1) removal).
    waiting: dict[int, None] = field(default_factory=dict)


class Admission:
    __slots__ = ("_gates",)

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}

    def enter(self, key: str, ticket: int, cap: int | None, queue: int) -> Admit:
        if cap is None:
            return Admit.RUN
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate()
        if gate.running < cap and not gate.waiting:
            gate.running += 1
            return Admit.RUN
        if len(gate.waiting) < queue:
            gate.waiting[ticket] = None
            return Admit.QUEUED
        return Admit.FULL

    def leave(self, key: str, cap: int | None) -> list[int]:
        """A running request of ``key`` ended: the waiting tickets that run now, in order."""
        gate = self._gates.get(key)
        if gate is None:
            return []
        gate.running -= 1
        promoted = []
        while gate.waiting and (cap is None or gate.running < cap):
            ticket = next(iter(gate.waiting))
            del gate.waiting[ticket]
            gate.running += 1
            promoted.append(ticket)
        if gate.running <= 0 and not gate.waiting:
            del self._gates[key]
        return promoted

    def abandon(self, key: str, ticket: int) -> bool:
        """Take a waiting ticket out; False if it was not waiting (it was promoted)."""
        gate = self._gates.get(key)
        if gate is None or ticket not in gate.waiting:
            return False
        del gate.waiting[ticket]
        if gate.running <= 0 and not gate.waiting:
            del self._gates[key]
        return True

    def running(self, key: str) -> int:
        gate = self._gates.get(key)
        return gate.running if gate is not None else 0

    def queued(self, key: str) -> int:
        gate = self._gates.get(key)
        return len(gate.waiting) if gate is not None else 0

    def depths(self) -> dict[str, int]:
        """Target key -> requests waiting, for targets with any."""
        return {k: len(g.waiting) for k, g in self._gates.items() if g.waiting}
