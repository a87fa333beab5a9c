"""GatewayRegistry: which gateways are live, and whether they all serve a revision."""

from __future__ import annotations

from waypost.control.gateways import LIVE_FOR, GatewayRegistry


def test_all_at_needs_every_live_gateway() -> None:
    registry = GatewayRegistry()
    assert not registry.all_at(1, now=0.0)  # nobody to serve it
    registry.record("a", 3, now=0.0)
    registry.record("b", 2, now=1.0)
    assert registry.all_at(2, now=1.0)
    assert not registry.all_at(3, now=1.0)
    registry.record("b", 3, now=2.0)
    assert registry.all_at(3, now=2.0)


def test_silent_gateways_stop_counting() -> None:
    registry = GatewayRegistry()
    registry.record("old", 1, now=0.0)
    registry.record("new", 5, now=LIVE_FOR)
    assert [g.gateway_id for g in registry.live(now=LIVE_FOR + 1)] == ["new"]
    assert registry.all_at(5, now=LIVE_FOR + 1)
