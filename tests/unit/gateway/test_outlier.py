"""Outliers: ejection after failures in a row, growing ejections, probation, forgetting."""

from __future__ import annotations

import pytest

from waypost.gateway.core.outlier import Outliers


def fail(outliers: Outliers, times: int, now: float) -> list[bool]:
    return [outliers.failure("t", "a", now) for _ in range(times)]


def test_ejected_on_the_fifth_failure_in_a_row() -> None:
    outliers = Outliers(consecutive=5, base=5.0)
    assert fail(outliers, 5, 0.0) == [False, False, False, False, True]
    assert outliers.ejected("t", "a", 4.9)
    assert not outliers.ejected("t", "a", 5.0)
    assert outliers.ejections == 1


def test_probation_a_single_failure_ejects_again_for_longer() -> None:
    outliers = Outliers(consecutive=5, base=5.0, cap=12.0)
    fail(outliers, 5, 0.0)
    assert not outliers.ejected("t", "a", 5.0)  # probation starts
    assert fail(outliers, 1, 5.0) == [True]
    assert outliers.ejected("t", "a", 14.9)  # 10 s this time
    assert not outliers.ejected("t", "a", 15.0)
    assert fail(outliers, 1, 15.0) == [True]
    assert outliers.ejected("t", "a", 26.9)  # capped at 12 s
    assert not outliers.ejected("t", "a", 27.0)


def test_a_probe_that_succeeds_ends_probation_and_time_forgets_the_count() -> None:
    outliers = Outliers(consecutive=2, base=5.0)
    fail(outliers, 2, 0.0)
    assert not outliers.ejected("t", "a", 5.0)
    outliers.success("t", "a", 5.0)
    assert fail(outliers, 1, 6.0) == [False]  # no longer on probation: needs 2 again
    outliers.success("t", "a", 6.0)
    outliers.success("t", "a", 10.1)  # healthy for as long as the last ejection lasted
    fail(outliers, 2, 11.0)
    assert not outliers.ejected("t", "a", 16.0)  # back to the base duration: 5 s


def test_a_refused_connection_ejects_at_once() -> None:
    outliers = Outliers()
    assert outliers.connect_failure("t", "a", 0.0)
    assert outliers.ejected("t", "a", 1.0)
    assert not outliers.connect_failure("t", "a", 1.0)


def test_retain_forgets_replicas_that_left() -> None:
    outliers = Outliers()
    outliers.connect_failure("t", "a", 0.0)
    outliers.connect_failure("t", "b", 0.0)
    outliers.retain({("t", "b")})
    assert not outliers.ejected("t", "a", 1.0)
    assert outliers.ejected("t", "b", 1.0)


@pytest.mark.parametrize(
    ("ejections", "seconds"),
    [
        pytest.param(1, 5.0, id="first"),
        pytest.param(3, 20.0, id="third"),
        pytest.param(99, 300.0, id="cap"),
    ],
)
def test_ejection_seconds(ejections: int, seconds: float) -> None:
    assert Outliers(base=5.0, cap=300.0).ejection_seconds(ejections) == seconds


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="outlier"):
        Outliers(consecutive=0)
