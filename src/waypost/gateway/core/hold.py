"""Holding requests while a sleeping endpoint wakes: who is held, and how many.

``HoldBook.decide(target)`` says what to do with a request whose backend target is
``target``: ``proxy`` (it has a ready replica), ``hold`` (none is ready, but one is
coming: the target is ``Sleeping``, or ``Deploying``/``Startup`` after the book saw it
sleeping, i.e. it is waking) or ``unavailable`` (503 at once: any other state, or a
target the table does not have).

``enter``/``leave`` count the held requests per target, up to ``capacity`` each; the
targets with held requests are the ``waiting`` list the gateway reports so the control
plane wakes them. ``enter`` says when a target *starts* waiting, so the shell can
report at once. ``observe`` takes each new route table's targets to keep track of
which ones are waking. No asyncio here: the shell waits, this only counts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Literal

from waypost.model.routes import RouteTarget

__all__ = ["SLEEPING", "WAKING", "Decision", "Entered", "HoldBook"]

SLEEPING = "Sleeping"
#: States a target passes through after a wake, before it is Running.
WAKING = frozenset({"Deploying", "Startup"})

Decision = Literal["proxy", "hold", "unavailable"]


class Entered(enum.Enum):
    FIRST = "first"  # the target had no held request before this one
    HELD = "held"
    FULL = "full"  # at capacity: answer 503


class HoldBook:
    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 0:
            raise ValueError(f"capacity cannot be negative, got {capacity}")
        self.capacity = capacity
        self._held: dict[str, int] = {}
        self._waking: set[str] = set()

    def observe(self, targets: Mapping[str, RouteTarget]) -> None:
        """A new route table: remember the targets that sleep or are waking, forget the rest."""
        waking = self._waking
        for key in [k for k in waking if k not in targets]:
            waking.discard(key)
        for key, target in targets.items():
            if target.state == SLEEPING:
                waking.add(key)
            elif target.state not in WAKING or target.replicas:
                waking.discard(key)

    def decide(self, target: RouteTarget | None) -> Decision:
        if target is None:
            return "unavailable"
        if target.replicas:
            return "proxy"
        if target.state == SLEEPING:
            return "hold"
        if target.state in WAKING and (target.key in self._waking or target.key in self._held):
            return "hold"
        return "unavailable"

    def enter(self, key: str) -> Entered:
        count = self._held.get(key, 0)
        if count >= self.capacity:
            return Entered.FULL
        self._held[key] = count + 1
        self._waking.add(key)
        return Entered.FIRST if count == 0 else Entered.HELD

    def leave(self, key: str) -> None:
        count = self._held.get(key, 0)
        if count <= 1:
            self._held.pop(key, None)
        else:
            self._held[key] = count - 1

    def held(self, key: str) -> int:
        return self._held.get(key, 0)

    @property
    def waiting(self) -> tuple[str, ...]:
        """Targets with held requests, sorted."""
        return tuple(sorted(self._held))
