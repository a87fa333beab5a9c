"""Hostile HTTP/1.1 over raw sockets against a real gateway: what is answered, what gets through.

Every row of the corpus is sent byte for byte on a fresh loopback connection to a
gateway with ``--max-body 4096``. Its routes put the endpoint under attack on replica
``a`` and a decoy (``acme/shop/admin/1/web``) on replica ``b``; every spoofed value
carries the marker ``spoof``. After each row the test checks the status, whether the
connection was closed, and what reached the replicas: a spoofed value at a replica,
a request at the decoy or a request at ``a`` outside the attacked endpoint is a
breach, and the total of breaches must be 0.

The slowloris test holds 500 connections that send a request line a byte at a time,
while a normal client keeps asking; the slow ones must be closed by the header
deadline (``--header-timeout``, 10 s by default) and the normal client must keep
being answered.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import resource
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.gateway.conftest import Env
from tests.integration.gateway.doubles import Recorded
from tests.integration.gateway.support import GatewayProcess, build_snapshot, free_port
from waypost.model.routes import TokenGrant

WEB = "/acme/shop/hello/1/web"
PRIVATE = "/acme/shop/hello/2/web"
DECOY = "/acme/shop/admin/1/web"
MAX_BODY = 4096
MARK = "spoof"
PRIVATE_TOKEN = "tok-spoof-ok"  # a valid token that must not reach the replica either
#: A row's answer, read until this many seconds pass without a byte (or the close).
QUIET = 0.15
#: A status line anywhere in what came back (a smuggled answer follows a body, not a CRLF).
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9] ")
SLOW_CONNECTIONS = 500
HEADER_TIMEOUT = 10.0


@dataclass
class Hostile:
    env: Env
    gateway: GatewayProcess


@pytest.fixture(scope="module")
def hostile(env: Env, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    _raise_open_files(SLOW_CONNECTIONS * 2 + 256)  # the gateway inherits the limit
    log_dir = tmp_path_factory.mktemp("hostile")
    gateway = GatewayProcess(
        free_port(),
        env.control.url,
        env.token_file,
        log_dir,
        extra_args=("--max-body", str(MAX_BODY)),
    )
    env.publish(
        build_snapshot(
            {WEB[1:]: [("v1", 1, WEB[1:])], PRIVATE[1:]: [("v2", 1, PRIVATE[1:])]}
            | {DECOY[1:]: [("v1", 1, DECOY[1:])]},
            {WEB[1:]: [env.a.address], PRIVATE[1:]: [env.a.address], DECOY[1:]: [env.b.address]},
            private=[PRIVATE[1:]],
            grants=[
                TokenGrant(hashlib.sha256(PRIVATE_TOKEN.encode()).hexdigest(), "invoke", None, None)
            ],
        )
    )
    try:
        gateway.start()
        gateway.wait_revision(env.control.snapshot.revision)
        yield Hostile(env, gateway)
    finally:
        code = gateway.stop()
    assert code == 0, gateway.stderr()
    assert "Traceback" not in gateway.stderr(), gateway.stderr()


def _raise_open_files(wanted: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def req(
    target: str = WEB + "/x",
    *headers: str,
    method: str = "GET",
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}", "Host: gw.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


SMUGGLED = f"GET {DECOY}/smuggled HTTP/1.1\r\nHost: gw.test\r\nX-VH-Prefix: {MARK}\r\n\r\n".encode()
BIG = "a" * 9000

# (raw bytes, expected status, whether the gateway closes the connection after it,
#  requests expected at replica ``a``)
CORPUS = [
    # -- a plain request, so a broken setup cannot pass for a safe one ----------------------
    pytest.param(req(), 200, False, 1, id="plain"),
    pytest.param(
        req(WEB + "/x", "Content-Length: 10", method="POST", body=b"x" * 10),
        200, False, 1, id="plain-post",
    ),
    # -- spoofed gateway headers: answered, never passed on ---------------------------------
    pytest.param(req(WEB, f"X-VH-Prefix: {MARK}"), 200, False, 1, id="x-vh-prefix"),
    pytest.param(req(WEB, f"x-vh-prefix: {MARK}"), 200, False, 1, id="x-vh-prefix-lower"),
    pytest.param(req(WEB, f"X-VH-PREFIX: {MARK}"), 200, False, 1, id="x-vh-prefix-upper"),
    pytest.param(req(WEB, f"X_VH_Prefix: {MARK}"), 200, False, 1, id="x-vh-prefix-underscores"),
    pytest.param(req(WEB, f"X-VH_prefix: {MARK}"), 200, False, 1, id="x-vh-prefix-mixed"),
    pytest.param(
        req(WEB, f"X-VH-Prefix: {MARK}", f"X-VH-Prefix: {MARK}2"), 200, False, 1, id="twice"
    ),
    pytest.param(req(WEB, f"X-VH-Prefix:\t{MARK}\t"), 200, False, 1, id="tab-whitespace"),
    pytest.param(req(WEB, f"X-Forwarded-For: {MARK}"), 200, False, 1, id="x-forwarded-for"),
    pytest.param(req(WEB, f"x_forwarded_for: {MARK}"), 200, False, 1, id="x-forwarded-for-us"),
    pytest.param(req(WEB, f"X-Forwarded-Host: {MARK}"), 200, False, 1, id="x-forwarded-host"),
    pytest.param(req(WEB, f"X-Forwarded-Proto: {MARK}"), 200, False, 1, id="x-forwarded-proto"),
    pytest.param(req(WEB, f"X_Forwarded_Proto: {MARK}"), 200, False, 1, id="x-fwd-proto-us"),
    pytest.param(req(WEB, f"Forwarded: for={MARK}"), 200, False, 1, id="forwarded"),
    pytest.param(req(WEB, f"FORWARDED: for={MARK}"), 200, False, 1, id="forwarded-upper"),
    pytest.param(req(WEB, f"X-Request-ID: {MARK}"), 200, False, 1, id="x-request-id"),
    pytest.param(req(WEB, f"x_request_id: {MARK}"), 200, False, 1, id="x-request-id-us"),
    pytest.param(req(WEB, f"X-Real-IP: {MARK}"), 200, False, 1, id="x-real-ip"),
    pytest.param(
        req(WEB, "Connection: X-Custom", f"X-Custom: {MARK}"), 200, False, 1, id="conn-named"
    ),
    pytest.param(
        req(WEB, "Connection: keep-alive, x_secret", f"X-Secret: {MARK}"),
        200, False, 1, id="conn-named-underscore",
    ),
    pytest.param(
        req(WEB, "Connection: keep-alive", "Connection: X-Two", f"X-Two: {MARK}"),
        200, False, 1, id="conn-second-header",
    ),
    pytest.param(req(WEB, f"Proxy-Authorization: {MARK}"), 200, False, 1, id="proxy-auth"),
    pytest.param(req(WEB, f"Keep-Alive: timeout={MARK}"), 200, False, 1, id="keep-alive"),
    pytest.param(req(WEB, f"Proxy-Connection: {MARK}"), 200, False, 1, id="proxy-connection"),
    pytest.param(
        req(PRIVATE, f"Authorization: Bearer {PRIVATE_TOKEN}"), 200, False, 1, id="private-token"
    ),
    pytest.param(req(PRIVATE), 401, False, 0, id="private-no-token"),
    pytest.param(req(PRIVATE, f"Authorization: Bearer {MARK}"), 403, False, 0, id="private-bad"),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST")
        + b"3\r\nabc\r\n0\r\n" + f"X-VH-Prefix: {MARK}\r\n\r\n".encode(),
        200, False, 1, id="spoof-in-trailer",
    ),
    pytest.param(req(WEB, f"X-VH-Prefix : {MARK}"), 400, True, 0, id="space-before-colon"),
    pytest.param(req(WEB, "X-Ok: 1", f" X-VH-Prefix: {MARK}"), 400, True, 0, id="obs-fold"),
    pytest.param(req(WEB, f"X-A: a\x00{MARK}"), 400, True, 0, id="nul-in-value"),
    pytest.param(req(WEB, f"X-A: a\r{MARK}: b"), 400, True, 0, id="bare-cr-in-value"),
    pytest.param(req(WEB).replace(b"\r\n", b"\n"), 400, True, 0, id="bare-lf-lines"),
    # -- path tricks: refused or unrouted, never at another endpoint -----------------------
    pytest.param(req(WEB + "/../../admin/1/web"), 400, False, 0, id="dot-dot"),
    pytest.param(req(WEB + "/%2e%2e/%2e%2e/admin/1/web"), 400, False, 0, id="encoded-dot-dot"),
    pytest.param(req(WEB + "/.%2E/x"), 400, False, 0, id="half-encoded-dot-dot"),
    pytest.param(req(WEB + "/%2e"), 400, False, 0, id="encoded-dot"),
    pytest.param(req("/acme/shop/hello%2f1/web"), 400, False, 0, id="encoded-slash"),
    pytest.param(req("/acme/shop/hello%2F1%2Fweb"), 400, False, 0, id="encoded-slash-upper"),
    pytest.param(req("/acme/shop//hello/1/web"), 400, False, 0, id="double-slash"),
    pytest.param(req("//acme/shop/hello/1/web"), 400, False, 0, id="leading-double-slash"),
    pytest.param(req(WEB + "\\..\\..\\admin\\1\\web"), 400, False, 0, id="backslash"),
    pytest.param(req(WEB + "/%5c..%5cadmin"), 400, False, 0, id="encoded-backslash"),
    pytest.param(req("/acme/shop/hello;x=1/1/web"), 400, False, 0, id="semicolon"),
    pytest.param(req(WEB + ";x=/../../admin/1/web"), 400, False, 0, id="semicolon-endpoint"),
    pytest.param(req(WEB + "%00"), 400, False, 0, id="encoded-nul"),
    pytest.param(req(WEB + "#/../../admin/1/web"), 400, False, 0, id="fragment"),
    pytest.param(req("http://evil/acme/shop/admin/1/web"), 400, False, 0, id="absolute-form"),
    pytest.param(req("*", method="OPTIONS"), 400, False, 0, id="asterisk-form"),
    pytest.param(req("evil:443", method="CONNECT"), 400, False, 0, id="connect"),
    pytest.param(req("/acme/shop/hello/1/webx"), 404, False, 0, id="segment-boundary"),
    pytest.param(req("/acme/shop/ADMIN/1/web"), 404, False, 0, id="case"),
    pytest.param(req("/acme/shop/%61dmin/1/web"), 404, False, 0, id="encoded-letter"),
    pytest.param(req("/acme/shop/héllo/1/web"), 400, True, 0, id="raw-utf8"),
    pytest.param(req(WEB + "/a b"), 400, True, 0, id="space-in-path"),
    # -- smuggling: ambiguous framing is refused and the connection closed -------------------
    pytest.param(
        req(WEB, "Content-Length: 4", "Transfer-Encoding: chunked", method="POST")
        + b"0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="cl-te",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", "Content-Length: 4", method="POST")
        + b"0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="te-cl",
    ),
    pytest.param(
        req(WEB, "Content-Length: 0", "Content-Length: 90", method="POST") + SMUGGLED,
        400, True, 0, id="cl-cl",
    ),
    pytest.param(
        req(WEB, "Content-Length: 5", "Content-Length: 5", method="POST") + b"hello",
        400, True, 0, id="cl-cl-same",
    ),
    pytest.param(
        req(WEB, "Content-Length: 5, 5", method="POST") + b"hello", 400, True, 0, id="cl-list"
    ),
    pytest.param(req(WEB, "Content-Length: +5", method="POST") + b"hello", 400, True, 0, id="cl+"),
    pytest.param(
        req(WEB, "Content-Length: -1", method="POST") + SMUGGLED, 400, True, 0, id="cl-negative"
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked, identity", method="POST") + b"0\r\n\r\n",
        400, True, 0, id="te-chunked-identity",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: identity", method="POST") + SMUGGLED,
        400, True, 0, id="te-identity",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: xchunked", method="POST") + b"0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="te-xchunked",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked", method="POST")
        + b"0\r\n\r\n",
        400, True, 0, id="te-twice",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding : chunked", method="POST") + b"0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="te-space-before-colon",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding:", " chunked", method="POST") + b"0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="te-obs-fold",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST", version="HTTP/1.0")
        + b"0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="te-on-http10",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + b"zz\r\nabc\r\n0\r\n\r\n",
        400, True, 0, id="chunk-size-not-hex",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + b"-1\r\nabc\r\n0\r\n\r\n",
        400, True, 0, id="chunk-size-negative",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + b"0x3\r\nabc\r\n0\r\n\r\n",
        400, True, 0, id="chunk-size-0x",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST")
        + b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        400, True, 0, id="chunk-size-overflow",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + b"3 \r\nabc\r\n0\r\n\r\n",
        400, True, 0, id="chunk-size-space",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + b"3\r\nabcX0\r\n\r\n" + SMUGGLED,
        400, True, 0, id="chunk-longer-than-size",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + b"3\nabc\n0\n\n" + SMUGGLED,
        400, True, 0, id="chunk-bare-lf",
    ),
    # -- limits ------------------------------------------------------------------------------
    pytest.param(req(WEB, f"X-Big: {BIG}"), 431, True, 0, id="header-too-large"),
    pytest.param(req(WEB + "/" + BIG), 431, True, 0, id="request-line-too-long"),
    pytest.param(
        req(WEB, *(f"X-H{i}: 1" for i in range(200))), 400, True, 0, id="too-many-headers"
    ),
    pytest.param(
        req(WEB, f"Content-Length: {MAX_BODY + 1}", method="POST"),
        413, True, 0, id="content-length-over-limit",
    ),
    pytest.param(
        req(WEB, f"Content-Length: {MAX_BODY + 1}", "Expect: 100-continue", method="POST"),
        413, True, 0, id="content-length-over-limit-expect",
    ),
    pytest.param(
        req(WEB, "Content-Length: 99999999999999999999999", method="POST"),
        400, True, 0, id="content-length-overflow",  # the parser refuses it first
    ),
    pytest.param(
        req(WEB, f"Content-Length: {MAX_BODY}", method="POST") + b"x" * MAX_BODY,
        200, False, 1, id="content-length-at-limit",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + chunked(*[b"y" * 1500] * 4),
        413, True, 0, id="chunked-over-limit",
    ),
    pytest.param(
        req(WEB, "Transfer-Encoding: chunked", method="POST") + chunked(*[b"y" * 1024] * 4),
        200, False, 1, id="chunked-at-limit",
    ),
]  # fmt: skip


@dataclass
class Answer:
    status: int
    responses: int  # status lines seen on the connection
    closed: bool


def exchange(
    port: int, data: bytes, *, until_closed: bool = False, deadline: float = 5.0
) -> Answer:
    """Send ``data``, read until the gateway closes or (unless ``until_closed``) stays quiet
    for ``QUIET`` seconds after an answer; at most ``deadline`` seconds."""
    received = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        # Refused before all was sent: the answer may still be readable.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        end = time.monotonic() + deadline
        quiet_until = end
        while time.monotonic() < min(end, quiet_until):
            ready, _, _ = select.select([sock], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
            if b"\r\n\r\n" in received and not until_closed:
                quiet_until = time.monotonic() + QUIET
    first = received.split(b"\r\n", 1)[0].split()
    status = int(first[1]) if len(first) >= 2 and first[1].isdigit() else 0
    return Answer(status, len(STATUS_LINE.findall(received)), closed)


def breaches(records: list[Recorded], attacked: set[str]) -> list[str]:
    """Spoofed values, requests at the decoy and requests outside the attacked endpoints."""
    found = []
    for r in records:
        if r.replica == "b":
            found.append(f"misrouted to the decoy: {r.raw_path}")
        elif not any(r.raw_path == p or r.raw_path.startswith(p + "/") for p in attacked):
            found.append(f"misrouted on a: {r.raw_path}")
        for name, value in r.headers:
            if MARK in name.lower() or MARK in value.lower():
                found.append(f"spoofed header reached {r.replica}: {name}: {value}")
    return found


@pytest.mark.parametrize(("data", "status", "closes", "reached"), CORPUS)
def test_hostile_corpus(
    hostile: Hostile, data: bytes, status: int, closes: bool, reached: int
) -> None:
    env = hostile.env
    env.a.requests.clear()
    env.b.requests.clear()
    # A refused body is read and thrown away for up to 2 s before the close (lingering).
    answer = exchange(hostile.gateway.port, data, until_closed=closes)
    assert answer.status == status
    assert answer.responses == 1  # nothing smuggled behind it was answered
    if closes:
        assert answer.closed
    records = list(env.a.requests) + list(env.b.requests)
    assert breaches(records, {WEB, PRIVATE}) == []
    assert len(env.a.requests) == reached
    assert not env.b.requests


def test_the_corpus_breaches_nothing_in_one_run(hostile: Hostile) -> None:
    """The whole corpus again, back to back: the count of breaches is 0."""
    env = hostile.env
    env.a.requests.clear()
    env.b.requests.clear()
    statuses = [exchange(hostile.gateway.port, bytes(p.values[0])).status for p in CORPUS]
    records = list(env.a.requests) + list(env.b.requests)
    assert breaches(records, {WEB, PRIVATE}) == []
    assert statuses == [p.values[1] for p in CORPUS]
    assert len(env.a.requests) == sum(p.values[3] == 1 for p in CORPUS)


@dataclass
class Slow:
    sock: socket.socket
    opened: float
    sent: int = 0
    closed_after: float | None = None


def test_slowloris_is_closed_by_the_header_deadline(hostile: Hostile) -> None:
    port = hostile.gateway.port
    partial = f"GET {WEB}/slow HTTP/1.1\r\nHost: gw.test\r\n".encode() + b"X-Pad: " + b"p" * 200
    slow: list[Slow] = []
    latencies: list[float] = []
    failures = 0
    try:
        for _ in range(SLOW_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.setblocking(False)
            slow.append(Slow(sock, time.monotonic()))
        with httpx.Client(base_url=hostile.gateway.url, timeout=5) as client:
            end = time.monotonic() + HEADER_TIMEOUT + 5
            next_byte = time.monotonic()
            while time.monotonic() < end and any(s.closed_after is None for s in slow):
                now = time.monotonic()
                if now >= next_byte:  # one more byte on every open slow connection
                    next_byte = now + 0.5
                    for s in slow:
                        if s.closed_after is None and s.sent < len(partial):
                            try:
                                s.sock.send(partial[s.sent : s.sent + 1])
                                s.sent += 1
                            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                                pass
                _note_closed(slow)
                started = time.monotonic()
                try:
                    response = client.get(f"{WEB}/normal")
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.monotonic() - started)
                failures += not ok
                time.sleep(0.02)
    finally:
        for s in slow:
            s.sock.close()
    closed = [s.closed_after for s in slow if s.closed_after is not None]
    assert len(closed) == SLOW_CONNECTIONS, f"{SLOW_CONNECTIONS - len(closed)} slow left open"
    assert max(closed) <= HEADER_TIMEOUT + 1.5
    assert min(closed) >= HEADER_TIMEOUT - 1.0  # closed by the deadline, not by something else
    assert all(s.sent < len(partial) for s in slow)  # none finished its request
    assert failures == 0
    assert len(latencies) >= 50
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nslowloris: {len(latencies)} normal requests, p99 {p99 * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms; slow closed after "
          f"{min(closed):.2f}-{max(closed):.2f} s")  # fmt: skip
    assert p99 < 0.5


def _note_closed(slow: list[Slow]) -> None:
    open_ = {s.sock.fileno(): s for s in slow if s.closed_after is None}
    if not open_:
        return
    poller = select.poll()
    for fd in open_:
        poller.register(fd, select.POLLIN)
    for fd, _ in poller.poll(0):
        s = open_[fd]
        if True:
            try:
                data = s.sock.recv(4096)
            except (BlockingIOError, ConnectionResetError):
                data = b""
            if not data:
                s.closed_after = time.monotonic() - s.opened
