"""framing_problem(): body framings two parsers could read differently are refused."""

from __future__ import annotations

import pytest

from waypost.gateway.core.framing import body_too_large, framing_problem

H11 = (1, 1)
H10 = (1, 0)


@pytest.mark.parametrize(
    ("version", "headers"),
    [
        pytest.param(H11, [], id="no-body"),
        pytest.param(H11, [("Content-Length", "0")], id="empty-body"),
        pytest.param(H11, [("Content-Length", "12")], id="content-length"),
        pytest.param(H11, [("Transfer-Encoding", "chunked")], id="chunked"),
        pytest.param(H11, [("transfer-encoding", " Chunked ")], id="chunked-any-case"),
        pytest.param(H10, [("Content-Length", "3")], id="http10-content-length"),
        pytest.param(H11, [("X-Content-Length", "1"), ("Content-Length", "1")], id="lookalike"),
    ],
)
def test_unambiguous(version: tuple[int, int], headers: list[tuple[str, str]]) -> None:
    assert framing_problem(version, headers) is None


@pytest.mark.parametrize(
    ("version", "headers", "why"),
    [
        pytest.param(
            H11,
            [("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
            "both",
            id="cl-te",
        ),
        pytest.param(
            H11,
            [("transfer-encoding", "chunked"), ("CONTENT-LENGTH", "4")],
            "both",
            id="te-cl-any-case",
        ),
        pytest.param(
            H11, [("Content-Length", "4"), ("Content-Length", "5")], "more than one", id="cl-cl"
        ),
        pytest.param(
            H11,
            [("Content-Length", "4"), ("Content-Length", "4")],
            "more than one",
            id="cl-cl-same",
        ),
        pytest.param(H11, [("Content-Length", "4, 4")], "not a number", id="cl-list"),
        pytest.param(H11, [("Content-Length", "+4")], "not a number", id="cl-plus"),
        pytest.param(H11, [("Content-Length", "-1")], "not a number", id="cl-negative"),
        pytest.param(H11, [("Content-Length", "0x10")], "not a number", id="cl-hex"),
        pytest.param(H11, [("Content-Length", "")], "not a number", id="cl-empty"),
        pytest.param(H11, [("Content-Length", "\u0663")], "not a number", id="cl-arabic-digit"),
        pytest.param(H10, [("Transfer-Encoding", "chunked")], "HTTP/1.0", id="http10-te"),
        pytest.param(
            H11, [("Transfer-Encoding", "gzip, chunked")], "single 'chunked'", id="te-gzip"
        ),
        pytest.param(H11, [("Transfer-Encoding", "identity")], "single 'chunked'", id="te-id"),
        pytest.param(H11, [("Transfer-Encoding", "xchunked")], "single 'chunked'", id="te-x"),
        pytest.param(
            H11,
            [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
            "single 'chunked'",
            id="te-te",
        ),
    ],
)
def test_ambiguous(version: tuple[int, int], headers: list[tuple[str, str]], why: str) -> None:
    problem = framing_problem(version, headers)
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    ("length", "limit", "over"),
    [
        pytest.param(None, 10, False, id="undeclared"),
        pytest.param(10, 10, False, id="at-limit"),
        pytest.param(11, 10, True, id="over"),
        pytest.param(0, 0, False, id="empty-with-zero-limit"),
        pytest.param(1, 0, True, id="one-with-zero-limit"),
    ],
)
def test_body_too_large(length: int | None, limit: int, over: bool) -> None:
    assert body_too_large(length, limit) is over
