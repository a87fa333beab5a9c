"""Durations read the way users write them, and written back the same way."""

from __future__ import annotations

import pytest

from waypost.model.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(30.0, "30s", id="seconds"),
        pytest.param(300.0, "5m", id="minutes"),
        pytest.param(90.0, "1m30s", id="mixed"),
        pytest.param(7200.0, "2h", id="hours"),
        pytest.param(0.5, "500ms", id="milliseconds"),
        pytest.param(2.5, "2.5s", id="fraction"),
        pytest.param(0.0, "0s", id="zero"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["30s", "5m", "2h", "500ms", "2.5s"])
def test_round_trip(text: str) -> None:
    assert format_duration(parse_duration(text)) == text
