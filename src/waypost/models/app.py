"""The built-in server's ASGI app: OpenAI-compatible routes over a loaded model.

Routes by task: ``/v1/embeddings`` (feature-extraction), ``/v1/completions`` and
``/v1/chat/completions`` (text-generation; chat only for image-text-to-text),
``/v1/images/generations`` (text-to-image). Always: ``/health``, ``/v1/models``,
``/load`` (JSON: in flight, queued, batches) and ``/metrics`` (Prometheus text).
Every model call goes through one Batcher, whose single thread also runs
streaming generations, so the event loop never computes.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from waypost.errors import InvalidSpec, WaypostError

from . import openai
from .backends.base import EmbeddingModel, ImageModel, Prepared, Served, TextModel
from .batching import Batcher

__all__ = ["ServerState", "build_app", "metrics_text"]

Handler = Callable[[Request], Awaitable[Response]]


class ServerState:
    """The loaded model, its batcher and the request counters behind /load and /metrics."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.created = int(time.time())
        self.in_flight = 0
        self.requests = 0
        self.failures = 0
        self.batcher: Batcher[Any, Any] = Batcher(
            self._run_batch,
            max_batch_size=served.max_batch_size,
            max_wait=served.max_wait,
            name=f"model-{served.task}",
        )

    def _run_batch(self, items: list[Any]) -> list[Any]:
        model = self.served.model
        if self.served.task == "feature-extraction":
            return cast(list[Any], cast(EmbeddingModel, model).embed(items))
        if self.served.task == "text-to-image":
            return cast(list[Any], cast(ImageModel, model).generate(items))
        return cast(list[Any], cast(TextModel, model).generate(items))

    def load(self) -> dict[str, object]:
        stats = self.batcher.stats()
        return {
            "in_flight": self.in_flight,
            "queued": stats.queued,
            "running": stats.running,
            "batches": stats.batches,
            "batched_items": stats.items,
            "largest_batch": stats.largest_batch,
            "max_batch_size": self.batcher.max_batch_size,
            "requests": self.requests,
            "failures": self.failures,
        }


def metrics_text(load: dict[str, object], labels: dict[str, str]) -> str:
    """``load`` in the Prometheus text format, every sample labelled with ``labels``."""
    label = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    kinds = {"requests": "counter", "failures": "counter", "batches": "counter",
             "batched_items": "counter"}  # fmt: skip
    lines = []
    for key, value in load.items():
        name = f"waypost_model_{key}" + ("_total" if kinds.get(key) == "counter" else "")
        lines += [f"# TYPE {name} {kinds.get(key, 'gauge')}", f"{name}{{{label}}} {value}"]
    return "\n".join(lines) + "\n"


def build_app(served: Served) -> Starlette:
    state = ServerState(served)
    name = served.name

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": name, "task": served.task})

    async def models(request: Request) -> Response:
        extra = {"task": served.task, "framework": served.framework}
        return JSONResponse(openai.models_response(name, state.created, **extra))

    async def load(request: Request) -> Response:
        return JSONResponse(state.load())

    async def metrics(request: Request) -> Response:
        labels = {"model": name, "task": served.task}
        return Response(metrics_text(state.load(), labels), media_type="text/plain; version=0.0.4")

    async def embeddings(request: Request) -> Response:
        parsed = openai.parse_embedding(await _json(request))
        vectors, tokens = await state.batcher.submit(parsed.inputs)
        body = openai.embedding_response(name, vectors, tokens, parsed.encoding_format)
        return JSONResponse(body)

    async def images(request: Request) -> Response:
        parsed = openai.parse_image(await _json(request))
        pngs = await state.batcher.submit(parsed)
        return JSONResponse(openai.image_response(int(time.time()), pngs))

    async def completions(request: Request) -> Response:
        return await _generate(state, openai.parse_completion(await _json(request)), chat=False)

    async def chat(request: Request) -> Response:
        images_allowed = served.task == "image-text-to-text"
        parsed = openai.parse_chat(await _json(request), images=images_allowed)
        return await _generate(state, parsed, chat=True)

    routes = [
        Route("/health", _guard(state, health, count=False)),
        Route("/v1/models", _guard(state, models, count=False)),
        Route("/load", _guard(state, load, count=False)),
        Route("/metrics", _guard(state, metrics, count=False)),
    ]
    if served.task == "feature-extraction":
        routes.append(Route("/v1/embeddings", _guard(state, embeddings), methods=["POST"]))
    elif served.task == "text-to-image":
        routes.append(Route("/v1/images/generations", _guard(state, images), methods=["POST"]))
    else:
        routes.append(Route("/v1/chat/completions", _guard(state, chat), methods=["POST"]))
        if served.task == "text-generation":
            routes.append(Route("/v1/completions", _guard(state, completions), methods=["POST"]))
    app = Starlette(routes=routes)
    app.state.model = state
    return app


