"""LimitedBody: a streamed body is passed on up to the limit and cut off past it."""

from __future__ import annotations

import asyncio

import pytest

from waypost.gateway.bodylimit import BodyTooLarge, LimitedBody


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self._chunks = list(chunks)

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


async def drain(body: LimitedBody) -> list[bytes]:
    return [chunk async for chunk in body]


def test_a_body_at_the_limit_passes_whole() -> None:
    body = LimitedBody(Chunks(b"abc", b"defg"), 7)
    assert asyncio.run(drain(body)) == [b"abc", b"defg"]
    assert (body.size, body.exceeded) == (7, False)


def test_the_chunk_crossing_the_limit_is_not_passed_on() -> None:
    body = LimitedBody(Chunks(b"abc", b"defg", b"h"), 6)
    seen: list[bytes] = []

    async def read() -> None:
        async for chunk in body:
            seen.append(chunk)

    with pytest.raises(BodyTooLarge, match="limit of 6 bytes"):
        asyncio.run(read())
    assert seen == [b"abc"]
    assert body.exceeded is True


def test_an_empty_body_with_a_zero_limit() -> None:
    body = LimitedBody(Chunks(), 0)
    assert asyncio.run(drain(body)) == []
    assert body.exceeded is False
