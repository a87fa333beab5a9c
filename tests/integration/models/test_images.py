"""Text to image (tiny diffusers pipeline) and image-text-to-text (tiny LLaVA) servers."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.tiny_models import png_bytes

from .conftest import ModelServer, serving


@pytest.fixture(scope="module")
def images(tiny_image_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    yield from serving(tmp_path_factory.mktemp("sd"), "transformers", tiny_image_dir,
                       "text-to-image", {"num-inference-steps": 2})  # fmt: skip


@pytest.fixture(scope="module")
def vlm(tiny_vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    yield from serving(tmp_path_factory.mktemp("vlm"), "transformers", tiny_vlm_dir,
                       "image-text-to-text")  # fmt: skip


def test_generates_pngs_of_the_asked_size(images: ModelServer) -> None:
    body = {"prompt": "a red fox", "n": 2, "size": "32x48"}
    response = httpx.post(f"{images.url}/v1/images/generations", json=body, timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["created"], int)
    assert len(body["data"]) == 2
    for item in body["data"]:
        picture = Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))
        assert picture.format == "PNG"
        assert picture.size == (32, 48)


def test_a_seed_repeats_the_image(images: ModelServer) -> None:
    request = {"prompt": "a fox", "size": "16x16", "seed": 3, "num_inference_steps": 1}
    first = httpx.post(f"{images.url}/v1/images/generations", json=request, timeout=120).json()
    again = httpx.post(f"{images.url}/v1/images/generations", json=request, timeout=120).json()
    assert first["data"] == again["data"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"prompt": "x", "size": "30x30"}, "size", id="not-multiple-of-8"),
        pytest.param({"prompt": "x", "response_format": "url"}, "response_format", id="url"),
        pytest.param({"size": "16x16"}, "prompt", id="no-prompt"),
        pytest.param({"prompt": "x", "n": 20}, "n", id="too-many"),
    ],
)
def test_image_refusals(images: ModelServer, body: dict[str, object], field: str) -> None:
    response = httpx.post(f"{images.url}/v1/images/generations", json=body, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["problems"][0]["field"] == field


def test_chat_about_an_image(vlm: ModelServer) -> None:
    url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    content = [{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": url}}]  # fmt: skip
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 5}
    response = httpx.post(f"{vlm.url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["object"] == "chat.completion"
    assert result["choices"][0]["message"]["role"] == "assistant"
    assert result["usage"]["completion_tokens"] <= 5
    # The image became image tokens: the prompt is longer than its text alone.
    text_only = {"messages": [{"role": "user", "content": "what is this?"}], "max_tokens": 5}
    plain = httpx.post(f"{vlm.url}/v1/chat/completions", json=text_only, timeout=120).json()
    assert result["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"]


def test_vlm_streams_and_refuses_bad_images(vlm: ModelServer) -> None:
    url = "data:image/png;base64," + base64.b64encode(png_bytes(16, 24)).decode()
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "hi"}]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 4, "stream": True}
    response = httpx.post(f"{vlm.url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200
    assert response.text.endswith("data: [DONE]\n\n")
    bad = {"type": "image_url", "image_url": {"url": "data:image/png;base64,bm90IGFuIGltYWdl"}}
    response = httpx.post(f"{vlm.url}/v1/chat/completions", timeout=60,
                          json={"messages": [{"role": "user", "content": [bad]}]})  # fmt: skip
    assert response.status_code == 422
    assert "not an image PIL can read" in response.text
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    response = httpx.post(f"{vlm.url}/v1/chat/completions", timeout=60,
                          json={"messages": [{"role": "user", "content": [remote]}]})  # fmt: skip
    assert response.status_code == 422
    assert "no downloads" in response.text
    assert httpx.post(f"{vlm.url}/v1/completions", json={}, timeout=10).status_code == 404
