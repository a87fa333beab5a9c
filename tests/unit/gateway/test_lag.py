"""LoopLag: smoothed timer lateness, and when the loop counts as busy."""

from __future__ import annotations

import pytest

from waypost.gateway.core.lag import LoopLag


def test_an_idle_loop_is_not_busy() -> None:
    lag = LoopLag(threshold=0.005)
    assert not any(lag.observe(0.0005) for _ in range(50))


def test_sustained_lag_is_busy_and_recovery_clears_it() -> None:
    lag = LoopLag(threshold=0.005, smoothing=0.3)
    states = [lag.observe(0.008) for _ in range(10)]
    assert states[-1]
    assert not states[0]  # one sample moves the average only part of the way
    recovered = [lag.observe(0.0) for _ in range(10)]
    assert not recovered[-1]
    assert lag.average < 0.005


def test_one_huge_stall_is_busy_at_once() -> None:
    lag = LoopLag(threshold=0.005)
    assert lag.observe(0.05)


def test_early_timers_count_as_no_lag() -> None:
    lag = LoopLag()
    lag.observe(-0.001)
    assert lag.last == 0.0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="lag"):
        LoopLag(threshold=0)
