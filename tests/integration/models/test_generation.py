"""A tiny random Llama served by the transformers framework: completions, chat, streaming."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from .conftest import ModelServer, serving


@pytest.fixture(scope="module")
def server(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    yield from serving(
        tmp_path_factory.mktemp("tiny-llama"),
        "transformers",
        tiny_dir,
        "text-generation",
        {"max-batch-size": 4, "max-batch-wait-ms": 20, "default-max-tokens": 5},
    )


def post(server: ModelServer, path: str, body: Mapping[str, object]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def events(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = response.text.split("\n\n")
    assert chunks[-1] == ""
    assert all(c.startswith("data: ") for c in chunks[:-1])
    return [c.removeprefix("data: ") for c in chunks[:-1]]


def test_completion(server: ModelServer) -> None:
    response = post(server, "/v1/completions", {"prompt": "hello world", "max_tokens": 7,
                                                "temperature": 0})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    (choice,) = body["choices"]
    assert isinstance(choice["text"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 <= usage["completion_tokens"] <= 7
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 7


def test_default_max_tokens_comes_from_the_engine_args(server: ModelServer) -> None:
    body = post(server, "/v1/completions", {"prompt": "the quick", "temperature": 0}).json()
    assert body["usage"]["completion_tokens"] <= 5


def test_chat_completion(server: ModelServer) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    body = post(server, "/v1/chat/completions", {"messages": messages, "max_tokens": 6}).json()
    assert body["object"] == "chat.completion"
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert body["usage"]["completion_tokens"] <= 6


def test_streamed_completion_equals_the_greedy_one(server: ModelServer) -> None:
    request = {"prompt": "waypost turns", "max_tokens": 10, "temperature": 0}
    whole = post(server, "/v1/completions", request).json()["choices"][0]
    streamed = events(post(server, "/v1/completions", {**request, "stream": True}))
    assert streamed[-1] == "[DONE]"
    chunks = [json.loads(e) for e in streamed[:-1]]
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert len({c["id"] for c in chunks}) == 1
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == whole["finish_reason"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["text"]
    if whole["text"]:
        assert len(chunks) > 2  # text came piece by piece


def test_streamed_chat(server: ModelServer) -> None:
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 6, "stream": True,
            "temperature": 0}  # fmt: skip
    streamed = events(post(server, "/v1/chat/completions", body))
    assert streamed[-1] == "[DONE]"
    chunks = [json.loads(e) for e in streamed[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    whole = post(server, "/v1/chat/completions", {**body, "stream": False}).json()
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]


def test_concurrent_requests_share_batches(server: ModelServer) -> None:
    before = httpx.get(f"{server.url}/load", timeout=10).json()

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            return await asyncio.gather(*(
                client.post("/v1/completions", json={"prompt": f"hello {i}", "max_tokens": 4,
                                                     "temperature": 0})
                for i in range(8)
            ))  # fmt: skip

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * 8
    after = httpx.get(f"{server.url}/load", timeout=10).json()
    assert after["batched_items"] - before["batched_items"] == 8
    assert after["batches"] - before["batches"] < 8


def test_sampling_with_a_seed_repeats(server: ModelServer) -> None:
    request = {"prompt": "hello", "max_tokens": 8, "temperature": 1.0, "seed": 7}
    first = post(server, "/v1/completions", request).json()["choices"][0]["text"]
    assert post(server, "/v1/completions", request).json()["choices"][0]["text"] == first


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"prompt": 5}, "prompt", id="prompt-type"),
        pytest.param({"prompt": "x", "max_tokens": 0}, "max_tokens", id="max-tokens"),
        pytest.param({"prompt": "x", "max_tokens": 1000}, "max_tokens", id="beyond-context"),
        pytest.param({"prompt": "hello " * 300}, "prompt", id="prompt-too-long"),
        pytest.param({"prompt": "x", "temperature": 3}, "temperature", id="temperature"),
        pytest.param({"prompt": "x", "n": 2}, "n", id="n"),
    ],
)
def test_refusals(server: ModelServer, body: dict[str, object], field: str) -> None:
    response = post(server, "/v1/completions", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["problems"][0]["field"] == field


def test_text_model_refuses_images(server: ModelServer) -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    body = {"messages": [{"role": "user", "content": [part]}]}
    response = post(server, "/v1/chat/completions", body)
    assert response.status_code == 422
    assert "this model takes text only" in response.text
