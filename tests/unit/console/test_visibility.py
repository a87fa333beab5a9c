"""Who sees what in the console: the API's read rule plus the gateway's invoke rule."""

from __future__ import annotations

import pytest

from waypost.console.visibility import may_read, sees_endpoint
from waypost.control.auth import Principal

KEY = "acme/shop/hello/1/web"


@pytest.mark.parametrize(
    ("who", "visibility", "sees"),
    [
        pytest.param(Principal("a", "admin"), "private", True, id="admin-private"),
        pytest.param(Principal("d", "deploy"), "private", True, id="deploy-private"),
        pytest.param(Principal("d", "deploy", "acme/shop"), "private", True, id="deploy-own"),
        pytest.param(Principal("d", "deploy", "other/lab"), "public", False, id="deploy-other"),
        pytest.param(Principal("r", "read"), "public", True, id="read-public"),
        pytest.param(Principal("r", "read"), "private", False, id="read-private"),
        pytest.param(Principal("r", "read", "acme/shop"), "private", False, id="read-own-private"),
    ],
)
def test_sees_endpoint(who: Principal, visibility: str, sees: bool) -> None:
    assert sees_endpoint(who, KEY, visibility) is sees


def test_may_read_asks_the_api_rule() -> None:
    assert may_read(Principal("r", "read"), "/api/v1/endpoints")
    assert not may_read(Principal("i", "invoke"), "/api/v1/endpoints")
    assert not may_read(Principal("g", "gateway"), "/api/v1/endpoints")
    limited = Principal("r", "read", "acme/shop")
    assert may_read(limited, "/api/v1/projects/acme/shop/aliases")
    assert not may_read(limited, "/api/v1/projects/other/lab/aliases")
