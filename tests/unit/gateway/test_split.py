"""choose(): weighted backends with exact draws; sticky draws are stable; weight 0 never."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waypost.gateway.core.split import Choice, choose, cookie_value, sticky_draw, sticky_key
from waypost.model.routes import Route, RouteBackend


def alias(*weights: tuple[str, int], sticky: str | None = None) -> Route:
    backends = tuple(RouteBackend(name, w, f"a/b/c/{name}/web") for name, w in weights)
    return Route("a", "b", "c", "prod", "web", backends, (), sticky)


NINE_TO_ONE = alias(("stable", 9), ("canary", 1))


@pytest.mark.parametrize(
    ("draw", "backend"),
    [
        pytest.param(0.0, "stable", id="0.0"),
        pytest.param(0.5, "stable", id="0.5"),
        pytest.param(0.899, "stable", id="0.899"),
        pytest.param(0.9, "canary", id="0.9"),
        pytest.param(0.95, "canary", id="0.95"),
        pytest.param(0.999, "canary", id="0.999"),
        pytest.param(0.9999999999999999, "canary", id="just-below-1"),
    ],
)
def test_choose_with_exact_draws(draw: float, backend: str) -> None:
    assert choose(NINE_TO_ONE, draw) == Choice(f"a/b/c/{backend}/web", backend)


@pytest.mark.parametrize("draw", [-0.1, 1.0, 1.5, float("nan")])
def test_draw_outside_unit_interval_is_refused(draw: float) -> None:
    with pytest.raises(ValueError, match="draw"):
        choose(NINE_TO_ONE, draw)


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(alias(("off", 0), ("on", 3), ("off2", 0)), id="middle"),
        pytest.param(alias(("on", 3), ("off", 0)), id="last"),
        pytest.param(alias(("off", 0), ("on", 3)), id="first"),
    ],
)
def test_weight_zero_is_never_chosen(route: Route) -> None:
    draws = [0.0, 0.3333, 0.5, 0.9999999999999999, *(random.Random(7).random() for _ in range(500))]
    assert {c.backend_name for d in draws if (c := choose(route, d)) is not None} == {"on"}


def test_no_positive_weight_means_no_choice() -> None:
    assert choose(alias(("a", 0), ("b", 0)), 0.5) is None
    assert choose(alias(("a", 0)), 0.5) is None


def test_single_backend_takes_every_draw() -> None:
    route = alias(("only", 1))
    assert choose(route, 0.0) == choose(route, 0.999) == Choice("a/b/c/only/web", "only")


def test_weights_split_draws_in_proportion() -> None:
    route = alias(("a", 1), ("b", 2), ("c", 7))
    counts = {"a": 0, "b": 0, "c": 0}
    for i in range(1000):
        choice = choose(route, i / 1000)
        assert choice is not None
        counts[choice.backend_name] += 1
    assert counts == {"a": 100, "b": 200, "c": 700}


def test_sticky_draw_is_stable_and_in_range() -> None:
    assert sticky_draw("user-42") == sticky_draw("user-42")
    assert sticky_draw("user-42") != sticky_draw("user-43")
    draws = [sticky_draw(f"user-{i}") for i in range(2000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    canary = sum(1 for d in draws if choose(NINE_TO_ONE, d) == Choice("a/b/c/canary/web", "canary"))
    assert 120 < canary < 280  # about a tenth of the users


def test_sticky_draw_value_is_fixed_across_processes() -> None:
    # blake2b is not salted per process (unlike hash()): every worker and every gateway
    # computes the same draw, so a user keeps its backend whichever process serves it.
    assert sticky_draw("user-42") == 0.4360472144288925
    assert sticky_draw("") == 0.8931675160897388


@pytest.mark.parametrize(
    ("sticky", "headers", "key"),
    [
        pytest.param("header:X-User-ID", {"X-User-ID": "u1"}, "u1", id="header"),
        pytest.param("header:X-User-ID", {}, None, id="header-missing"),
        pytest.param("header:X-User-ID", {"X-User-ID": ""}, None, id="header-empty"),
        pytest.param("cookie:uid", {"Cookie": "a=1; uid=u2; b=3"}, "u2", id="cookie"),
        pytest.param("cookie:uid", {"Cookie": 'uid="u3"'}, "u3", id="cookie-quoted"),
        pytest.param("cookie:uid", {"Cookie": "uidx=1; xuid=2"}, None, id="cookie-other-names"),
        pytest.param("cookie:uid", {}, None, id="no-cookie-header"),
        pytest.param(None, {"X-User-ID": "u1"}, None, id="not-sticky"),
        pytest.param("query:uid", {"X-User-ID": "u1"}, None, id="unknown-kind"),
        pytest.param("header:", {"X-User-ID": "u1"}, None, id="no-name"),
    ],
)
def test_sticky_key(sticky: str | None, headers: dict[str, str], key: str | None) -> None:
    assert sticky_key(sticky, headers) == key


def test_cookie_value_edge_cases() -> None:
    assert cookie_value("a=1;b=2", "b") == "2"
    assert cookie_value("a", "a") is None
    assert cookie_value("a=", "a") is None
    assert cookie_value(" a = x ", "a") == "x"


def sticky_backends(route: Route, keys: list[str]) -> list[str]:
    chosen = [choose(route, sticky_draw(key)) for key in keys]
    return [c.backend_name for c in chosen if c is not None]


def test_moving_ten_percent_of_weight_moves_only_the_keys_it_must() -> None:
    keys = [f"user-{i}" for i in range(10_000)]
    before = sticky_backends(alias(("A", 50), ("B", 50)), keys)
    after = sticky_backends(alias(("A", 40), ("B", 60)), keys)
    assert sticky_backends(alias(("A", 50), ("B", 50)), keys) == before  # weights put: no move
    moves = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert ("B", "A") not in moves
    # Each key moves with probability 0.1 (its draw in [0.4, 0.5)): 3 standard deviations.
    sd = (len(keys) * 0.1 * 0.9) ** 0.5 / len(keys)
    assert abs(len(moves) / len(keys) - 0.1) < 3 * sd


@given(
    total=st.integers(min_value=2, max_value=1000),
    data=st.data(),
)
def test_two_backends_keys_only_move_towards_the_one_gaining(
    total: int, data: st.DataObject
) -> None:
    a_before = data.draw(st.integers(min_value=1, max_value=total - 1))
    a_after = data.draw(st.integers(min_value=0, max_value=a_before))
    before = alias(("A", a_before), ("B", total - a_before))
    after = alias(("A", a_after), ("B", total - a_after))
    for i in range(200):
        draw = sticky_draw(f"k{i}")
        old, new = choose(before, draw), choose(after, draw)
        assert old is not None
        assert new is not None
        if old.backend_name == "B":
            assert new.backend_name == "B"
        elif new.backend_name == "B":  # moved: exactly the draws in the weight moved
            assert a_after / total <= draw < a_before / total + 1e-12
