"""The HTTP errors the gateway adds to the ``waypost.errors`` tree.

A malformed request path is the client's fault (400); an upstream that cannot be
reached or breaks off is the gateway's neighbour's fault (502); an endpoint that did
not wake before the deadline is a 504. All render to the same JSON shape as every
other waypost error: ``{"error": code, "message": ...}``.
"""

from __future__ import annotations

from waypost.errors import WaypostError

__all__ = ["BadGateway", "BadRequest", "GatewayTimeout"]


class BadRequest(WaypostError):
    status = 400
    code = "bad_request"


class BadGateway(WaypostError):
    status = 502
    code = "bad_gateway"


class GatewayTimeout(WaypostError):
    status = 504
    code = "gateway_timeout"
