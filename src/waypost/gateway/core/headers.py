"""Proxy hygiene, in one place: which headers pass, which the gateway owns.

Both ways, hop-by-hop headers are dropped: the fixed set of RFC 9110 section 7.6.1
plus every header named in ``Connection:``. Towards the upstream, every header the
gateway vouches for is dropped as the client sent it, in any case and also spelled
with ``_`` for ``-`` (WSGI servers map both spellings to the same ``HTTP_X_VH_PREFIX``),
then set by the gateway itself. The client's ``Host`` never reaches the upstream: the
upstream client addresses the replica from the route table, and the client's Host
travels as ``X-Forwarded-Host``. ``Expect`` is answered by the gateway's server and
not forwarded. ``Authorization`` is dropped towards a private endpoint (the gateway
checked the token; the replica never sees it) and passed on to a public one, whose
app may do its own authentication.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AUTHORIZATION",
    "CONNECTION",
    "CONTENT_TYPE",
    "COOKIE",
    "EXPECT",
    "FORWARDED",
    "GATEWAY_SET",
    "HOP_BY_HOP",
    "HOST",
    "KEEP_ALIVE",
    "PROXY_AUTHENTICATE",
    "PROXY_AUTHORIZATION",
    "PROXY_CONNECTION",
    "RETRY_AFTER",
    "TE",
    "TRAILER",
    "TRANSFER_ENCODING",
    "UPGRADE",
    "WWW_AUTHENTICATE",
    "X_FORWARDED_FOR",
    "X_FORWARDED_HOST",
    "X_FORWARDED_PROTO",
    "X_REAL_IP",
    "X_REQUEST_ID",
    "X_VH_PREFIX",
    "Forwarding",
    "canonical",
    "connection_listed",
    "request_headers",
    "response_headers",
]

CONNECTION = "Connection"
KEEP_ALIVE = "Keep-Alive"
PROXY_AUTHENTICATE = "Proxy-Authenticate"
PROXY_AUTHORIZATION = "Proxy-Authorization"
PROXY_CONNECTION = "Proxy-Connection"
TE = "TE"
TRAILER = "Trailer"
TRANSFER_ENCODING = "Transfer-Encoding"
UPGRADE = "Upgrade"

HOST = "Host"
EXPECT = "Expect"
COOKIE = "Cookie"
CONTENT_TYPE = "Content-Type"
RETRY_AFTER = "Retry-After"
AUTHORIZATION = "Authorization"
WWW_AUTHENTICATE = "WWW-Authenticate"

X_VH_PREFIX = "X-VH-Prefix"
X_FORWARDED_FOR = "X-Forwarded-For"
X_FORWARDED_PROTO = "X-Forwarded-Proto"
X_FORWARDED_HOST = "X-Forwarded-Host"
FORWARDED = "Forwarded"
X_REQUEST_ID = "X-Request-ID"
X_REAL_IP = "X-Real-IP"


def canonical(name: str) -> str:
    """The form headers are compared in: lower case, ``_`` read as ``-``."""
    return name.lower().replace("_", "-")


#: Dropped both ways (canonical names). Proxy-Connection is not standard but still sent.
HOP_BY_HOP = frozenset(
    canonical(h)
    for h in (
        CONNECTION,
        KEEP_ALIVE,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        PROXY_CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    )
)

#: Only the gateway may set these towards an upstream (canonical names).
GATEWAY_SET = frozenset(
    canonical(h)
    for h in (
        X_VH_PREFIX,
        X_FORWARDED_FOR,
        X_FORWARDED_PROTO,
        X_FORWARDED_HOST,
        FORWARDED,
        X_REQUEST_ID,
        X_REAL_IP,
    )
)

_DROP_UPSTREAM = HOP_BY_HOP | GATEWAY_SET | {canonical(HOST), canonical(EXPECT)}
_DROP_PRIVATE = frozenset({canonical(AUTHORIZATION)})
_DROP_DOWNSTREAM = HOP_BY_HOP | {canonical(X_REQUEST_ID)}


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What the gateway tells an upstream about the request it forwards."""

    prefix: str  # as requested: acme/shop/hello/latest/web
    client_ip: str | None
    client_host: str | None  # the Host header the client sent
    request_id: str
    proto: str = "http"


def connection_listed(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Canonical names listed in every ``Connection:`` header (those are hop-by-hop too)."""
    listed: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            listed.update(canonical(token.strip()) for token in value.split(",") if token.strip())
    return frozenset(listed)


def request_headers(
    headers: Iterable[tuple[str, str]], forwarding: Forwarding, *, private: bool = False
) -> list[tuple[str, str]]:
    """The headers to send upstream: the client's minus the dropped ones, plus the gateway's.

    ``private``: the target is a private endpoint, so the client's ``Authorization``
    (the token the gateway checked) is dropped too.
    """
    items = list(headers)
    drop = _DROP_UPSTREAM | connection_listed(items)
    if private:
        drop = drop | _DROP_PRIVATE
    kept = [(name, value) for name, value in items if canonical(name) not in drop]
    kept.append((X_VH_PREFIX, forwarding.prefix))
    if forwarding.client_ip:
        kept.append((X_FORWARDED_FOR, forwarding.client_ip))
    kept.append((X_FORWARDED_PROTO, forwarding.proto))
    if forwarding.client_host:
        kept.append((X_FORWARDED_HOST, forwarding.client_host))
    kept.append((X_REQUEST_ID, forwarding.request_id))
    return kept


def response_headers(headers: Iterable[tuple[str, str]], request_id: str) -> list[tuple[str, str]]:
    """The headers to send the client: the upstream's minus hop-by-hop, plus the request id.

    Repeated headers (``Set-Cookie``) stay repeated and in order.
    """
    items = list(headers)
    drop = _DROP_DOWNSTREAM | connection_listed(items)
    kept = [(name, value) for name, value in items if canonical(name) not in drop]
    kept.append((X_REQUEST_ID, request_id))
    return kept
