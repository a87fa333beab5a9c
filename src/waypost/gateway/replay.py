"""A request body that can be sent again: the first ``limit`` bytes are kept as they pass.

``ReplayBody`` wraps the body stream the upstream client reads (after the size limit
and the mirror tee, so neither sees a byte twice). While no more than ``limit`` bytes
have gone through, every chunk is kept; ``rewind`` then makes the next read start
again from the first kept chunk, and continue from the client's stream where it left
off. If reading the client's stream fails, ``source_failed`` says so: that attempt
must not be retried. Past the limit the kept chunks are dropped (``replayable``
turns False), so a big upload costs no memory: it can only be retried if it failed
before its first byte was read (a connection that could not be opened).

A body that had all arrived before the request was sent (the usual small JSON) is
``ReplayBody.of(data)``: its ``whole`` bytes go out with the request head in one write,
with no task streaming them, and as often as the request is retried.
"""

from __future__ import annotations

from waypost.gateway.bodylimit import ChunkSource, ChunkStream

__all__ = ["ReplayBody"]


class _Ended(ChunkStream):
    async def readany(self) -> bytes:
        return b""


class ReplayBody(ChunkStream):
    __slots__ = (
        "_kept",
        "_limit",
        "_pos",
        "_size",
        "_source",
        "replayable",
        "source_failed",
        "whole",
    )

    def __init__(self, source: ChunkSource, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._kept: list[bytes] | None = []
        self._size = 0
        self._pos = 0  # next kept chunk to hand out again after a rewind
        self.replayable = True
        #: Reading the client's body raised (over the size limit, client gone): the
        #: attempt failed because of the body, not the replica.
        self.source_failed = False
        #: The whole body, when it was all in memory from the start (``of``).
        self.whole: bytes | None = None

    @classmethod
    def of(cls, data: bytes) -> ReplayBody:
        """A body that is all in memory already."""
        body = cls(_Ended(), len(data))
        body._kept = [data]
        body._size = len(data)
        body.whole = data
        return body

    @property
    def started(self) -> bool:
        """Some of the body has been read from the client."""
        return self._size > 0

    def rewind(self) -> None:
        """Start again from the first byte (only while ``replayable``)."""
        if not self.replayable:
            raise RuntimeError("the body was not kept: it cannot be sent again")
        self._pos = 0

    async def readany(self) -> bytes:
        kept = self._kept
        if kept is not None and self._pos < len(kept):
            chunk = kept[self._pos]
            self._pos += 1
            return chunk
        try:
            chunk = await self._source.readany()
        except BaseException:
            self.source_failed = True
            raise
        if chunk:
            self._size += len(chunk)
            if kept is not None:
                if self._size <= self._limit:
                    kept.append(chunk)
                    self._pos += 1
                else:
                    self._kept = None
                    self.replayable = False
        return chunk
