"""The request body as it streams to the replica, cut off past ``--max-body`` bytes.

A declared ``Content-Length`` over the limit is refused before the body is read
(``core.framing.body_too_large``); a chunked body declares nothing, so it is counted
here chunk by chunk. The chunk that crosses the limit is not passed on:
``BodyTooLarge`` is raised instead, which aborts the upstream request, and
``exceeded`` tells the handler to answer 413 and close the connection.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["BodyTooLarge", "ChunkSource", "ChunkStream", "LimitedBody"]


class ChunkSource(Protocol):
    """What a request body is read from (``h1server.RequestBody`` fits)."""

    async def readany(self) -> bytes: ...


class ChunkStream:
    """A body read piece by piece with ``readany`` (b"" at its end), which also makes
    it an async iterator of its pieces (what the upstream client streams from)."""

    __slots__ = ()

    async def readany(self) -> bytes:
        raise NotImplementedError

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.readany()
        if not chunk:
            raise StopAsyncIteration
        return chunk


class BodyTooLarge(Exception):
    """The streamed body went past the limit."""


class LimitedBody(ChunkStream):
    __slots__ = ("_content", "_limit", "exceeded", "size")

    def __init__(self, content: ChunkSource, limit: int) -> None:
        self._content = content
        self._limit = limit
        self.size = 0
        self.exceeded = False

    async def readany(self) -> bytes:
        chunk = await self._content.readany()
        self.size += len(chunk)
        if self.size > self._limit:
            self.exceeded = True
            raise BodyTooLarge(f"the request body is over the limit of {self._limit} bytes")
        return chunk
