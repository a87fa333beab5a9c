"""Header hygiene: hop-by-hop dropped both ways, gateway-owned headers never spoofable."""

from __future__ import annotations

import pytest

from waypost.gateway.core.headers import (
    Forwarding,
    canonical,
    connection_listed,
    request_headers,
    response_headers,
)

FORWARDING = Forwarding(
    prefix="acme/shop/hello/latest/web",
    client_ip="10.1.2.3",
    client_host="gw.example:8080",
    request_id="0123456789abcdef0123456789abcdef",
)

GATEWAY_VALUES = {
    "x-vh-prefix": "acme/shop/hello/latest/web",
    "x-forwarded-for": "10.1.2.3",
    "x-forwarded-proto": "http",
    "x-forwarded-host": "gw.example:8080",
    "x-request-id": "0123456789abcdef0123456789abcdef",
}


def upstream(*headers: tuple[str, str]) -> list[tuple[str, str]]:
    return request_headers(list(headers), FORWARDING)


def names(headers: list[tuple[str, str]]) -> list[str]:
    return [canonical(n) for n, _ in headers]


@pytest.mark.parametrize(
    "spoofed",
    [
        pytest.param(("X-VH-Prefix", "evil/x/y/1/admin"), id="x-vh-prefix"),
        pytest.param(("x-vh-prefix", "evil/x/y/1/admin"), id="x-vh-prefix-lower"),
        pytest.param(("X-VH-PREFIX", "evil/x/y/1/admin"), id="x-vh-prefix-upper"),
        pytest.param(("X_VH_Prefix", "evil/x/y/1/admin"), id="x-vh-prefix-underscores"),
        pytest.param(("x-vh_prefix", "evil/x/y/1/admin"), id="x-vh-prefix-mixed"),
        pytest.param(("X-Forwarded-For", "1.1.1.1"), id="x-forwarded-for"),
        pytest.param(("X_Forwarded_For", "1.1.1.1"), id="x-forwarded-for-underscores"),
        pytest.param(("X-Forwarded-Proto", "https"), id="x-forwarded-proto"),
        pytest.param(("X-Forwarded-Host", "admin.internal"), id="x-forwarded-host"),
        pytest.param(("Forwarded", "for=1.1.1.1;proto=https"), id="forwarded"),
        pytest.param(("X-Request-ID", "chosen-by-client"), id="x-request-id"),
        pytest.param(("X-Real-IP", "1.1.1.1"), id="x-real-ip"),
        pytest.param(("x_real_ip", "1.1.1.1"), id="x-real-ip-underscores"),
    ],
)
def test_client_cannot_set_gateway_headers(spoofed: tuple[str, str]) -> None:
    sent = upstream(spoofed, ("Accept", "*/*"))
    assert spoofed not in sent
    for name, value in sent:
        key = canonical(name)
        if key in GATEWAY_VALUES:
            assert value == GATEWAY_VALUES[key]
        assert key not in ("forwarded", "x-real-ip")
    assert sorted(k for k in names(sent) if k in GATEWAY_VALUES) == sorted(GATEWAY_VALUES)


@pytest.mark.parametrize(
    "hop",
    [
        pytest.param("Connection", id="connection"),
        pytest.param("Keep-Alive", id="keep-alive"),
        pytest.param("Proxy-Authenticate", id="proxy-authenticate"),
        pytest.param("Proxy-Authorization", id="proxy-authorization"),
        pytest.param("Proxy-Connection", id="proxy-connection"),
        pytest.param("TE", id="te"),
        pytest.param("Trailer", id="trailer"),
        pytest.param("Transfer-Encoding", id="transfer-encoding"),
        pytest.param("Upgrade", id="upgrade"),
        pytest.param("upgrade", id="upgrade-lower"),
        pytest.param("Transfer_Encoding", id="transfer-encoding-underscores"),
    ],
)
def test_hop_by_hop_headers_are_dropped_both_ways(hop: str) -> None:
    assert canonical(hop) not in names(upstream((hop, "x"), ("Accept", "*/*")))
    assert canonical(hop) not in names(response_headers([(hop, "x")], "id"))


