"""HTTP/1.1 towards a replica, the parts without I/O: request head, body framing, reuse.

``waypost.gateway.h1client`` is the gateway's own upstream client (aiohttp's client
cost most of the CPU of a proxied request); these are the decisions it makes, as pure
functions so they are tested with plain values:

- ``request_head``: the request line and headers as one ``bytes`` (one
  ``transport.write``), with the body's framing: ``Content-Length`` for a body known
  in advance, the client's ``Content-Length`` kept for a streamed body that declared
  one, ``Transfer-Encoding: chunked`` for one that did not; a header or target with a
  CR or LF is refused (``ValueError``), so nothing can be smuggled into the head;
- ``chunk``: one piece of a chunked request body;
- ``response_framing``: how the response body ends (none, ``Content-Length``,
  chunked, or at end of connection, RFC 9112 section 6.3);
- ``keeps_alive``: whether the connection is kept after the response (HTTP/1.1
  unless ``Connection: close``; HTTP/1.0 only with ``Connection: keep-alive``);
- ``reusable``: whether a connection goes back to the pool after an exchange;
- ``IDEMPOTENT``: methods that may be sent again on a fresh connection when a pooled
  one turns out to have been closed by the replica (RFC 9112 section 9.3.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = [
    "IDEMPOTENT",
    "Framing",
    "chunk",
    "keeps_alive",
    "request_head",
    "response_framing",
    "reusable",
]

#: How a response body ends.
Framing = Literal["none", "length", "chunked", "eof"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

#: Methods whose request carries a body by convention: sent ``Content-Length: 0`` without one.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})
_LAST_CHUNK = b"0\r\n\r\n"


def request_head(
    method: str,
    target: str,
    host: str,
    headers: Iterable[tuple[str, str]],
    *,
    body_length: int | None,
    streamed: bool = False,
) -> tuple[bytes, bool]:
    """The request head, and whether the body is sent chunked.

    ``body_length``: the size of a body known in advance (``None``: no body, or
    ``streamed``). The caller's ``Content-Length``/``Transfer-Encoding`` headers are
    dropped unless a streamed body declared its length (then that length is kept, once).
    """
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    declared: str | None = None
    for name, value in headers:
        if len(name) in (14, 17) and name.lower() in _FRAMING_HEADERS:
            if streamed and declared is None and name.lower() == "content-length":
                declared = value
            continue
        lines.append(f"{name}: {value}\r\n")
    chunked = False
    if streamed:
        if declared is not None:
            lines.append(f"Content-Length: {declared}\r\n")
        else:
            lines.append("Transfer-Encoding: chunked\r\n")
            chunked = True
    elif body_length is not None:
        lines.append(f"Content-Length: {body_length}\r\n")
    elif method in _BODY_METHODS:
        lines.append("Content-Length: 0\r\n")
    lines.append("\r\n")
    text = "".join(lines)
    # Every line ends in CRLF, and nothing else may hold a CR or LF: count them.
    if text.count("\n") != len(lines) + 1 or text.count("\r") != len(lines) + 1:
        raise ValueError("a CR or LF in the request target or a header")
    return text.encode("utf-8", "surrogateescape"), chunked


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body; ``b""`` gives the last chunk."""
    if not data:
        return _LAST_CHUNK
    return b"%x\r\n%b\r\n" % (len(data), data)


def response_framing(
    status: int, head_request: bool, content_length: bool, chunked: bool
) -> Framing:
    """How the body of a response ends (RFC 9112 section 6.3): ``none`` for a HEAD
    request, 1xx, 204 and 304; ``chunked``; ``length``; else at end of connection."""
    if head_request or status < 200 or status in (204, 304):
        return "none"
    if chunked:
        return "chunked"
    if content_length:
        return "length"
    return "eof"


def keeps_alive(http_minor: int, connection: str | None) -> bool:
    """Whether the replica keeps the connection open after this response."""
    tokens = {t.strip().lower() for t in connection.split(",")} if connection is not None else set()
    if "close" in tokens:
        return False
    return http_minor >= 1 or "keep-alive" in tokens


def reusable(
    *,
    complete: bool,
    keep_alive: bool,
    framing: Framing,
    head_request: bool,
    body_sent: bool,
) -> bool:
    """Whether the connection may carry another request: the response was read to its
    end, the replica keeps it open, its end was not the connection's end, and the
    request body went out whole. After a HEAD request the connection is not reused:
    a replica that sends a body anyway would have it read as the next response."""
    return complete and keep_alive and framing != "eof" and not head_request and body_sent
