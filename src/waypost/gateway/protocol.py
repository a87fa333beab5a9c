"""aiohttp's low-level server, answering requests it cannot parse in the gateway's shape.

aiohttp answers a request its parser refuses with a plain-text 400 and logs a
traceback. The gateway's server answers in its JSON shape (``{"error", "message"}``),
always closing the connection (where the next request starts is unknown):

- a request line or header field over ``max_header_size`` bytes (aiohttp's
  ``LineTooLong``): 431 ``header_too_large``;
- anything else the parser refuses (ambiguous framing: ``Content-Length`` with
  ``Transfer-Encoding``, repeated ``Content-Length``, a transfer coding other than
  ``chunked``, a malformed chunk size, too many headers, bad characters): 400
  ``bad_request``, with the parser's first line as the message.

These requests reach no handler, so they have no request-log line; they are logged
at debug level, without a traceback. Errors raised by the handler itself keep
aiohttp's behaviour (a logged traceback, a 500).

aiohttp creates its ``RequestHandler`` in ``Server.__call__``; ``GatewayServer``
overrides that one method (reading the loop and arguments ``Server`` keeps) to build
``_Protocol``, whose only change is ``handle_error``.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

__all__ = ["GatewayServer"]

log = logging.getLogger("waypost.gateway")

_MESSAGE_CHARS = 200


class GatewayServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class _Protocol(web.RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; cannot send a parse error")
        if isinstance(exc, LineTooLong):
            status, code = 431, "header_too_large"
            text = "the request line or a header field is too large"
        else:
            status, code = 400, "bad_request"
            first = (exc.message or "").strip().splitlines()
            text = "the request is malformed: " + (first[0] if first else type(exc).__name__)
        log.debug("refused a request from %s: %s %s", request.remote, status, text)
        body = json.dumps({"error": code, "message": text[:_MESSAGE_CHARS]}).encode()
        response = web.Response(status=status, body=body, content_type="application/json")
        response.force_close()
        return response
