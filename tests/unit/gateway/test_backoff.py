"""Backoff: 0.2 s doubling to a 5 s cap."""

from __future__ import annotations

import pytest

from waypost.gateway.core.backoff import Backoff


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        pytest.param(0, 0.0, id="none"),
        pytest.param(1, 0.2, id="first"),
        pytest.param(2, 0.4, id="second"),
        pytest.param(5, 3.2, id="fifth"),
        pytest.param(6, 5.0, id="capped"),
        pytest.param(10_000, 5.0, id="huge"),
    ],
)
def test_delays(failures: int, delay: float) -> None:
    assert Backoff().delay(failures) == pytest.approx(delay)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"initial": 0.0}, id="zero-initial"),
        pytest.param({"initial": 6.0, "cap": 5.0}, id="initial-above-cap"),
        pytest.param({"factor": 0.5}, id="shrinking"),
    ],
)
def test_invalid_backoff_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"initial|factor"):
        Backoff(**kwargs)
