"""The gateway's sans-I/O core: route table, split choice, balancing, header rules.

Pure functions and small values: no asyncio, no sockets, no clock, no randomness
(those are arguments). Imports only the standard library, ``waypost.model`` and
``waypost.errors``. See README.md in this folder.
"""

from waypost.gateway.core.backoff import Backoff
from waypost.gateway.core.balance import RoundRobin
from waypost.gateway.core.errors import BadGateway, BadRequest
from waypost.gateway.core.headers import Forwarding, request_headers, response_headers
from waypost.gateway.core.paths import RequestPath, normalize, split_target
from waypost.gateway.core.split import Choice, choose, sticky_draw, sticky_key
from waypost.gateway.core.table import RouteMatch, RouteTable

__all__ = [
    "Backoff",
    "BadGateway",
    "BadRequest",
    "Choice",
    "Forwarding",
    "RequestPath",
    "RoundRobin",
    "RouteMatch",
    "RouteTable",
    "choose",
    "normalize",
    "request_headers",
    "response_headers",
    "split_target",
    "sticky_draw",
    "sticky_key",
]
