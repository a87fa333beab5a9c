"""The gateway's HTTP/1.1 server: an asyncio Protocol per connection, parsed by httptools.

Why not aiohttp's server (used before): profiled under ``bench.gateway``, its request
objects, multidicts, payload streams, response objects, writer and access-log plumbing
cost about 26 us of the ~150 us a proxied request took, and the gateway needs none of
it: it only reads a request line, headers and a streamed body, and writes back either
one whole response or a streamed one. This module does that and no more, on llhttp
(in C, through ``httptools``) and uvloop's transports; the decisions (routing,
hygiene, framing checks) stay in ``core``.

One connection, one ``_Connection``:

- **Requests** are parsed straight from ``data_received``. One without a body goes to
  the handler once it is complete (in the same read). One with a body goes when it is
  complete or at the end of the read that brought its head, whichever comes first: a
  small body that came with its head (the usual prediction POST) is then whole when the
  handler sees it, and a larger one streams in behind it (``RequestBody.readany``),
  with back-pressure: past ``_BODY_HIGH_WATER`` buffered bytes the connection stops
  reading until the handler catches up. Pipelined requests wait their turn (one
  handler at a time per connection; reading pauses meanwhile).
- **Handlers** give back a ``Response`` (written at once), an awaitable (run in a task,
  cancelled if the client leaves), or None: the handler answers from callbacks of its
  own, ends with ``HttpRequest.finish`` (or hands the rest to a task with
  ``continue_with``), and is told of a client that leaves through ``on_cancel``.
- **Responses**: the handler returns a ``Response`` (written whole, in one write), or
  streams one (``HttpRequest.start`` / ``write`` / ``end``): the body keeps the
  replica's ``Content-Length`` when it had one, else it is sent chunked (to an HTTP/1.0
  client: until the connection closes). ``write`` waits while the client's socket
  buffer is full (the transport's ``pause_writing``).
- **Keep-alive**: the connection stays open after a response unless the client or the
  handler asked to close, the request body was not read to its end, the server is
  draining, or the request upgraded the connection.
- **Limits** (refused with the gateway's JSON error shape, then the connection closed,
  since where the next request starts is no longer known): a request line or header
  field over ``max_header_size`` bytes, or a head still incomplete past
  ``_HEAD_FACTOR`` times that, is 431; more than ``max_headers`` header fields, and
  anything llhttp refuses (ambiguous framing, bad characters, malformed chunks), is 400.
  A connection that has not sent a complete head ``header_timeout`` seconds after it
  opened or after its previous response ended is closed without an answer (slowloris;
  one timer per connection, re-armed lazily, so a request costs no timer).
- **Lingering close**: when a response closes the connection while the client may
  still be sending (a refused body, a parse error), the gateway shuts its side for
  writing and reads and drops what still comes for up to ``linger`` seconds, so the
  client reads the answer instead of a reset.
- **Upgrade**: ``HttpRequest.upgrade`` sends the ``101`` head and hands the raw
  transport over (``websocket`` tunnels it to the replica).

Trailers of a chunked request are read and dropped (never taken for headers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import cast

import httptools

__all__ = [
    "H1Server",
    "Handler",
    "Headers",
    "HttpRequest",
    "MalformedBody",
    "RequestBody",
    "Response",
    "http_date",
    "json_response",
]

log = logging.getLogger("waypost.gateway")

#: Request body bytes buffered before the connection stops reading from the client.
_BODY_HIGH_WATER = 256 * 1024
#: A head (request line and all headers) still incomplete past this many times
#: ``max_header_size`` bytes is refused: one field at a time is not the only bound.
_HEAD_FACTOR = 8
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_MESSAGE_CHARS = 200
_NO_BODY_STATUS = frozenset({204, 304})
#: Header bytes become text and back without loss: UTF-8, other bytes kept as surrogates
#: (as ``h1client`` and ``core.h1`` do, so a value reaches the other side byte for byte).
_CHARSET, _ERRORS = "utf-8", "surrogateescape"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _DateText:
    """The ``Date`` header value for now, formatted once per second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._text = formatdate(now, usegmt=True)
        return self._text


http_date = _DateText()


class MalformedBody(ConnectionError):
    """The request body broke its own framing (a bad chunk): the request is a 400."""


