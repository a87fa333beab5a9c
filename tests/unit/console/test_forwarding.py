"""The playground's forwarding rules: the URL stays under the endpoint, headers are clean."""

from __future__ import annotations

import pytest

from waypost.console.forwarding import (
    response_body,
    shown_headers,
    upstream_headers,
    upstream_url,
)
from waypost.errors import InvalidSpec

GW = "http://127.0.0.1:8080"
KEY = "acme/shop/hello/1/web"


@pytest.mark.parametrize(
    ("path", "url"),
    [
        pytest.param("", f"{GW}/{KEY}/", id="root"),
        pytest.param("v1/embeddings", f"{GW}/{KEY}/v1/embeddings", id="relative"),
        pytest.param("/predict", f"{GW}/{KEY}/predict", id="leading-slash"),
        pytest.param("//evil.example/x", f"{GW}/{KEY}/evil.example/x", id="no-other-host"),
        pytest.param("q?a=1&b=../x", f"{GW}/{KEY}/q?a=1&b=../x", id="query-kept"),
        pytest.param("a/.b/c..d", f"{GW}/{KEY}/a/.b/c..d", id="dots-in-names"),
    ],
)
def test_upstream_url(path: str, url: str) -> None:
    assert upstream_url(GW + "/", KEY, path) == url


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("../../other/x/1/y", id="dot-dot"),
        pytest.param("a/./b", id="dot"),
        pytest.param("a/%2e%2e/b", id="encoded-dot-dot"),
        pytest.param("a/%2E./b", id="mixed-encoding"),
        pytest.param("a b", id="space"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("a#frag", id="fragment"),
        pytest.param("a\r\nHost: x", id="crlf"),
    ],
)
def test_upstream_url_refuses_paths_that_could_leave_the_endpoint(path: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        upstream_url(GW, KEY, path)
    assert caught.value.problems[0].field == "path"


def test_the_token_goes_to_private_endpoints_only() -> None:
    given = {"Content-Type": "application/json"}
    assert ("Authorization", "Bearer tok") in upstream_headers(given, token="tok", private=True)
    assert all(
        name != "Authorization" for name, _ in upstream_headers(given, token="tok", private=False)
    )


def test_a_users_own_authorization_is_kept() -> None:
    headers = upstream_headers({"authorization": "Bearer mine"}, token="tok", private=True)
    assert headers == [("authorization", "Bearer mine")]


def test_hop_by_hop_host_cookie_and_length_are_dropped() -> None:
    given = {
        "Host": "evil",
        "Cookie": "a=b",
        "Connection": "close",
        "Transfer-Encoding": "chunked",
        "Content-Length": "5",
        "X-Custom": "yes",
    }
    assert upstream_headers(given, token=None, private=False) == [("X-Custom", "yes")]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Bad Name": "x"}, id="space-in-name"),
        pytest.param({"X-Split": "a\r\nInjected: 1"}, id="crlf-in-value"),
        pytest.param({"": "x"}, id="empty-name"),
    ],
)
def test_bad_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSpec):
        upstream_headers(headers, token=None, private=False)


def test_shown_headers_and_bodies() -> None:
    assert shown_headers([("Content-Type", "a"), ("Keep-Alive", "5")]) == [("Content-Type", "a")]
    assert response_body("héllo".encode()) == ("héllo", True)
    assert response_body(b"\x89PNG\xff") == (None, False)
