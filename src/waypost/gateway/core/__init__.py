"""The gateway's sans-I/O core: routes, splits, balancing, retries, overload, headers, logs.

Pure functions and small values: no asyncio, no sockets, no clock, no randomness
(those are arguments). Imports only the standard library, ``waypost.model`` and
``waypost.errors``. See README.md in this folder.
"""

from waypost.errors import BadGateway, BadRequest, GatewayTimeout
from waypost.gateway.core.access import Grants, may_invoke
from waypost.gateway.core.admission import Admission, Admit
from waypost.gateway.core.backoff import Backoff
from waypost.gateway.core.balance import Balancer
from waypost.gateway.core.framing import body_too_large, framing_problem
from waypost.gateway.core.headers import Forwarding, request_headers, response_headers
from waypost.gateway.core.hold import HoldBook
from waypost.gateway.core.lag import LoopLag
from waypost.gateway.core.latency import LatencyHistogram
from waypost.gateway.core.logline import MirrorRecord, RequestRecord, mirror_line, request_line
from waypost.gateway.core.mirror import Lane, body_plan, mirror_path
from waypost.gateway.core.outlier import Outliers
from waypost.gateway.core.paths import RequestPath, normalize, split_target
from waypost.gateway.core.retry import RetryBudget, may_retry
from waypost.gateway.core.sinkbuffer import SinkBuffer
from waypost.gateway.core.split import Choice, choose, sticky_draw, sticky_key
from waypost.gateway.core.table import RouteMatch, RouteTable
from waypost.gateway.core.traffic import TrafficCounter

__all__ = [
    "Admission",
    "Admit",
    "Backoff",
    "BadGateway",
    "BadRequest",
    "Balancer",
    "Choice",
    "Forwarding",
    "GatewayTimeout",
    "Grants",
    "HoldBook",
    "Lane",
    "LatencyHistogram",
    "LoopLag",
    "MirrorRecord",
    "Outliers",
    "RequestPath",
    "RequestRecord",
    "RetryBudget",
    "RouteMatch",
    "RouteTable",
    "SinkBuffer",
    "TrafficCounter",
    "body_plan",
    "body_too_large",
    "choose",
    "framing_problem",
    "may_invoke",
    "may_retry",
    "mirror_line",
    "mirror_path",
    "normalize",
    "request_headers",
    "request_line",
    "response_headers",
    "split_target",
    "sticky_draw",
    "sticky_key",
]