class Headers:
    """Request headers as received (names as sent, in order), with case-insensitive lookups."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._index: dict[str, str] | None = None

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), or ``default``."""
        index = self._index
        if index is None:
            index = self._index = {n.lower(): v for n, v in reversed(self._items)}
        return index.get(name.lower(), default)

    def getall(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for n, v in self._items if n.lower() == lowered]

    def __len__(self) -> int:
        return len(self._items)


class RequestBody:
    """The request body as it arrives: ``readany`` returns what is buffered (b"" at its end)."""

    __slots__ = ("_chunks", "_conn", "_size", "_waiter", "complete", "error", "total_bytes")

    def __init__(self, conn: _Connection | None) -> None:
        self._conn = conn
        self._chunks: list[bytes] = []
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        #: Why the body cannot be read to its end (the client left, a malformed chunk).
        self.error: BaseException | None = None
        #: The body was received to its end.
        self.complete = False
        #: Bytes received so far.
        self.total_bytes = 0

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        self.total_bytes += len(data)
        self._wake()
        if self._size > _BODY_HIGH_WATER and self._conn is not None:
            self._conn.body_full(True)

    def feed_eof(self) -> None:
        self.complete = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self.complete and self.error is None:
            self.error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def all_buffered(self) -> bool:
        """The whole body has arrived and none of it was read yet (``take_whole``)."""
        return self.complete and self.error is None and self._size == self.total_bytes

    def whole(self) -> bytes:
        """The whole body when ``all_buffered``, left in place (``take_whole`` still
        returns it): for a request sent at once that may have to be sent again."""
        chunks = self._chunks
        if len(chunks) == 1:
            return chunks[0]
        data = b"".join(chunks)
        self._chunks = [data] if data else []
        return data

    def take_whole(self) -> bytes:
        """What is buffered, at once: the whole body when ``all_buffered``."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        if self._conn is not None:
            self._conn.body_full(False)
        return data

    async def readany(self) -> bytes:
        for _ in range(1 << 62):  # each pass waits for the next piece to arrive
            if self._chunks:
                return self.take_whole()
            if self.error is not None:
                raise self.error
            if self.complete:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        raise AssertionError("unreachable")


class Response:
    """A whole response: status, headers and body, written in one piece."""

    __slots__ = ("body", "close", "headers", "reason", "status")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        *,
        reason: str | None = None,
        close: bool = False,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.reason = reason
        #: Close the connection after this response.
        self.close = close


def json_response(
    status: int, body: Mapping[str, object], headers: list[tuple[str, str]], *, close: bool = False
) -> Response:
    data = json.dumps(body).encode()
    headers.append(("Content-Type", "application/json; charset=utf-8"))
    headers.append(("Date", http_date()))
    return Response(status, headers, data, close=close)


class HttpRequest:
    """One request: its head as parsed, its streaming body, and the means to answer it."""

    __slots__ = (
        "_chunked_out",
        "_conn",
        "_ended",
        "_length_out",
        "_no_body",
        "body_exists",
        "close",
        "content",
        "content_length",
        "framed",
        "headers",
        "keep_alive",
        "method",
        "on_cancel",
        "raw_path",
        "remote",
        "started",
        "upgraded",
        "version",
    )

    def __init__(
        self,
        conn: _Connection,
        method: str,
        raw_path: str,
        version: tuple[int, int],
        headers: Headers,
        keep_alive: bool,
        remote: str | None,
    ) -> None:
        self._conn = conn
        self.method = method
        #: The request target as sent (path and query), not decoded.
        self.raw_path = raw_path
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.remote = remote
        length = headers.get("content-length")
        coding = headers.get("transfer-encoding")
        #: The declared body length; None when not declared (no body, or chunked).
        self.content_length = int(length) if length is not None and length.isdigit() else None
        #: Whether the request has a body (declared non-empty, or chunked); asked a few
        #: times per request, so worked out once.
        self.body_exists = (
            self.content_length > 0 if self.content_length is not None else coding is not None
        )
        #: Whether it says how its body is framed at all (a Content-Length or a
        #: Transfer-Encoding, valid or not): most requests do not, and need no check.
        self.framed = length is not None or coding is not None
        self.content = RequestBody(conn)
        #: The response head has been written.
        self.started = False
        #: Close the connection after the response.
        self.close = False
        #: The connection was handed over (``upgrade``).
        self.upgraded = False
        #: For a request the handler answers from callbacks: called if the client leaves
        #: (or the server shuts down) first, in place of cancelling a task.
        self.on_cancel: Callable[[], None] | None = None
        self._ended = False
        self._chunked_out = False
        self._length_out = False
        self._no_body = False

    def send_continue(self) -> None:
        """Answer ``Expect: 100-continue``: the client may send its body now."""
        if not self.started and self.version >= (1, 1):
            self._conn.write(_CONTINUE)

    def respond(self, response: Response) -> None:
        """Write a whole response."""
        if self.started:
            raise RuntimeError("the response has already started")
        self.started = self._ended = True
        self.close = self.close or response.close
        status, body = response.status, response.body
        no_body = self.method == "HEAD" or status < 200 or status in _NO_BODY_STATUS
        lines = [self._status_line(status, response.reason)]
        for name, value in response.headers:
            if len(name) == 14 and name.lower() == "content-length":
                if no_body:
                    lines.append(f"{name}: {value}\r\n")  # a HEAD answer keeps the GET length
                continue
            lines.append(f"{name}: {value}\r\n")
        if not no_body:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append(self._connection_line())
        head = "".join(lines).encode(_CHARSET, _ERRORS)
        self._conn.write(head + body if body and not no_body else head)

    async def start(
        self, status: int, headers: list[tuple[str, str]], *, reason: str | None = None
    ) -> None:
        """Write the head of a streamed response; ``write`` sends its body."""
        if self.started:
            raise RuntimeError("the response has already started")
        self.started = True
        no_body = self.method == "HEAD" or status < 200 or status in _NO_BODY_STATUS
        lines = [self._status_line(status, reason)]
        for name, value in headers:
            if len(name) == 14 and name.lower() == "content-length":
                self._length_out = True
            lines.append(f"{name}: {value}\r\n")
        self._no_body = no_body
        if not (no_body or self._length_out):
            if self.version >= (1, 1):
                lines.append("Transfer-Encoding: chunked\r\n")
                self._chunked_out = True
            else:
                self.close = True  # the body ends when the connection does
        lines.append(self._connection_line())
        self._conn.write("".join(lines).encode(_CHARSET, _ERRORS))
        await self._conn.drain()

    async def write(self, data: bytes) -> None:
        if not data or self._no_body:
            return  # a HEAD, 204 or 304 answer has no body, whatever the replica sends
        if self._chunked_out:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self._conn.write(data)
        await self._conn.drain()

    def end(self) -> None:
        """End a streamed response."""
        if self._ended:
            return
        self._ended = True
        if self._chunked_out:
            self._conn.write(_LAST_CHUNK)

    def finish(self) -> None:
        """The handler that took the request without a task is done with it."""
        self._conn.finished(self)

    def continue_with(self, work: Awaitable[Response | None]) -> None:
        """The handler that took the request without a task hands the rest to one (run,
        answered and cancelled as if the handler had returned ``work``)."""
        self.on_cancel = None
        self._conn.continue_with(self, work)

    def abort(self) -> None:
        """The response cannot be completed: close the connection, cutting it short."""
        self._ended = True
        self.close = True
        self._conn.abort()

    def upgrade(self, headers: list[tuple[str, str]]) -> tuple[asyncio.Transport, bytes]:
        """Send ``101 Switching Protocols`` with ``headers`` and hand the connection
        over: its transport, and the bytes the client already sent past the head."""
        if self.started:
            raise RuntimeError("the response has already started")
        self.started = self._ended = self.upgraded = True
        lines = [self._status_line(101, None)]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers)
        lines.append("\r\n")
        self._conn.write("".join(lines).encode(_CHARSET, _ERRORS))
        return self._conn.hand_over()

    def _status_line(self, status: int, reason: str | None) -> str:
        phrase = reason if reason is not None else (_REASONS.get(status) or _reason(status))
        return f"HTTP/1.1 {status} {phrase}\r\n"

    def _connection_line(self) -> str:
        if not self.close and self._conn.keeps_alive_after(self):
            return "\r\n" if self.version >= (1, 1) else "Connection: keep-alive\r\n\r\n"
        self.close = True
        return "Connection: close\r\n\r\n"


#: What a handler gives back for a request: a ``Response`` to write at once, an
#: awaitable the server runs as a task (its result written unless it streamed one), or
#: None: the handler answers from callbacks of its own and calls ``HttpRequest.finish``.
Handler = Callable[[HttpRequest], Response | Awaitable[Response | None] | None]


class _Refusal(Exception):
    """The request is refused before it reaches the handler."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class H1Server:
    """The protocol factory for ``loop.create_server``, and the connections it made."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_header_size: int = 8190,
        max_headers: int = 100,
        header_timeout: float = 10.0,
        linger: float = 2.0,
    ) -> None:
        self.handler = handler
        self.max_header_size = max_header_size
        self.max_headers = max_headers
        self.header_timeout = header_timeout
        self.linger = linger
        self.connections: set[_Connection] = set()
        #: Every response closes its connection (set when the worker drains).
        self.draining = False

    def __call__(self) -> _Connection:
        return _Connection(self)

    def close_idle(self) -> None:
        """Close every connection that is waiting for a request (at the start of a drain)."""
        for conn in list(self.connections):
            if not conn.busy:
                conn.close()

    def cancel_all(self) -> None:
        """Cancel the handlers still running and close every connection."""
        for conn in list(self.connections):
            conn.cancel()


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_active",
        "_closing",
        "_deadline",
        "_deferred",
        "_drained",
        "_head_bytes",
        "_headers",
        "_in_head",
        "_lingering",
        "_loop",
        "_parser",
        "_parsing",
        "_paused_body",
        "_paused_queue",
        "_queue",
        "_refused",
        "_remote",
        "_server",
        "_task",
        "_timer",
        "_transport",
        "_upgrade_rest",
        "_url",
        "_write_paused",
    )

    def __init__(self, server: H1Server) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._remote: str | None = None
        #: Refers back to this connection (its callbacks): dropped when the connection
        #: is lost, breaking the cycle only the garbage collector would otherwise undo.
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._in_head = False
        self._head_bytes = 0
        #: The request whose body is being parsed now.
        self._parsing: HttpRequest | None = None
        #: A request with a body, not handed to the handler yet: it goes when its body is
        #: in or at the end of the read that brought its head (``_dispatch_deferred``).
        self._deferred: HttpRequest | None = None
        #: The request being handled, its task, and pipelined requests waiting their turn.
        self._active: HttpRequest | None = None
        self._task: asyncio.Task[None] | None = None
        self._queue: deque[HttpRequest] = deque()
        self._refused: _Refusal | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused_body = False
        self._paused_queue = False
        self._lingering = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._upgrade_rest: bytes | None = None
        #: ``close`` was called: requests still parsed from the last read are dropped.
        self._closing = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if isinstance(peer, tuple) and peer else None
        self._server.connections.add(self)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            if self._parsing is None or self._refused is not None:
                return  # dropped: the answer is out, the connection closes soon
        elif self._refused is not None or self._upgrade_rest is not None:
            return
        # Only whole reads that fell inside one head count towards its size: a read
        # that began the head may also hold the end of the previous request's body.
        was_in_head = self._in_head
        parser = self._parser
        if parser is None:
            return  # the connection is lost
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_rest = data[int(exc.args[0]) :] if exc.args else b""
            self._set_paused(queue=True)
        except _Refusal as refusal:
            self._refuse(refusal)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refusal):
                self._refuse(cause)
            else:  # pragma: no cover - the callbacks raise nothing else
                log.exception("the request parser failed", exc_info=cause)
                self._refuse(_Refusal(400, "bad_request", "the request is malformed"))
        except httptools.HttpParserError as exc:
            first = str(exc).strip().splitlines()
            detail = first[0] if first else type(exc).__name__
            self._refuse(_Refusal(400, "bad_request", f"the request is malformed: {detail}"))
        else:
            if self._deferred is not None:
                self._dispatch_deferred()  # its body goes on in later reads
            if was_in_head and self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes > self._server.max_header_size * _HEAD_FACTOR:
                    self._refuse(_Refusal(431, "header_too_large", "the request head is too large"))

    def eof_received(self) -> bool:
        # A client that shuts its side has gone, as nginx takes it (499): the handler is
        # cancelled, rather than its answer written to a half-closed connection.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._parser = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        error = ConnectionResetError("the client closed the connection")
        for request in (self._parsing, self._active, *self._queue):
            if request is not None:
                request.content.fail(error)
        self._queue.clear()
        self._cancel_active()
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_exception(ConnectionResetError("the client closed the connection"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drained = self._drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._url = []
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        if sum(map(len, self._url)) > self._server.max_header_size:
            raise _Refusal(431, "header_too_large", "the request line is too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a trailer field of a chunked body: read, never taken for a header
        if len(name) + len(value) + 2 > self._server.max_header_size:
            raise _Refusal(431, "header_too_large", "a request header field is too large")
        if len(self._headers) >= self._server.max_headers:
            raise _Refusal(400, "bad_request", "the request has too many header fields")
        self._headers.append((name.decode(_CHARSET, _ERRORS), value.decode(_CHARSET, _ERRORS)))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._deadline = None
        parser = self._parser
        assert parser is not None  # it is the caller
        try:
            target = b"".join(self._url).decode("ascii")
        except UnicodeDecodeError:
            raise _Refusal(400, "bad_request", "the request target is not ASCII") from None
        version = parser.get_http_version()
        request = HttpRequest(
            self,
            parser.get_method().decode("ascii"),
            target,
            (1, 1) if version == "1.1" else (1, 0),
            Headers(self._headers),
            parser.should_keep_alive(),
            self._remote,
        )
        self._parsing = request
        if parser.should_upgrade():
            self._dispatch(request)  # the handler takes the connection
        elif request.body_exists:
            self._deferred = request
        # else: handled once complete (below, in this same read), so that an answer
        # written at once already knows the connection can be kept

    def _dispatch_deferred(self) -> None:
        request, self._deferred = self._deferred, None
        if request is not None:
            self._dispatch(request)

    def _dispatch(self, request: HttpRequest) -> None:
        if self._closing:
            return
        if self._active is None:
            self._start(request)
        else:
            self._queue.append(request)
            self._set_paused(queue=True)

    def on_body(self, body: bytes) -> None:
        request = self._parsing
        if request is not None and not self._lingering:
            request.content.feed(body)

    def on_message_complete(self) -> None:
        request = self._parsing
        self._parsing = None
        if self._lingering:
            self.close()
        elif request is not None and request is self._deferred:
            request.content.feed_eof()
            self._dispatch_deferred()  # its body came whole with its head
        elif request is not None:
            was_dispatched = request.content.complete or request.body_exists
            request.content.feed_eof()
            parser = self._parser
            if not was_dispatched and parser is not None and not parser.should_upgrade():
                self._dispatch(request)

    # -- requests --------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._active is not None or bool(self._queue)

    def _start(self, request: HttpRequest) -> None:
        self._active = request
        try:
            outcome = self._server.handler(request)
        except Exception:
            log.exception("the gateway failed on %s %s", request.method, request.raw_path)
            body = {"error": "internal", "message": "the gateway failed on this request"}
            outcome = json_response(500, body, [], close=True)
        if outcome is None:
            return  # the handler answers from callbacks and calls request.finish()
        if isinstance(outcome, Response):
            request.respond(outcome)
            self.finished(request)
            return
        self._task = self._loop.create_task(self._run(request, outcome))

    def continue_with(self, request: HttpRequest, work: Awaitable[Response | None]) -> None:
        if self._active is not request:
            raise RuntimeError("not the request in hand")
        self._task = self._loop.create_task(self._run(request, work))

    async def _run(self, request: HttpRequest, outcome: Awaitable[Response | None]) -> None:
        try:
            response = await outcome
            if response is not None and not request.started:
                request.respond(response)
            elif not request.started:
                raise RuntimeError("the handler returned no response")
            else:
                request.end()
        except asyncio.CancelledError:
            request.close = True
            raise
        except Exception:
            log.exception("the gateway failed on %s %s", request.method, request.raw_path)
            if request.started:
                request.abort()
            else:
                body = {"error": "internal", "message": "the gateway failed on this request"}
                request.respond(json_response(500, body, [], close=True))
        finally:
            self.finished(request)

    def finished(self, request: HttpRequest) -> None:
        """The exchange of ``request`` is over: on to the next request, or close."""
        if self._active is not request:
            return
        self._active = None
        self._task = None
        if request.upgraded:
            self._server.connections.discard(self)  # its transport was handed over
            return
        if self._transport is None:
            return
        if request.close or self._upgrade_rest is not None:
            self._linger() if not request.content.complete else self.close()
            return
        if not request.content.complete:
            self._linger()  # the handler did not read the whole body: no reuse
            return
        if self._queue:
            self._start(self._queue.popleft())
            if not self._queue:
                self._set_paused(queue=False)
            return
        if self._refused is not None:
            self._send_refusal(self._refused)
            return
        self._set_paused(queue=False)
        self._await_head()

    def keeps_alive_after(self, request: HttpRequest) -> bool:
        """Whether the connection stays open after the response to ``request`` (its body
        must be in: one answered before it was read is followed by a lingering close)."""
        return (
            request.keep_alive
            and request.content.complete
            and not self._server.draining
            and self._refused is None
            and self._upgrade_rest is None
        )

    # -- refusals, timeouts, closing -------------------------------------------------

    def _refuse(self, refusal: _Refusal) -> None:
        """A request the parser or a limit refused. With nothing in hand, it is answered
        and the connection closed; behind a request being handled (or its own body
        breaking off), that request's answer is the last, with ``Connection: close``."""
        # A request whose head came whole goes to the handler first, as one whose body
        # streams: its answer (400 for a body that broke its framing) is the last.
        self._dispatch_deferred()
        if self._refused is not None:
            return
        if self._lingering:
            self.close()  # the last answer is out; what follows is dropped anyway
            return
        self._refused = refusal
        self._in_head = False
        log.debug("refused a request from %s: %s %s", self._remote, refusal.status, refusal)
        broken = self._parsing
        if broken is not None:
            # Its body broke off: the handler of the active request answers 400 when it
            # reads it; a request still waiting its turn is answered by the refusal.
            broken.content.fail(MalformedBody(refusal.message))
            if broken is not self._active and broken in self._queue:
                self._queue.remove(broken)
        if self._active is None and not self._queue:
            self._send_refusal(refusal)
        else:
            self._set_paused(queue=True)

    def _send_refusal(self, refusal: _Refusal) -> None:
        body = {"error": refusal.code, "message": refusal.message[:_MESSAGE_CHARS]}
        response = json_response(refusal.status, body, [], close=True)
        request = HttpRequest(self, "GET", "", (1, 1), Headers([]), False, self._remote)
        request.respond(response)
        self._linger()

    def _linger(self) -> None:
        """Shut the writing side and drop what the client still sends, for a while."""
        transport = self._transport
        if transport is None:
            return
        self._lingering = True
        self._set_paused(queue=False, body=False)
        if transport.can_write_eof():
            transport.write_eof()
        self._loop.call_later(self._server.linger, self.close)

    def _await_head(self) -> None:
        """Start the clock on the next request's head."""
        self._deadline = self._loop.time() + self._server.header_timeout
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._head_timer)

    def _head_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._transport is None:
            return  # a head came in; the next wait re-arms the timer
        if self._loop.time() >= deadline:
            log.debug("closing a connection from %s: no request head in time", self._remote)
            self.close()
        else:
            self._timer = self._loop.call_at(deadline, self._head_timer)

    def body_full(self, full: bool) -> None:
        if full != self._paused_body:
            self._set_paused(body=full)

    def _set_paused(self, *, queue: bool | None = None, body: bool | None = None) -> None:
        transport = self._transport
        if transport is None:
            return
        was = self._paused_body or self._paused_queue
        if queue is not None:
            self._paused_queue = queue
        if body is not None:
            self._paused_body = body
        now = self._paused_body or self._paused_queue
        if now and not was:
            transport.pause_reading()
        elif was and not now:
            transport.resume_reading()

    # -- writing ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    async def drain(self) -> None:
        if self._transport is None:
            raise ConnectionResetError("the client closed the connection")
        if not self._write_paused:
            return
        self._drained = self._loop.create_future()
        try:
            await self._drained
        finally:
            self._drained = None

    def hand_over(self) -> tuple[asyncio.Transport, bytes]:
        transport = self._transport
        if transport is None:
            raise ConnectionResetError("the client closed the connection")
        self._set_paused(queue=False, body=False)
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rest, self._upgrade_rest = self._upgrade_rest or b"", None
        return transport, rest

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def cancel(self) -> None:
        self._cancel_active()
        self.close()

    def _cancel_active(self) -> None:
        """Stop the handler of the request in hand: its task, or its callbacks."""
        if self._task is not None:
            if not self._task.done():
                # Cancelled before its first step, a task never enters the handler's
                # coroutine, whose clean-up (accounting for the request) would not run:
                # cancel once that step, already queued, has run.
                self._loop.call_soon(self._task.cancel)
            return
        request = self._active
        if request is not None and request.on_cancel is not None:
            on_cancel, request.on_cancel = request.on_cancel, None
            on_cancel()
