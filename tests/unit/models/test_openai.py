"""Parsing OpenAI-style request bodies and building responses (pure)."""

from __future__ import annotations

import base64
import json

import pytest

from waypost.errors import InvalidSpec
from waypost.models import openai
from waypost.models.openai import Generation


def problems(call: object) -> list[tuple[str | None, str]]:
    assert callable(call)
    with pytest.raises(InvalidSpec) as caught:
        call()
    return [(p.field, p.message) for p in caught.value.problems]


def test_embedding_inputs() -> None:
    assert openai.parse_embedding({"input": "hi"}).inputs == ("hi",)
    parsed = openai.parse_embedding(
        {"input": ["a", "b"], "model": "m", "encoding_format": "base64"}
    )
    assert parsed == openai.EmbeddingRequest(("a", "b"), "m", "base64")
    assert problems(lambda: openai.parse_embedding({"input": ["a", 1]})) == [
        ("input", "must be a string or a non-empty list of strings")
    ]
    assert problems(lambda: openai.parse_embedding([1])) == [
        (None, "the request body must be a JSON object"),
        ("input", "must be a string or a non-empty list of strings"),
    ]
    too_many = {"input": ["x"] * (openai.MAX_INPUTS + 1)}
    assert problems(lambda: openai.parse_embedding(too_many))[0][0] == "input"


def test_completion_fields_and_defaults() -> None:
    parsed = openai.parse_completion({"prompt": ["once"], "max_tokens": 5, "stop": "\n"})
    assert parsed.prompt == "once"
    assert (parsed.max_tokens, parsed.stop, parsed.temperature, parsed.stream) == (
        5,
        ("\n",),
        1.0,
        False,
    )
    assert openai.parse_completion({"prompt": "x", "max_completion_tokens": 3}).max_tokens == 3
    found = problems(lambda: openai.parse_completion(
        {"prompt": 1, "max_tokens": True, "temperature": -1, "stream": "yes", "stop": [1], "n": 3}
    ))  # fmt: skip
    assert [field for field, _ in found] == ["prompt", "max_tokens", "stop", "temperature",
                                             "stream", "n"]  # fmt: skip


def test_chat_with_image_parts() -> None:
    png = b"\x89PNG fake"
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    body = {"messages": [
        {"role": "system", "content": "short answers"},
        {"role": "user", "content": [{"type": "text", "text": "what is"},
                                     {"type": "image_url", "image_url": {"url": url}},
                                     {"type": "text", "text": "this?"}]},
    ]}  # fmt: skip
    parsed = openai.parse_chat(body, images=True)
    assert parsed.prompt is None
    assert parsed.messages[0] == openai.Message("system", "short answers")
    assert parsed.messages[1] == openai.Message("user", "what is\nthis?", (png,))
    assert problems(lambda: openai.parse_chat(body, images=False)) == [
        ("messages[1].content[1]", "this model takes text only")
    ]


def test_chat_refusals() -> None:
    assert problems(lambda: openai.parse_chat({"messages": []}, images=True)) == [
        ("messages", "must be a non-empty list")
    ]
    remote = {"type": "image_url", "image_url": {"url": "http://x/y.png"}}
    bad = {"messages": [{"role": "wizard", "content": "x"}, {"content": "x"},
                        {"role": "user", "content": [remote]}]}  # fmt: skip
    assert [field for field, _ in problems(lambda: openai.parse_chat(bad, images=True))] == [
        "messages[0].role", "messages[1]", "messages[2].content[0].image_url",
    ]  # fmt: skip


def test_image_request() -> None:
    parsed = openai.parse_image({"prompt": "fox", "n": 2, "size": "64x32", "seed": 1},
                                default_steps=4)  # fmt: skip
    assert parsed == openai.ImageRequest("fox", 2, 64, 32, 4, 1, None)
    assert [f for f, _ in problems(lambda: openai.parse_image({"size": "7x7"}))] == [
        "prompt", "size",
    ]  # fmt: skip


def test_responses() -> None:
    result = Generation("hello", prompt_tokens=3, completion_tokens=2, finish_reason="stop")
    body = openai.chat_response("id1", "m", 10, result)
    assert body["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                                "finish_reason": "stop"}]  # fmt: skip
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert openai.completion_response("id2", "m", 10, result)["object"] == "text_completion"
    embedded = openai.embedding_response("m", [[1.0, 0.5]], 4, "base64")
    data = embedded["data"]
    assert isinstance(data, list)
    raw = base64.b64decode(data[0]["embedding"])
    assert len(raw) == 8
    assert openai.image_response(5, [b"png"]) == {"created": 5, "data": [{"b64_json": "cG5n"}]}


def test_sse() -> None:
    assert openai.sse("[DONE]") == b"data: [DONE]\n\n"
    event = openai.sse(openai.chat_chunk("c", "m", 1, {"content": "é"}))
    assert event.startswith(b"data: {")
    assert event.endswith(b"}\n\n")
    assert json.loads(event[6:])["choices"][0]["delta"] == {"content": "é"}
