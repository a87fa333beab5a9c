"""h1server.RequestBody: a body that is all in can be taken at once, once."""

from __future__ import annotations

from waypost.gateway.h1server import RequestBody


def test_a_complete_unread_body_is_all_buffered_and_taken_whole() -> None:
    body = RequestBody(None)
    body.feed(b'{"a":')
    assert not body.all_buffered  # more may come
    body.feed(b"1}")
    body.feed_eof()
    assert body.all_buffered
    assert body.take_whole() == b'{"a":1}'
    assert body.total_bytes == 7


async def test_a_body_partly_read_is_not_all_buffered() -> None:
    body = RequestBody(None)
    body.feed(b"ab")
    assert await body.readany() == b"ab"
    body.feed(b"cd")
    body.feed_eof()
    assert not body.all_buffered  # taking it whole now would lose "ab"


def test_a_failed_body_is_not_all_buffered() -> None:
    body = RequestBody(None)
    body.feed(b"ab")
    body.feed_eof()
    body.error = ConnectionResetError("gone")
    assert not body.all_buffered
