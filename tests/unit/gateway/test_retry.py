"""Which failed attempts may be retried, and the retry budget over a sliding window."""

from __future__ import annotations

import pytest

from waypost.gateway.core.retry import RetryBudget, may_retry


@pytest.mark.parametrize(
    ("method", "failure", "opt_in", "replayable", "attempt", "expected"),
    [
        pytest.param("POST", "connect", False, True, 1, True, id="connect-any-method"),
        pytest.param("POST", "connect", False, False, 1, True, id="connect-big-body"),
        pytest.param("GET", "sent", False, True, 1, True, id="sent-get"),
        pytest.param("PUT", "sent", False, True, 2, True, id="sent-put-second"),
        pytest.param("DELETE", "sent", False, True, 1, True, id="sent-delete"),
        pytest.param("POST", "sent", False, True, 1, False, id="sent-post"),
        pytest.param("PATCH", "sent", False, True, 1, False, id="sent-patch"),
        pytest.param("POST", "sent", True, True, 1, True, id="sent-post-opted-in"),
        pytest.param("PUT", "sent", False, False, 1, False, id="sent-body-not-kept"),
        pytest.param("POST", "sent", True, False, 1, False, id="opt-in-body-not-kept"),
        pytest.param("GET", "connect", False, True, 3, False, id="attempts-spent"),
        pytest.param("get", "sent", False, True, 1, False, id="methods-are-case-sensitive"),
    ],
)
def test_may_retry(
    method: str, failure: str, opt_in: bool, replayable: bool, attempt: int, expected: bool
) -> None:
    assert (
        may_retry(
            method,
            failure,  # type: ignore[arg-type]
            attempt=attempt,
            max_attempts=3,
            opt_in=opt_in,
            body_replayable=replayable,
        )
        is expected
    )


def test_budget_allows_the_minimum_when_traffic_is_low() -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=1.0, window=10)
    budget.request("t", 0.0)
    assert [budget.try_spend("t", 0.5) for _ in range(11)] == [True] * 10 + [False]


def test_budget_is_a_share_of_the_requests() -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0.0, window=10)
    for i in range(100):
        budget.request("t", i * 0.01)
    spent = [budget.try_spend("t", 1.0) for _ in range(25)]
    assert spent.count(True) == 20


def test_the_window_slides() -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0.0, window=2)
    budget.request("t", 0.0)
    budget.request("t", 0.0)
    assert budget.try_spend("t", 0.0)
    assert not budget.try_spend("t", 1.0)
    assert not budget.try_spend("t", 2.5)  # the requests of second 0 have left the window
    budget.request("t", 2.5)
    budget.request("t", 2.5)
    assert budget.try_spend("t", 2.5)


def test_targets_have_their_own_budgets_and_retain_forgets() -> None:
    budget = RetryBudget(ratio=0.0, min_per_second=0.1, window=10)
    assert budget.try_spend("a", 0.0)
    assert not budget.try_spend("a", 0.0)
    assert budget.try_spend("b", 0.0)
    budget.retain({"b"})
    assert budget.try_spend("a", 0.0)  # forgotten: a new window


def test_bad_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="budget"):
        RetryBudget(ratio=2.0)
