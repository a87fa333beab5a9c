"""The playground's way to an endpoint: a console route that forwards to the gateway.

``POST /console/playground/{key}`` sends a ``PlaygroundCall`` through the gateway (as
any client would, so routing, privacy and logs are the real ones) and answers JSON:
status, headers, time to the full answer, and the body (text, or base64 when it is
not UTF-8). ``POST .../stream`` relays the answer as it comes (server-sent events of
a chat), with the upstream's status and content type and the time to its headers in
``X-Upstream-Elapsed-Ms``. The signed-in user's token is sent to private endpoints only.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response, StreamingResponse

from waypost.console.forwarding import (
    PlaygroundCall,
    response_body,
    shown_headers,
    upstream_headers,
    upstream_url,
)
from waypost.console.reads import Reads
from waypost.console.session import Console
from waypost.control.context import CONSOLE_COOKIE, ControlContext, VersionNumber
from waypost.errors import BadGateway, GatewayTimeout
from waypost.model.prefix import UnitKey

__all__ = ["MAX_ANSWER", "playground_routes"]

ONE = "/{org}/{project}/{deployment}/{version}/{endpoint}"
#: The most of an answer the playground shows; the rest is cut (and said so).
MAX_ANSWER = 32 * 1024 * 1024
#: A Sleeping endpoint is woken by the request, which the gateway holds meanwhile.
_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=60.0, pool=5.0)


def playground_routes(router: APIRouter, ctx: ControlContext) -> None:
    reads = Reads(ctx)

    async def prepare(
        who: Console, request: Request, key: UnitKey, call: PlaygroundCall
    ) -> httpx.Request:
        ep = await reads.endpoint(who, key)
        private = ep["spec"]["visibility"] == "private"
        token = request.cookies.get(CONSOLE_COOKIE)
        headers = upstream_headers(call.headers, token=token, private=private)
        url = upstream_url(ctx.gateway_url, key.id, call.path)
        content = call.body.encode() if call.body is not None else None
        return httpx.Request(call.method, url, headers=headers, content=content)

    @router.post("/console/playground" + ONE)
    async def forward(
        who: Console,
        request: Request,
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        call: PlaygroundCall,
    ) -> Response:
        key = UnitKey(org, project, deployment, version, endpoint)
        outgoing = await prepare(who, request, key, call)
        started = time.perf_counter()
        try:
            async with httpx.AsyncClient(trust_env=False, timeout=_TIMEOUT) as client:
                answer = await client.send(outgoing, stream=True)
                try:
                    data, truncated = await _read(answer)
                finally:
                    await answer.aclose()
        except httpx.TimeoutException as exc:
            raise GatewayTimeout(f"{key.id} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise BadGateway(f"the gateway could not be reached: {exc}") from exc
        elapsed = (time.perf_counter() - started) * 1000
        text, is_text = response_body(data)
        return JSONResponse(
            {
                "status": answer.status_code,
                "reason": answer.reason_phrase,
                "elapsed_ms": round(elapsed, 1),
                "headers": shown_headers(answer.headers.items()),
                "body": text,
                "body_base64": None if is_text else base64.b64encode(data).decode(),
                "size": len(data),
                "truncated": truncated,
                "url": str(outgoing.url),
            }
        )

    @router.post("/console/playground" + ONE + "/stream")
    async def stream(
        who: Console,
        request: Request,
        org: str,
        project: str,
        deployment: str,
        version: VersionNumber,
        endpoint: str,
        call: PlaygroundCall,
    ) -> Response:
        key = UnitKey(org, project, deployment, version, endpoint)
        outgoing = await prepare(who, request, key, call)
        client = httpx.AsyncClient(trust_env=False, timeout=_TIMEOUT)
        started = time.perf_counter()
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.TimeoutException as exc:
            await client.aclose()
            raise GatewayTimeout(f"{key.id} did not answer in time") from exc
        except httpx.HTTPError as exc:
            await client.aclose()
            raise BadGateway(f"the gateway could not be reached: {exc}") from exc
        elapsed = (time.perf_counter() - started) * 1000

        async def relay() -> AsyncIterator[bytes]:
            async for chunk in answer.aiter_bytes():
                yield chunk

        async def close() -> None:
            await answer.aclose()
            await client.aclose()

        return StreamingResponse(
            relay(),
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type", "application/octet-stream"),
            headers={
                "X-Upstream-Elapsed-Ms": f"{elapsed:.1f}",
                "X-Waypost-Upstream": "1",
                "Cache-Control": "no-store",
            },
            background=BackgroundTask(close),
        )


async def _read(answer: httpx.Response) -> tuple[bytes, bool]:
    """The body, up to ``MAX_ANSWER`` bytes; True when more was cut off."""
    parts: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER:
            return b"".join(parts)[:MAX_ANSWER], True
    return b"".join(parts), False
