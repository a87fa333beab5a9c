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
from typing import NamedTuple

__all__ = [
    "AUTHORIZATION",
    "CONNECTION",
    "CONTENT_TYPE",
    "COOKIE",
    "DATE",
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
DATE = "Date"
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
    found = _CANONICAL.get(name)
    if found is None:
        found = name.lower().replace("_", "-")
        if len(_CANONICAL) < _CANONICAL_LIMIT:  # names come from clients: bounded
            _CANONICAL[name] = found
    return found


#: Header names seen, in their canonical form: each request has a dozen, mostly the same.
_CANONICAL: dict[str, str] = {}
_CANONICAL_LIMIT = 4096


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
_DROP_UPSTREAM_PRIVATE = _DROP_UPSTREAM | _DROP_PRIVATE


class Forwarding(NamedTuple):
    """What the gateway tells an upstream about the request it forwards (a tuple: one is
    built per request, three times faster than a frozen dataclass)."""

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


def _kept(headers: Iterable[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    """``headers`` minus the names in ``drop`` and those listed in ``Connection:``, in one
    pass (a second only when a ``Connection:`` header lists something not dropped anyway)."""
    kept: list[tuple[str, str]] = []
    canon = _CANONICAL.get
    listed: set[str] | None = None
    for name, value in headers:
        key = canon(name) or canonical(name)
        if key in drop:
            # "keep-alive", the usual value, lists only a header dropped anyway.
            if key == "connection" and value.lower() != "keep-alive":
                tokens = {canonical(t.strip()) for t in value.split(",") if t.strip()}
                listed = tokens if listed is None else listed | tokens
            continue
        kept.append((name, value))
    if listed is not None and not listed <= drop:
        kept = [(name, value) for name, value in kept if canonical(name) not in listed]
    return kept


def request_headers(
    headers: Iterable[tuple[str, str]], forwarding: Forwarding, *, private: bool = False
) -> list[tuple[str, str]]:
    """The headers to send upstream: the client's minus the dropped ones, plus the gateway's.

    ``private``: the target is a private endpoint, so the client's ``Authorization``
    (the token the gateway checked) is dropped too.
    """
    kept = _kept(headers, _DROP_UPSTREAM_PRIVATE if private else _DROP_UPSTREAM)
    kept.append((X_VH_PREFIX, forwarding.prefix))
    if forwarding.client_ip:
        kept.append((X_FORWARDED_FOR, forwarding.client_ip))
    kept.append((X_FORWARDED_PROTO, forwarding.proto))
    if forwarding.client_host:
        kept.append((X_FORWARDED_HOST, forwarding.client_host))
    kept.append((X_REQUEST_ID, forwarding.request_id))
    return kept


def response_headers(
    headers: Iterable[tuple[str, str]], request_id: str, date: str | None = None
) -> list[tuple[str, str]]:
    """The headers to send the client: the upstream's minus hop-by-hop, plus the request id,
    and ``Date: date`` when the upstream sent none (RFC 9110 section 6.6.1: a recipient
    with a clock adds it to a response it forwards without one).

    Repeated headers (``Set-Cookie``) stay repeated and in order.
    """
    kept = _kept(headers, _DROP_DOWNSTREAM)
    if date is not None and not _dated(kept):
        kept.append((DATE, date))
    kept.append((X_REQUEST_ID, request_id))
    return kept


def _dated(headers: list[tuple[str, str]]) -> bool:
    # A loop, not any() over a generator: half the time, on every relayed answer.
    for name, _ in headers:  # noqa: SIM110
        if len(name) == 4 and name.lower() == "date":
            return True
    return False
