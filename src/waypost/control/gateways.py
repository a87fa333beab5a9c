"""Which route revision each gateway has applied, as told by its long-polls.

A gateway asks for routes ``after`` the revision it serves, so each poll is also
a report. ``waypost deploy`` uses this to return only once every live gateway
serves the new version, rather than when the store merely says Running.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GatewayRegistry", "GatewaySeen"]

#: A gateway that has not polled for this long is not waited for.
LIVE_FOR = 60.0


@dataclass(frozen=True)
class GatewaySeen:
    gateway_id: str
    revision: int
    seen_at: float


class GatewayRegistry:
    def __init__(self) -> None:
        self._seen: dict[str, GatewaySeen] = {}

    def record(self, gateway_id: str, revision: int, now: float) -> None:
        self._seen[gateway_id] = GatewaySeen(gateway_id, revision, now)

    def live(self, now: float) -> list[GatewaySeen]:
        return sorted(
            (g for g in self._seen.values() if now - g.seen_at <= LIVE_FOR),
            key=lambda g: g.gateway_id,
        )

    def all_at(self, revision: int, now: float) -> bool:
        """True when every live gateway serves ``revision`` or later (and at least one is live)."""
        live = self.live(now)
        return bool(live) and all(g.revision >= revision for g in live)