def _guard(state: ServerState, handler: Handler, *, count: bool = True) -> Handler:
    """Count the request and answer errors as OpenAI-style JSON."""

    async def guarded(request: Request) -> Response:
        if count:
            state.requests += 1
            state.in_flight += 1
        try:
            return await handler(request)
        except WaypostError as exc:
            state.failures += count
            problems = [p.to_json() for p in exc.problems]
            return JSONResponse(openai.error_body(exc.message, problems=problems), exc.status)
        except Exception as exc:
            state.failures += count
            return JSONResponse(openai.error_body(f"{type(exc).__name__}: {exc}", "server_error"),
                                500)  # fmt: skip
        finally:
            if count:
                state.in_flight -= 1

    return guarded


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidSpec(f"the request body is not valid JSON: {exc}") from exc


async def _generate(
    state: ServerState, parsed: openai.GenerationRequest, *, chat: bool
) -> Response:
    model = cast(TextModel, state.served.model)
    prepared = model.prepare(parsed)
    request_id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
    created = int(time.time())
    name = state.served.name
    if not parsed.stream:
        result: openai.Generation = await state.batcher.submit(prepared)
        build = openai.chat_response if chat else openai.completion_response
        return JSONResponse(build(request_id, name, created, result))
    events = _stream(state, model, prepared, request_id, created, chat=chat)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


async def _stream(
    state: ServerState,
    model: TextModel,
    prepared: Prepared,
    request_id: str,
    created: int,
    *,
    chat: bool,
) -> AsyncIterator[bytes]:
    """SSE chunks as the model thread emits text, then the finish chunk and [DONE]."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[str | None] = asyncio.Queue()
    cancelled = threading.Event()
    name = state.served.name

    def emit(text: str) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, text)

    def run() -> openai.Generation:
        try:
            return model.stream(prepared, emit, cancelled)
        finally:
            loop.call_soon_threadsafe(pieces.put_nowait, None)

    def chunk(text: str, finish: openai.FinishReason | None = None) -> bytes:
        if chat:
            return openai.sse(
                openai.chat_chunk(request_id, name, created, {"content": text}, finish)
            )
        return openai.sse(openai.completion_chunk(request_id, name, created, text, finish))

    state.in_flight += 1
    done = loop.run_in_executor(state.batcher.executor, run)
    done.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved if we leave
    try:
        if chat:
            delta = {"role": "assistant", "content": ""}
            yield openai.sse(openai.chat_chunk(request_id, name, created, delta))
        while (piece := await pieces.get()) is not None:
            yield chunk(piece)
        try:
            result = await done
        except Exception as exc:
            state.failures += 1
            yield openai.sse(openai.error_body(f"{type(exc).__name__}: {exc}", "server_error"))
            return
        if chat:
            yield openai.sse(openai.chat_chunk(request_id, name, created, {}, result.finish_reason))
        else:
            yield chunk("", result.finish_reason)
        yield openai.sse("[DONE]")
    finally:
        cancelled.set()  # the client left early: stop generating
        state.in_flight -= 1
