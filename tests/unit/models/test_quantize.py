"""Choosing which layers int8 keeps in float32, driven by fake scores (no model)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from waypost.models.quantize import choose_float_layers, float_layer_limit, rank_by_error

PENALTY = {"a": 0.004, "b": 0.020, "c": 0.001, "d": 0.010, "e": 0.0}


def additive(
    penalty: dict[str, float],
) -> tuple[Callable[[frozenset[str]], float], list[frozenset[str]]]:
    """A score that loses each quantized layer's penalty; records what it was asked."""
    calls: list[frozenset[str]] = []

    def score(kept: frozenset[str]) -> float:
        calls.append(kept)
        return 1.0 - sum(p for name, p in penalty.items() if name not in kept)

    return score, calls


def test_rank_by_error_puts_the_most_sensitive_first_and_is_stable() -> None:
    assert rank_by_error(PENALTY) == ["b", "d", "a", "c", "e"]
    assert rank_by_error({"x": 1.0, "y": 2.0, "z": 1.0}) == ["y", "x", "z"]
    assert rank_by_error({}) == []


def test_float_layer_limit_is_a_quarter_rounded_down() -> None:
    assert float_layer_limit(37) == 9
    assert float_layer_limit(3) == 0
    assert float_layer_limit(8, fraction=0.5) == 4


def test_nothing_is_kept_when_int8_already_reaches_the_target() -> None:
    score, calls = additive(PENALTY)
    selection = choose_float_layers(rank_by_error(PENALTY), score, 0.96, limit=3)
    assert selection.kept == ()
    assert selection.reached
    assert selection.score == pytest.approx(0.965)
    assert calls == [frozenset()]
    assert selection.evaluations == 1


def test_the_most_sensitive_layers_are_kept_until_the_target_is_reached() -> None:
    score, _ = additive(PENALTY)
    selection = choose_float_layers(rank_by_error(PENALTY), score, 0.99, limit=3)
    assert selection.kept == ("b", "d")
    assert selection.reached
    assert selection.score == pytest.approx(0.995)


def test_layers_the_target_does_not_need_are_pruned_again() -> None:
    # The ranking (local error) misjudges "a": end to end it costs nothing, so it is
    # dropped again once "b" and "d" (ranked after it) have made the target.
    ranked = ["a", "b", "d", "c", "e"]
    penalty = {**PENALTY, "a": 0.0}
    score, calls = additive(penalty)
    selection = choose_float_layers(ranked, score, 0.995, limit=3)
    assert selection.kept == ("b", "d")
    assert selection.reached
    assert frozenset({"b", "d"}) in calls
    assert selection.evaluations == len(calls) == 4 + 2  # prefixes 0..3, then a and b tried


def test_the_limit_bounds_the_kept_layers_and_the_best_prefix_is_returned() -> None:
    score, calls = additive(PENALTY)
    selection = choose_float_layers(rank_by_error(PENALTY), score, 0.9999, limit=2)
    assert selection.kept == ("b", "d")
    assert not selection.reached
    assert selection.score == pytest.approx(0.995)
    assert max(len(kept) for kept in calls) == 2


def test_a_non_monotonic_score_returns_the_best_prefix_seen() -> None:
    values = {0: 0.90, 1: 0.95, 2: 0.93}

    def score(kept: frozenset[str]) -> float:
        return values[len(kept)]

    selection = choose_float_layers(["x", "y", "z"], score, 0.99, limit=2)
    assert selection.kept == ("x",)
    assert selection.score == 0.95
    assert not selection.reached


def test_a_zero_limit_only_measures() -> None:
    score, calls = additive(PENALTY)
    selection = choose_float_layers(["b"], score, 0.999, limit=0)
    assert selection.kept == ()
    assert not selection.reached
    assert calls == [frozenset()]
