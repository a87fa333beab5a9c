"""The OpenAI-compatible wire format: request bodies parsed into values, responses built.

Pure (no I/O, no model): the built-in server's routes parse with these functions
and the tests check the contracts without a model. A bad body raises InvalidSpec
with one Problem per field, which the server answers as an OpenAI-style error.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from waypost.errors import InvalidSpec, Problem

__all__ = [
    "EmbeddingRequest",
    "Generation",
    "GenerationRequest",
    "ImageRequest",
    "Message",
    "chat_chunk",
    "chat_response",
    "completion_chunk",
    "completion_response",
    "embedding_response",
    "error_body",
    "image_response",
    "models_response",
    "parse_chat",
    "parse_completion",
    "parse_embedding",
    "parse_image",
    "sse",
]

MAX_INPUTS = 2048  # inputs per embeddings request, as OpenAI's API allows
MAX_IMAGES = 8  # images per image request
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,(?P<data>.*)$", re.DOTALL)
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class EmbeddingRequest:
    inputs: tuple[str, ...]
    model: str | None
    encoding_format: Literal["float", "base64"]


@dataclass(frozen=True)
class Message:
    role: str
    text: str
    images: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class GenerationRequest:
    """A completion (``prompt``) or a chat (``messages``) request."""

    prompt: str | None
    messages: tuple[Message, ...]
    max_tokens: int | None
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    stream: bool
    seed: int | None
    model: str | None


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    n: int
    width: int
    height: int
    steps: int | None
    seed: int | None
    model: str | None


class _Body:
    """Reads fields of a JSON object, collecting a Problem for each bad one."""

    def __init__(self, body: object) -> None:
        self.problems: list[Problem] = []
        if not isinstance(body, Mapping):
            self.problems.append(Problem("the request body must be a JSON object"))
            body = {}
        self.data: Mapping[str, Any] = body

    def fail(self, field: str, message: str) -> None:
        self.problems.append(Problem(message, field=field))

    def text(self, field: str, *, required: bool = False) -> str | None:
        value = self.data.get(field)
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            self.fail(field, "must be a string")
            return None
        return value

    def number(self, field: str, default: float, low: float, high: float) -> float:
        value = self.data.get(field)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            self.fail(field, f"must be a number from {low:g} to {high:g}")
            return default
        return float(value)

    def integer(self, field: str, low: int, high: int) -> int | None:
        value = self.data.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(field, f"must be a whole number from {low} to {high}")
            return None
        return value

    def flag(self, field: str) -> bool:
        value = self.data.get(field, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(field, "must be true or false")
            return False
        return value

    def done(self) -> None:
        if self.problems:
            raise InvalidSpec.of(self.problems)


def parse_embedding(body: object) -> EmbeddingRequest:
    """``{"input": str | [str, ...], "model"?, "encoding_format"?}``."""
    reader = _Body(body)
    raw = reader.data.get("input")
    inputs: tuple[str, ...] = ()
    if isinstance(raw, str):
        inputs = (raw,)
    elif isinstance(raw, list) and raw and all(isinstance(i, str) for i in raw):
        inputs = tuple(raw)
        if len(inputs) > MAX_INPUTS:
            reader.fail("input", f"has {len(inputs)} items; at most {MAX_INPUTS}")
    else:
        reader.fail("input", "must be a string or a non-empty list of strings")
    if any(not text for text in inputs):
        reader.fail("input", "must not contain empty strings")
    model = reader.text("model")
    encoding = reader.data.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        reader.fail("encoding_format", "must be float or base64")
        encoding = "float"
    reader.done()
    return EmbeddingRequest(inputs, model, encoding)


def _generation(
    reader: _Body, prompt: str | None, messages: tuple[Message, ...]
) -> GenerationRequest:
    max_tokens = reader.integer("max_tokens", 1, 1_000_000)
    if max_tokens is None:
        max_tokens = reader.integer("max_completion_tokens", 1, 1_000_000)
    stop_raw = reader.data.get("stop")
    stop: tuple[str, ...] = ()
    if isinstance(stop_raw, str):
        stop = (stop_raw,)
    elif isinstance(stop_raw, list) and all(isinstance(s, str) and s for s in stop_raw):
        stop = tuple(stop_raw[:4])
    elif stop_raw is not None:
        reader.fail("stop", "must be a string or a list of strings")
    request = GenerationRequest(
        prompt=prompt,
        messages=messages,
        max_tokens=max_tokens,
        temperature=reader.number("temperature", 1.0, 0.0, 2.0),
        top_p=reader.number("top_p", 1.0, 0.0, 1.0),
        stop=stop,
        stream=reader.flag("stream"),
        seed=reader.integer("seed", 0, 2**63 - 1),
        model=reader.text("model"),
    )
    reader.integer("n", 1, 1)  # one choice per request is served; others are a Problem
    reader.done()
    return request


def parse_completion(body: object) -> GenerationRequest:
    """``{"prompt": str, "max_tokens"?, "temperature"?, "top_p"?, "stop"?, "stream"?, "seed"?}``."""
    reader = _Body(body)
    prompt = reader.data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        reader.fail("prompt", "must be a string")
        prompt = ""
    return _generation(reader, prompt, ())


def parse_chat(body: object, *, images: bool) -> GenerationRequest:
    """``{"messages": [{"role", "content"}], ...}``; content parts may carry images."""
    reader = _Body(body)
    raw = reader.data.get("messages")
    messages: list[Message] = []
    if not isinstance(raw, list) or not raw:
        reader.fail("messages", "must be a non-empty list")
        raw = []
    for index, item in enumerate(raw):
        message = _message(reader, f"messages[{index}]", item, images)
        if message is not None:
            messages.append(message)
    return _generation(reader, None, tuple(messages))


def _message(reader: _Body, where: str, item: object, images: bool) -> Message | None:
    if not isinstance(item, Mapping) or not isinstance(item.get("role"), str):
        reader.fail(where, "must be an object with a role and a content")
        return None
    role, content = str(item["role"]), item.get("content")
    if role not in ("system", "user", "assistant", "developer", "tool"):
        reader.fail(f"{where}.role", f"unknown role {role!r}")
    if isinstance(content, str):
        return Message(role, content)
    if not isinstance(content, list):
        reader.fail(f"{where}.content", "must be a string or a list of content parts")
        return None
    texts: list[str] = []
    pictures: list[bytes] = []
    for index, part in enumerate(content):
        field = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and images:
            picture = _image_bytes(reader, field, part.get("image_url"))
            if picture is not None:
                pictures.append(picture)
        elif kind == "image_url":
            reader.fail(field, "this model takes text only")
        else:
            reader.fail(field, "must be a text or image_url part")
    return Message(role, "\n".join(texts), tuple(pictures))


def _image_bytes(reader: _Body, field: str, value: object) -> bytes | None:
    url = value.get("url") if isinstance(value, Mapping) else value
    match = _DATA_URL.match(url) if isinstance(url, str) else None
    if match is None:
        reader.fail(f"{field}.image_url", "must be a data:image/...;base64 URL (no downloads)")
        return None
    try:
        return base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        reader.fail(f"{field}.image_url", "is not valid base64")
        return None


def parse_image(body: object, *, default_steps: int | None = None) -> ImageRequest:
    """``{"prompt", "n"?, "size"?: "WxH", "response_format"?: "b64_json", "seed"?}``."""
    reader = _Body(body)
    prompt = reader.text("prompt", required=True) or ""
    n = reader.integer("n", 1, MAX_IMAGES) or 1
    size = reader.data.get("size", "512x512")
    width = height = 512
    match = re.fullmatch(r"(\d{1,4})x(\d{1,4})", size) if isinstance(size, str) else None
    if match is None or not all(8 <= int(v) <= 2048 and int(v) % 8 == 0 for v in match.groups()):
        reader.fail("size", "must be WIDTHxHEIGHT, multiples of 8 from 8 to 2048")
    else:
        width, height = int(match[1]), int(match[2])
    if reader.data.get("response_format", "b64_json") != "b64_json":
        reader.fail("response_format", "only b64_json is served (this server keeps no files)")
    steps = reader.integer("num_inference_steps", 1, 500) or default_steps
    request = ImageRequest(
        prompt, n, width, height, steps, reader.integer("seed", 0, 2**63 - 1), reader.text("model")
    )
    reader.done()
    return request


def embedding_response(
    model: str, vectors: Sequence[Sequence[float]], tokens: int, encoding: str = "float"
) -> dict[str, object]:
    data = []
    for index, vector in enumerate(vectors):
        embedding: object = list(vector)
        if encoding == "base64":
            import array

            embedding = base64.b64encode(array.array("f", vector).tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def _usage(result: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }


def completion_response(
    request_id: str, model: str, created: int, result: Generation
) -> dict[str, object]:
    choice = {"index": 0, "text": result.text, "logprobs": None,
              "finish_reason": result.finish_reason}  # fmt: skip
    return {"id": request_id, "object": "text_completion", "created": created, "model": model,
            "choices": [choice], "usage": _usage(result)}  # fmt: skip


def chat_response(
    request_id: str, model: str, created: int, result: Generation
) -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": result.text},
              "finish_reason": result.finish_reason}  # fmt: skip
    return {"id": request_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [choice], "usage": _usage(result)}  # fmt: skip


def completion_chunk(
    request_id: str, model: str, created: int, text: str, finish: FinishReason | None = None
) -> dict[str, object]:
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    return {"id": request_id, "object": "text_completion", "created": created, "model": model,
            "choices": [choice]}  # fmt: skip


def chat_chunk(
    request_id: str,
    model: str,
    created: int,
    delta: Mapping[str, str],
    finish: FinishReason | None = None,
) -> dict[str, object]:
    choice = {"index": 0, "delta": dict(delta), "finish_reason": finish}
    return {"id": request_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [choice]}  # fmt: skip


def image_response(created: int, pngs: Sequence[bytes]) -> dict[str, object]:
    data = [{"b64_json": base64.b64encode(png).decode()} for png in pngs]
    return {"created": created, "data": data}


def models_response(model: str, created: int, **extra: object) -> dict[str, object]:
    card = {"id": model, "object": "model", "created": created, "owned_by": "waypost", **extra}
    return {"object": "list", "data": [card]}


def error_body(
    message: str, kind: str = "invalid_request_error", **extra: object
) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None, **extra}}


def sse(data: Mapping[str, object] | str) -> bytes:
    """One server-sent event: ``data: JSON\\n\\n`` (or ``data: [DONE]\\n\\n``)."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
