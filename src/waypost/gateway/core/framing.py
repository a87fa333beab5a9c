"""Request framing: refuse what two HTTP parsers could read as different requests.

The server's parser (llhttp, through httptools) already refuses
``Content-Length`` with ``Transfer-Encoding``, repeated ``Content-Length``, a
``Content-Length`` that is not digits, any transfer coding but a single ``chunked``,
and malformed chunk sizes. ``framing_problem`` checks the headers once more,
independently of the parser, and adds what the parser accepts: ``Transfer-Encoding``
on an HTTP/1.0 request (RFC 9112 section 6.1: a server must treat it as faulty
framing). Any problem is a 400 and the connection is closed, since where the next
request starts is no longer known.

``body_too_large`` is the ``--max-body`` check on a declared ``Content-Length``; a
chunked body is counted as it streams (``waypost.gateway.limits``).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["body_too_large", "framing_problem"]

_CONTENT_LENGTH = "content-length"
_TRANSFER_ENCODING = "transfer-encoding"


def framing_problem(version: tuple[int, int], headers: Iterable[tuple[str, str]]) -> str | None:
    """Why the request's body framing is ambiguous, or None if it is not."""
    lengths: list[str] = []
    codings: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == _CONTENT_LENGTH:
            lengths.append(value)
        elif lowered == _TRANSFER_ENCODING:
            codings.append(value)
    if lengths and codings:
        return "the request has both Content-Length and Transfer-Encoding"
    if len(lengths) > 1:
        return "the request has more than one Content-Length"
    if lengths and not (lengths[0].isascii() and lengths[0].isdigit()):
        return "the request's Content-Length is not a number"
    if codings:
        if version < (1, 1):
            return "an HTTP/1.0 request cannot use Transfer-Encoding"
        if len(codings) > 1 or codings[0].strip().lower() != "chunked":
            return "the request's Transfer-Encoding is not a single 'chunked'"
    return None


def body_too_large(content_length: int | None, limit: int) -> bool:
    """True if a declared body length is over ``limit`` bytes."""
    return content_length is not None and content_length > limit
