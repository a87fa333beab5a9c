"""What the templates show: rows, rates, human numbers, the actions each state allows."""

from __future__ import annotations

from typing import Any

import pytest

from waypost.console.present import (
    STATES,
    action_table,
    alias_row,
    endpoint_row,
    filter_rows,
    human_bytes,
    human_duration,
    human_rate,
    percent,
    resource_text,
    tone,
)
from waypost.control.history import Rates


def endpoint(state: str = "Running", model: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "key": "acme/shop/hello/1/web",
        "project": "acme/shop",
        "deployment": "hello",
        "version": 1,
        "name": "web",
        "state": state,
        "url": "http://gw/acme/shop/hello/1/web/",
        "kind": "wsgi",
        "target": "app:app",
        "spec": {"model": model, "visibility": "private"},
        "replicas": {"ready": 1, "desired": 2},
        **extra,
    }


def test_an_endpoint_row() -> None:
    row = endpoint_row(endpoint(), Rates(2.5, 0.04))
    assert (row.serves, row.ready, row.desired, row.visibility) == ("wsgi app:app", 1, 2, "private")
    assert (row.requests_per_s, row.error_rate, row.failing) == ("2.5", "4.0%", True)
    assert endpoint_row(endpoint(model="acme/minilm"), Rates(0, 0)).serves == "acme/minilm"


def test_filters() -> None:
    rows = [
        endpoint_row(endpoint("Running"), Rates(0, 0)),
        endpoint_row(endpoint("Stopped", deployment="other"), Rates(0, 0)),
    ]
    assert len(filter_rows(rows)) == 2
    assert [r.state for r in filter_rows(rows, state="Stopped")] == ["Stopped"]
    assert [r.deployment for r in filter_rows(rows, deployment="hello")] == ["hello"]
    assert filter_rows(rows, project="x/y") == []


def test_nine_states_each_with_a_tone() -> None:
    assert len(STATES) == 9
    assert {tone(s) for s in STATES} == {"ok", "idle", "off", "busy", "bad"}
    assert tone("RuntimeError") == "bad"


def test_actions_follow_the_lifecycle() -> None:
    table = action_table()
    assert table["Running"] == ["stop", "restart"]
    assert table["Stopped"] == ["start", "restart"]
    assert table["Sleeping"] == ["stop", "restart", "wake"]
    assert table["DeployFailed"] == ["restart"]


def test_an_alias_row() -> None:
    target = {"deployment": None, "version": 3, "endpoint": None, "branch": "main"}
    alias = {
        "prefix": "acme/shop/hello/production",
        "project": "acme/shop",
        "name": "production",
        "deployment": "hello",
        "url": "http://gw/acme/shop/hello/production/",
        "policy": {
            "backends": [
                {"name": "v3", "weight": 3, "target": target},
                {"name": "v4", "weight": 1, "target": {**target, "version": 4}},
            ],
            "mirrors": [{"name": "shadow", "target": {**target, "version": "latest"}}],
        },
        "stats": {
            "backends": [
                {"requests_1m": 90, "errors_1m": 3},
                {"requests_1m": 30, "errors_1m": 0},
            ]
        },
    }
    row = alias_row(alias)
    assert row.backends == "v3 75% → v3, v4 25% → v4"
    assert row.mirrors == "shadow → latest"
    assert (row.requests_per_s, row.error_rate) == ("2.0", "2.5%")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.05, "3.0/min"), (2.345, "2.3"), (1234.5, "1234")],
)
def test_human_rate(value: float, text: str) -> None:
    assert human_rate(value) == text


def test_human_forms() -> None:
    assert percent(0) == "0%"
    assert percent(0.123) == "12%"
    assert percent(0.0123) == "1.2%"
    assert human_duration(42) == "42s"
    assert human_duration(192) == "3m 12s"
    assert human_duration(7500) == "2h 5m"
    assert human_duration(2 * 86400 + 3600) == "2d 1h"
    assert human_bytes(None) == "no limit"
    assert human_bytes(512) == "512 B"
    assert human_bytes(2 * 2**30) == "2 GiB"
    assert human_bytes(1536 * 2**20) == "1.5 GiB"
    resources = {"cpu": 2.0, "memory": 4 * 2**30, "gpu": 1, "gpu_type": "T4", "preset": "big"}
    assert resource_text(resources) == "big: 2 CPU, 4 GiB, 1 GPU (T4)"
    assert resource_text({"cpu": None, "memory": None, "gpu": 0}) == "no limits"
