"""core.h1: the upstream client's request head, body framing and reuse decisions."""

from __future__ import annotations

import pytest

from waypost.gateway.core.h1 import (
    IDEMPOTENT,
    chunk,
    keeps_alive,
    request_head,
    response_framing,
    reusable,
)


def test_head_without_body() -> None:
    head, chunked = request_head(
        "GET", "/a/b?x=1", "10.0.0.1:8000", [("Accept", "*/*")], body_length=None
    )
    assert head == b"GET /a/b?x=1 HTTP/1.1\r\nHost: 10.0.0.1:8000\r\nAccept: */*\r\n\r\n"
    assert chunked is False


def test_post_without_body_says_zero() -> None:
    head, _ = request_head("POST", "/", "h:1", [], body_length=None)
    assert head.endswith(b"Content-Length: 0\r\n\r\n")


def test_known_body_replaces_client_framing() -> None:
    headers = [("content-length", "99"), ("Transfer-Encoding", "chunked"), ("X-A", "1")]
    head, chunked = request_head("POST", "/", "h:1", headers, body_length=5)
    assert chunked is False
    assert head.count(b"Content-Length") == 1
    assert b"Content-Length: 5\r\n" in head
    assert b"99" not in head
    assert b"chunked" not in head
    assert b"X-A: 1\r\n" in head


def test_streamed_body_keeps_declared_length_once() -> None:
    headers = [("Content-Length", "12"), ("Content-Length", "12")]
    head, chunked = request_head("PUT", "/", "h:1", headers, body_length=None, streamed=True)
    assert chunked is False
    assert head.count(b"Content-Length: 12\r\n") == 1


def test_streamed_body_without_length_is_chunked() -> None:
    head, chunked = request_head("POST", "/", "h:1", [], body_length=None, streamed=True)
    assert chunked is True
    assert b"Transfer-Encoding: chunked\r\n" in head


def test_headers_keep_order_and_repeats() -> None:
    headers = [("B", "1"), ("A", "2"), ("B", "3")]
    head, _ = request_head("GET", "/", "h:1", headers, body_length=None)
    assert head.index(b"B: 1") < head.index(b"A: 2") < head.index(b"B: 3")


def test_non_ascii_bytes_pass_through() -> None:
    raw = "caf\udcc3\udca9"  # undecodable bytes as aiohttp's parser hands them over
    head, _ = request_head("GET", "/", "h:1", [("X-Name", raw)], body_length=None)
    assert b"X-Name: caf\xc3\xa9\r\n" in head


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        pytest.param("/a\r\nX: 1", [], id="target-crlf"),
        pytest.param("/", [("X-A", "1\r\nInjected: yes")], id="value-crlf"),
        pytest.param("/", [("X-A", "1\nInjected: yes")], id="value-lf"),
        pytest.param("/", [("X-A", "1\rInjected: yes")], id="value-cr"),
        pytest.param("/", [("X\r\nB", "1")], id="name-crlf"),
    ],
)
def test_cr_or_lf_is_refused(target: str, headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        request_head("GET", target, "h:1", headers, body_length=None)


def test_chunk() -> None:
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert chunk(b"") == b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("status", "head", "length", "chunked", "expected"),
    [
        (200, False, True, False, "length"),
        (200, False, False, True, "chunked"),
        (200, False, True, True, "chunked"),  # chunked wins (RFC 9112 6.3)
        (200, False, False, False, "eof"),
        (200, True, True, False, "none"),
        (204, False, False, False, "none"),
        (304, False, True, False, "none"),
        (103, False, False, False, "none"),
        (500, False, True, False, "length"),
    ],
)
def test_response_framing(
    status: int, head: bool, length: bool, chunked: bool, expected: str
) -> None:
    assert response_framing(status, head, length, chunked) == expected


@pytest.mark.parametrize(
    ("minor", "connection", "expected"),
    [
        (1, None, True),
        (1, "keep-alive", True),
        (1, "close", False),
        (1, "Upgrade, CLOSE", False),
        (0, None, False),
        (0, "Keep-Alive", True),
        (0, "keep-alive, close", False),
    ],
)
def test_keeps_alive(minor: int, connection: str | None, expected: bool) -> None:
    assert keeps_alive(minor, connection) is expected


def test_reusable_only_after_a_whole_exchange() -> None:
    ok = {
        "complete": True,
        "keep_alive": True,
        "framing": "length",
        "head_request": False,
        "body_sent": True,
    }
    assert reusable(**ok)  # type: ignore[arg-type]
    for key, bad in (
        ("complete", False),
        ("keep_alive", False),
        ("framing", "eof"),
        ("head_request", True),
        ("body_sent", False),
    ):
        assert not reusable(**{**ok, key: bad}), key  # type: ignore[arg-type]
    assert reusable(**{**ok, "framing": "chunked"})  # type: ignore[arg-type]
    assert reusable(**{**ok, "framing": "none"})  # type: ignore[arg-type]


def test_idempotent_methods() -> None:
    assert {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"} <= IDEMPOTENT
    assert "POST" not in IDEMPOTENT
    assert "PATCH" not in IDEMPOTENT
