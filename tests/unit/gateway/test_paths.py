"""Path normalization: malformed paths are refused, tricks never reach another endpoint."""

from __future__ import annotations

import pytest

from waypost.errors import BadRequest
from waypost.gateway.core.paths import normalize, split_target
from waypost.gateway.core.table import RouteTable
from waypost.model.routes import ReplicaAddress, Route, RouteBackend, RouteSnapshot, RouteTarget

WEB = "acme/shop/hello/1/web"
ADMIN = "acme/shop/hello/1/admin"
ALIAS_FILE = "acme/shop/churn-model/1/predict"


def _table() -> RouteTable:
    def single(key: str, url: str | None = None) -> Route:
        org, project, deployment, selector, *endpoint = (url or key).split("/")
        return Route(
            org,
            project,
            deployment,
            selector,
            endpoint[0] if endpoint else None,
            (RouteBackend("b", 1, key),),
        )

    targets = tuple(
        RouteTarget(k, "Running", "public", False, (ReplicaAddress("r", "127.0.0.1:1"),))
        for k in (WEB, ADMIN, ALIAS_FILE)
    )
    routes = (single(WEB), single(ADMIN), single(ALIAS_FILE, "acme/shop/churn/latest"))
    return RouteTable.from_snapshot(RouteSnapshot(1, targets, routes))


TABLE = _table()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/acme/shop/hello/1/web/../admin/x", id="dot-dot-in-rest"),
        pytest.param("/acme/shop/hello/1/../1/admin", id="dot-dot-in-prefix"),
        pytest.param("/acme/shop/hello/1/web/./x", id="dot-segment"),
        pytest.param("/acme/shop/hello/1/web/..", id="trailing-dot-dot"),
        pytest.param("/acme/shop/hello/1/web/%2e%2e/admin", id="encoded-dot-dot"),
        pytest.param("/acme/shop/hello/1/web/%2E%2E/admin", id="encoded-dot-dot-upper"),
        pytest.param("/acme/shop/hello/1/web/.%2e/admin", id="half-encoded-dot-dot"),
        pytest.param("/acme/shop/hello/1/web/%2e/x", id="encoded-dot"),
        pytest.param("/acme/shop/hello/1%2fweb/x", id="encoded-slash-in-prefix"),
        pytest.param("/acme/shop/hello%2F1/web/x", id="encoded-slash-upper-in-prefix"),
        pytest.param("/acme/shop/hel%2elo/1/web", id="encoded-dot-in-prefix"),
        pytest.param("/acme//shop/hello/1/web", id="double-slash-in-prefix"),
        pytest.param("//acme/shop/hello/1/web", id="leading-double-slash"),
        pytest.param("/acme/shop/hello/1//web", id="double-slash-before-endpoint"),
        pytest.param("/acme/shop/hello/1/web\\..\\admin", id="backslash"),
        pytest.param("/acme/shop/hello/1/web/%5c..%5cadmin", id="encoded-backslash"),
        pytest.param("/acme/shop;x=1/hello/1/web", id="path-param-in-project"),
        pytest.param("/acme/shop/hello/1;v=2/web", id="path-param-in-selector"),
        pytest.param("/acme/shop/hello/1/web;jsessionid=1/x", id="path-param-on-endpoint"),
        pytest.param("/acme/shop/hello/1/web%2f/x", id="encoded-slash-on-endpoint"),
        pytest.param("/acme/shop/hello/1/web/\x00", id="nul"),
        pytest.param("/acme/shop/hello/1/web/%00", id="encoded-nul"),
        pytest.param("/acme/shop/hello/1/web/x#frag", id="fragment"),
        pytest.param("/acme/shop/hello/1/web#/../admin", id="fragment-on-endpoint"),
        pytest.param("acme/shop/hello/1/web", id="relative"),
        pytest.param("http://evil.example/acme/shop/hello/1/web", id="absolute-form"),
        pytest.param("*", id="asterisk-form"),
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(BadRequest) as caught:
        TABLE.match(path)
    assert caught.value.status == 400
    assert caught.value.to_json()["error"] == "bad_request"


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        pytest.param("/acme/shop/hello/1/web/a..b/x", WEB, id="dots-inside-a-segment"),
        pytest.param("/acme/shop/hello/1/web/.well-known/x", WEB, id="dot-file"),
        pytest.param("/acme/shop/hello/1/web/%2fadmin", WEB, id="encoded-slash-in-rest"),
        pytest.param("/acme/shop/hello/1/web/a;b", WEB, id="semicolon-in-rest"),
        pytest.param("/acme/shop/hello/1/web/file%2Etxt", WEB, id="encoded-dot-in-rest-name"),
        pytest.param(
            "/acme/shop/churn/latest/a;b", "acme/shop/churn/latest", id="endpoint-less-rest-param"
        ),
        pytest.param(
            "/acme/shop/churn/latest/%2e%2eadmin",
            "acme/shop/churn/latest",
            id="endpoint-less-rest-encoded-dots-in-name",
        ),
    ],
)
def test_odd_but_harmless_paths_stay_on_their_endpoint(path: str, prefix: str) -> None:
    found = TABLE.match(path)
    assert found is not None
    assert found.prefix == prefix


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/acme/shop/hello/1/admin%2Fx", id="encoded-slash-glued-to-endpoint"),
        pytest.param("/acme/shop/hello/1/WEB/x", id="endpoint-case"),
        pytest.param("/acme/shop/hello/1/we%62/x", id="encoded-letter-in-endpoint"),
    ],
)
def test_tricks_never_reach_another_endpoint(path: str) -> None:
    try:
        found = TABLE.match(path)
    except BadRequest:
        return
    assert found is None


def test_split_target_keeps_query_raw() -> None:
    assert split_target("/a/b?x=%20&y") == ("/a/b", "x=%20&y")
    assert split_target("/a/b") == ("/a/b", "")
    assert split_target("/a/b?") == ("/a/b", "")


def test_rest_is_cut_from_the_raw_path() -> None:
    path = normalize("/o/p/d/1/e/x%20y//z")
    assert path.rest(5) == "/x%20y//z"
    assert path.rest(4) == "/e/x%20y//z"
    assert path.endpoint_key() == ("o", "p", "d", "1", "e")
    assert normalize("/o/p/d/1").endpoint_key() is None
    assert normalize("/o/p/d/1/").endpoint_key() is None
