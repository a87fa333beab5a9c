"""ReplayBody: kept up to the limit, rewound, continued from the source; source failures."""

from __future__ import annotations

import pytest

from waypost.gateway.replay import ReplayBody


class Chunks:
    def __init__(self, *chunks: bytes, fail_after: int | None = None) -> None:
        self._chunks = list(chunks)
        self._fail_after = fail_after
        self.reads = 0

    async def readany(self) -> bytes:
        if self._fail_after is not None and self.reads >= self._fail_after:
            raise ConnectionResetError("client gone")
        self.reads += 1
        return self._chunks.pop(0) if self._chunks else b""


async def read_all(body: ReplayBody) -> bytes:
    return b"".join([chunk async for chunk in body])


async def test_a_small_body_is_replayed_whole() -> None:
    body = ReplayBody(Chunks(b"ab", b"cd"), limit=10)
    assert await read_all(body) == b"abcd"
    body.rewind()
    assert await read_all(body) == b"abcd"
    assert body.replayable


async def test_a_rewind_mid_body_continues_from_the_source() -> None:
    source = Chunks(b"ab", b"cd", b"ef")
    body = ReplayBody(source, limit=10)
    assert await body.readany() == b"ab"
    body.rewind()
    assert await read_all(body) == b"abcdef"
    assert source.reads == 4  # three chunks and the end, each read once


async def test_a_body_over_the_limit_is_not_kept() -> None:
    body = ReplayBody(Chunks(b"abcd", b"efgh"), limit=5)
    assert await read_all(body) == b"abcdefgh"
    assert not body.replayable
    with pytest.raises(RuntimeError):
        body.rewind()


async def test_nothing_read_is_replayable_whatever_its_size() -> None:
    body = ReplayBody(Chunks(b"x" * 100), limit=5)
    assert body.replayable
    assert not body.started


async def test_a_failing_source_is_flagged() -> None:
    body = ReplayBody(Chunks(b"ab", fail_after=1), limit=10)
    assert await body.readany() == b"ab"
    with pytest.raises(ConnectionResetError):
        await body.readany()
    assert body.source_failed


async def test_a_body_all_in_memory_is_whole_and_replays_as_often_as_needed() -> None:
    body = ReplayBody.of(b"{}")
    assert body.whole == b"{}"
    assert body.replayable
    assert not body.source_failed
    for _ in range(3):
        assert await read_all(body) == b"{}"
        body.rewind()


def test_a_streamed_body_is_not_whole() -> None:
    assert ReplayBody(Chunks(b"ab"), limit=10).whole is None
