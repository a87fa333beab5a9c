"""Object names fit Kubernetes' rules, whatever waypost's names are."""

from __future__ import annotations

import re

import pytest

from waypost.model.prefix import UnitKey
from waypost.runtimes.kubernetes.naming import (
    label_value,
    object_name,
    route_name,
    secret_name,
    unit_labels,
)

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

KEYS = [
    pytest.param(UnitKey("acme", "shop", "churn", 1, "web"), id="short"),
    pytest.param(
        UnitKey("A" * 64, "B" * 64, "Dep.Name_X" + "y" * 54, 12345, "e" * 64), id="longest"
    ),
    pytest.param(UnitKey("o", "p", "my_model.v2", 3, "predict-2"), id="dots-underscores"),
]


@pytest.mark.parametrize("key", KEYS)
def test_names_are_dns_labels(key: UnitKey) -> None:
    for name in (object_name(key), secret_name(key)):
        assert len(name) <= 63
        assert DNS_1035.match(name), name


@pytest.mark.parametrize("key", KEYS)
def test_label_values_are_valid(key: UnitKey) -> None:
    for value in unit_labels(key).values():
        assert len(value) <= 63, value
        assert LABEL.match(value), value


def test_slugs_that_collide_still_give_different_names() -> None:
    a = UnitKey("o", "p", "my.model", 1, "web")
    b = UnitKey("o", "p", "my_model", 1, "web")
    assert object_name(a) != object_name(b)
    assert object_name(a).rsplit("-", 1)[0] == object_name(b).rsplit("-", 1)[0]


def test_route_names() -> None:
    name = route_name("acme/shop/churn/production/web")
    assert name.startswith("wp-churn-production-web-")
    assert len(name) <= 63
    assert route_name("acme/shop/churn/production") != route_name("acme/shop/churn/production/web")


def test_label_value_trims_to_alphanumeric_ends() -> None:
    assert label_value("-abc.") == "abc"
    assert label_value("x" * 70) == "x" * 63
