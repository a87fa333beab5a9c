"""MirrorBatch and BodyTee: bodies are kept within the limits, and their bytes given back.

No sockets: the request is aiohttp's test request over a stream the test feeds, and the
upstream is a fake that fails at once (the copies end as ``error``).
"""

from __future__ import annotations

import asyncio
import io
import json

from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import BaseRequest

from waypost.gateway.core.balance import Balancer
from waypost.gateway.core.logline import RequestRecord
from waypost.gateway.core.table import RouteMatch, RouteTable
from waypost.gateway.core.traffic import TrafficCounter
from waypost.gateway.mirrors import Mirrors
from waypost.gateway.options import MirrorOptions
from waypost.gateway.requestlog import RequestLog
from waypost.gateway.upstream import Upstream, UpstreamConnectError
from waypost.model.routes import (
    ReplicaAddress,
    Route,
    RouteBackend,
    RouteMirror,
    RouteSnapshot,
    RouteTarget,
)

MAIN, SHADOW = "acme/shop/hello/1/web", "acme/shop/hello/2/web"
URL = "/acme/shop/hello/shadowed/web/predict"
TABLE = RouteTable.from_snapshot(
    RouteSnapshot(
        1,
        tuple(
            RouteTarget(key, "Running", "public", False, (ReplicaAddress("r", "127.0.0.1:9"),))
            for key in (MAIN, SHADOW)
        ),
        (
            Route(
                "acme",
                "shop",
                "hello",
                "shadowed",
                "web",
                (RouteBackend("main", 1, MAIN),),
                (RouteMirror("candidate", SHADOW),),
            ),
        ),
    )
)


class Refusing(Upstream):
    """Every copy fails to connect: nothing leaves the process."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        self.sent += 1
        raise UpstreamConnectError("refused")


def setup(
    memory: int = 1500, body_limit: int = 1000
) -> tuple[Mirrors, io.StringIO, RequestLog, Refusing]:
    out = io.StringIO()
    log = RequestLog(out)
    upstream = Refusing()
    mirrors = Mirrors(
        upstream,
        Balancer(),
        log,
        TrafficCounter(),
        TABLE.targets.get,
        options=MirrorOptions(memory=memory, body_limit=body_limit),
    )
    return mirrors, out, log, upstream


def request(body: StreamReader | None, length: int | None) -> tuple[BaseRequest, RouteMatch]:
    headers = {"Content-Length": str(length)} if length is not None else {}
    kwargs = {"payload": body} if body is not None else {}
    match = TABLE.match(URL)
    assert match is not None
    return make_mocked_request("POST", URL, headers, **kwargs), match


def stream(*chunks: bytes) -> StreamReader:
    reader = StreamReader(BaseProtocol(asyncio.get_running_loop()), 2**16)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


def record() -> RequestRecord:
    r = RequestRecord("rid", "POST", URL)
    r.project, r.route = "acme/shop", "acme/shop/hello/shadowed/web"
    return r


async def read_all(mirrors: Mirrors, body: StreamReader, length: int | None) -> bytes:
    req, match = request(body, length)
    batch = mirrors.begin(req, match, record(), "")
    data = b""
    if batch.needs_body:
        async for chunk in batch.tee(body):
            data += chunk
    else:
        data = await body.read()
    batch.close()
    return data


def mirror_lines(log: RequestLog, out: io.StringIO) -> list[dict[str, object]]:
    log.flush()
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def settle(mirrors: Mirrors) -> None:
    for _ in range(20):
        await asyncio.sleep(0)
        if not len(mirrors.background):
            return


async def test_a_kept_body_is_sent_and_its_bytes_given_back() -> None:
    mirrors, out, log, upstream = setup()
    assert await read_all(mirrors, stream(b"a" * 400, b"b" * 400), 800) == b"a" * 400 + b"b" * 400
    assert mirrors.memory == 800  # held until the copy is done
    await settle(mirrors)
    assert upstream.sent == 1
    assert mirrors.memory == 0
    (line,) = mirror_lines(log, out)
    assert (line["outcome"], line["reason"]) == ("error", "could not connect")


async def test_a_chunked_body_over_the_limit_is_skipped_and_still_streams() -> None:
    mirrors, out, log, upstream = setup(body_limit=1000)
    data = await read_all(mirrors, stream(b"x" * 600, b"y" * 600), None)
    assert len(data) == 1200  # the primary got every byte
    await settle(mirrors)
    assert upstream.sent == 0
    assert mirrors.memory == 0
    (line,) = mirror_lines(log, out)
    assert line["outcome"] == "skipped"
    assert line["reason"] == "the body is over the mirror limit of 1000 bytes"


async def test_a_declared_length_over_the_limit_is_skipped_without_keeping_anything() -> None:
    mirrors, out, log, _ = setup(body_limit=100)
    req, match = request(stream(b"z" * 500), 500)
    batch = mirrors.begin(req, match, record(), "")
    assert not batch.needs_body
    assert mirror_lines(log, out)[0]["outcome"] == "skipped"


async def test_bodies_beyond_the_memory_limit_are_skipped() -> None:
    mirrors, out, log, _ = setup(memory=1500, body_limit=1000)
    first_body, second_body = stream(b"1" * 800), stream(b"2" * 800)
    first_req, match = request(first_body, 800)
    second_req, _ = request(second_body, 800)
    first = mirrors.begin(first_req, match, record(), "")
    second = mirrors.begin(second_req, match, record(), "")
    first_tee, second_tee = first.tee(first_body), second.tee(second_body)
    assert len(await first_tee.__anext__()) == 800
    assert mirrors.memory == 800
    assert len(await second_tee.__anext__()) == 800  # the primary still gets it
    assert mirrors.memory == 800
    (line,) = mirror_lines(log, out)
    assert (line["outcome"], line["reason"]) == ("skipped", "the mirror memory limit is reached")
    first.close()  # the primary never read to the end: skipped, bytes given back
    second.close()
    assert mirrors.memory == 0
    assert [line["outcome"] for line in mirror_lines(log, out)] == ["skipped", "skipped"]