def test_headers_named_in_connection_are_dropped_both_ways() -> None:
    sent = upstream(
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("Connection", "X-Other"),
        ("X-Secret-Hop", "1"),
        ("X-Other", "2"),
        ("X-Kept", "3"),
    )
    assert names(sent)[:1] == ["x-kept"]
    assert "x-secret-hop" not in names(sent)
    assert "x-other" not in names(sent)
    back = response_headers([("Connection", "X-Internal"), ("X-Internal", "1"), ("ETag", "e")], "i")
    assert back == [("ETag", "e"), ("X-Request-ID", "i")]


def test_connection_listed_reads_every_connection_header() -> None:
    listed = connection_listed([("connection", " A , b_c,,"), ("CONNECTION", "d")])
    assert listed == {"a", "b-c", "d"}


def test_host_and_expect_are_not_forwarded_but_host_travels_as_forwarded_host() -> None:
    sent = upstream(("Host", "evil.internal:22"), ("Expect", "100-continue"))
    assert "host" not in names(sent)
    assert "expect" not in names(sent)
    assert ("X-Forwarded-Host", "gw.example:8080") in sent


def test_end_to_end_headers_pass_in_order_with_repeats() -> None:
    sent = upstream(
        ("Accept", "application/json"),
        ("Cookie", "a=1"),
        ("X-Custom", "1"),
        ("X-Custom", "2"),
        ("Content-Length", "5"),
        ("Authorization", "Bearer t"),
    )
    assert sent[:6] == [
        ("Accept", "application/json"),
        ("Cookie", "a=1"),
        ("X-Custom", "1"),
        ("X-Custom", "2"),
        ("Content-Length", "5"),
        ("Authorization", "Bearer t"),
    ]


def test_gateway_headers_without_client_ip_or_host() -> None:
    sent = request_headers([], Forwarding("a/b/c/1/e", None, None, "rid"))
    assert sent == [
        ("X-VH-Prefix", "a/b/c/1/e"),
        ("X-Forwarded-Proto", "http"),
        ("X-Request-ID", "rid"),
    ]


def test_response_keeps_set_cookies_and_replaces_request_id() -> None:
    back = response_headers(
        [
            ("Set-Cookie", "a=1; Path=/"),
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "b=2; HttpOnly"),
            ("X-Request-ID", "from-the-app"),
            ("Transfer-Encoding", "chunked"),
        ],
        "rid",
    )
    assert back == [
        ("Set-Cookie", "a=1; Path=/"),
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "b=2; HttpOnly"),
        ("X-Request-ID", "rid"),
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(("Authorization", "Bearer secret"), id="authorization"),
        pytest.param(("authorization", "Bearer secret"), id="lower"),
        pytest.param(("AUTHORIZATION", "Bearer secret"), id="upper"),
    ],
)
def test_authorization_is_dropped_towards_a_private_endpoint(
    authorization: tuple[str, str],
) -> None:
    private = request_headers([authorization, ("Accept", "*/*")], FORWARDING, private=True)
    assert "authorization" not in names(private)
    assert ("Accept", "*/*") in private
    public = request_headers([authorization], FORWARDING)
    assert authorization in public  # a public endpoint's app may do its own authentication


def test_a_forwarded_response_without_a_date_gets_one() -> None:
    back = response_headers(
        [("Content-Type", "text/plain")], "rid", "Wed, 25 Nov 2026 10:00:00 GMT"
    )
    assert back == [
        ("Content-Type", "text/plain"),
        ("Date", "Wed, 25 Nov 2026 10:00:00 GMT"),
        ("X-Request-ID", "rid"),
    ]


@pytest.mark.parametrize("name", ["Date", "date", "DATE"])
def test_the_replicas_date_is_kept_as_sent(name: str) -> None:
    back = response_headers([(name, "Tue, 24 Nov 2026 09:00:00 GMT")], "rid", "now")
    assert back == [(name, "Tue, 24 Nov 2026 09:00:00 GMT"), ("X-Request-ID", "rid")]


@pytest.mark.parametrize("value", ["keep-alive", "Keep-Alive", "close", "keep-alive, X-Hop"])
def test_the_usual_connection_values_drop_what_they_list(value: str) -> None:
    back = response_headers(
        [("Connection", value), ("Keep-Alive", "timeout=5"), ("X-Hop", "1"), ("ETag", "e")], "i"
    )
    expected_hop = [] if "x-hop" in value.lower() else [("X-Hop", "1")]
    assert back == [*expected_hop, ("ETag", "e"), ("X-Request-ID", "i")]
