"""What `waypost endpoints update` sends: only the options given, engine args typed."""

from __future__ import annotations

from typing import Any

import pytest

from waypost.cli.endpoints import parse_engine_args, settings_body
from waypost.errors import InvalidSpec


def test_only_given_options_are_sent() -> None:
    body = settings_body(
        replicas={"min": 0, "max": None},
        autoscaling={"target_concurrency": None, "idle_timeout": "30s"},
        resources={"cpu": None, "memory": None},
        visibility=None,
        engine_args={},
        quantization="int8",
    )
    assert body == {
        "replicas": {"min": 0},
        "autoscaling": {"idle_timeout": "30s"},
        "quantization": "int8",
    }


def test_nothing_given_is_an_empty_body() -> None:
    assert settings_body(replicas={"min": None}, autoscaling={}, resources={}) == {}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param(["block=16"], {"block": 16}, id="int"),
        pytest.param(["util=0.9"], {"util": 0.9}, id="float"),
        pytest.param(["eager=true", "lazy=False"], {"eager": True, "lazy": False}, id="bools"),
        pytest.param(["dtype=float16"], {"dtype": "float16"}, id="text"),
        pytest.param(["dtype="], {"dtype": None}, id="removes"),
        pytest.param(["a=b=c"], {"a": "b=c"}, id="equals-in-value"),
    ],
)
def test_engine_args(items: list[str], expected: dict[str, Any]) -> None:
    assert parse_engine_args(items) == expected


@pytest.mark.parametrize("item", ["dtype", "=16"])
def test_engine_args_need_key_and_value(item: str) -> None:
    with pytest.raises(InvalidSpec, match="KEY=VALUE"):
        parse_engine_args([item])
