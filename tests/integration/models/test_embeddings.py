"""Real all-MiniLM-L6-v2 embeddings through the built-in server, with and without batching."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import ModelServer, serving

SIMILAR = ("A man is eating food.", "A man is eating a piece of bread.")
UNRELATED = "The new movie is awesome and the theater was full."
PREFIX = "acme/minilm/embed/1/serve"


@pytest.fixture(scope="module")
def server(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    yield from serving(
        tmp_path_factory.mktemp("minilm"),
        "sentence-transformers",
        minilm_dir,
        "feature-extraction",
        {"max-batch-size": 16, "max-batch-wait-ms": 20},
        env={"VH_DEFAULT_PREFIX": PREFIX, "SCRIPT_NAME": f"/{PREFIX}"},
    )


def embed(url: str, inputs: object, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json={"input": inputs, "model": "x"},
                      headers=headers, timeout=60)  # fmt: skip


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_real_embeddings(server: ModelServer) -> None:
    response = embed(server.url, [*SIMILAR, UNRELATED])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == "acme/tiny"
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert {d["object"] for d in body["data"]} == {"embedding"}
    vectors = [d["embedding"] for d in body["data"]]
    assert all(len(v) == 384 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-3 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 10


def test_single_string_input(server: ModelServer) -> None:
    body = embed(server.url, SIMILAR[0]).json()
    assert len(body["data"]) == 1
    assert len(body["data"][0]["embedding"]) == 384


def test_served_under_the_replica_prefix_and_an_alias_prefix(server: ModelServer) -> None:
    plain = embed(server.url, UNRELATED).json()["data"][0]["embedding"]
    prefixed = httpx.post(f"{server.url}/{PREFIX}/v1/embeddings", json={"input": UNRELATED},
                          timeout=60)  # fmt: skip
    assert prefixed.status_code == 200, prefixed.text
    alias = "acme/minilm/embed/production/serve"
    aliased = httpx.post(f"{server.url}/{alias}/v1/embeddings", json={"input": UNRELATED},
                         headers={"X-VH-Prefix": alias}, timeout=60)  # fmt: skip
    assert aliased.status_code == 200, aliased.text
    for response in (prefixed, aliased):
        vector = response.json()["data"][0]["embedding"]
        assert cosine(plain, vector) > 0.9999
    assert httpx.get(f"{server.url}/{PREFIX}/health", timeout=10).status_code == 200
    assert httpx.get(f"{server.url}/elsewhere/v1/embeddings", timeout=10).status_code == 404


def test_concurrent_requests_are_batched_and_answered_correctly(server: ModelServer) -> None:
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'the stock market'}"
             for i in range(24)]  # fmt: skip
    alone = {t: embed(server.url, t).json()["data"][0]["embedding"] for t in texts[:4]}
    before = httpx.get(f"{server.url}/load", timeout=10).json()

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            return await asyncio.gather(
                *(client.post("/v1/embeddings", json={"input": t}) for t in texts)
            )

    responses = asyncio.run(send_all())
    assert all(r.status_code == 200 for r in responses)
    after = httpx.get(f"{server.url}/load", timeout=10).json()
    batches = after["batches"] - before["batches"]
    assert after["batched_items"] - before["batched_items"] == len(texts)
    assert batches < len(texts)  # some requests shared a model call
    assert after["largest_batch"] > 1
    for text, response in zip(texts[:4], responses, strict=False):
        assert cosine(alone[text], response.json()["data"][0]["embedding"]) > 0.9999


def test_bad_requests_get_openai_errors_and_do_not_harm_others(server: ModelServer) -> None:
    bodies: list[dict[str, object]] = [{"input": 3}, {"input": []}, {"input": [""]}, {"nope": 1}]
    for body in bodies:
        response = httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=10)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["problems"][0]["field"] == "input"
    broken = httpx.post(f"{server.url}/v1/embeddings", content=b"{not json", timeout=10)
    assert broken.status_code == 422
    assert "not valid JSON" in broken.json()["error"]["message"]
    assert embed(server.url, "still fine").status_code == 200


def test_health_models_load_and_metrics(server: ModelServer) -> None:
    assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"
    models = httpx.get(f"{server.url}/v1/models", timeout=10).json()
    assert models["data"][0]["id"] == "acme/tiny"
    assert models["data"][0]["task"] == "feature-extraction"
    load = httpx.get(f"{server.url}/load", timeout=10).json()
    assert load["in_flight"] == 0
    assert load["max_batch_size"] == 16
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "# TYPE waypost_model_in_flight gauge" in metrics
    assert 'waypost_model_requests_total{model="acme/tiny",task="feature-extraction"}' in metrics
    assert httpx.post(f"{server.url}/v1/completions", json={}, timeout=10).status_code == 404


#: Varied sentences, none in the int8 calibration set (backends/embeddings.py): words,
#: questions, numbers, code, URLs, other languages, and sentences up to ~60 words.
INT8_PROBE = [
    "Yes",
    "No.",
    "hello",
    "Why not?",
    "42",
    "an",
    "Good morning!",
    "OK, thanks.",
    "See you tomorrow.",
    "It is raining again.",
    "The quick brown fox jumps over the lazy dog.",
    "I would like two coffees and a croissant, please.",
    "How do I reset my password?",
    "Our quarterly revenue grew by 12% compared to last year.",
    "The patient was prescribed 500 mg of amoxicillin twice daily.",
    "for i in range(10): print(i * i)",
    "git commit -m 'fix the flaky test'",
    "https://docs.python.org/3/library/asyncio.html",
    "ERROR: connection refused (errno 111)",
    "Le chat dort sur le canapé.",
    "¿Dónde está la biblioteca?",
    "Ich habe keine Zeit.",
    "東京は日本の首都です。",
    "Emoji test 🙂🚀",
    "3.14159 2.71828 1.41421",
    "The mitochondria is the powerhouse of the cell.",
    "She sells sea shells by the sea shore.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The court ruled that the contract was void because one party lacked capacity.",
    "Please send the invoice to accounts@example.com before Friday.",
    "A transformer encoder maps a sequence of tokens to contextual vectors.",
    "The recipe calls for flour, sugar, butter, eggs and a pinch of salt.",
    "After the storm, the village spent weeks repairing roofs and clearing the roads.",
    "Interest rates rose sharply, and mortgage applications fell to a ten-year low.",
    "The orchestra tuned their instruments while the audience found their seats.",
    "Kubernetes schedules pods onto nodes according to their resource requests.",
    "He forgot his umbrella, so he arrived at the meeting completely soaked.",
    "The museum's new exhibition features paintings from the Dutch golden age.",
    "Volcanic eruptions can inject sulfur dioxide into the stratosphere and cool the climate.",
    "Our support team answers questions about billing, shipping and returns around the clock.",
    "The algorithm sorts the list in place and runs in O(n log n) time on average.",
    "When the train finally arrived, forty minutes late, the platform was packed with"
    " commuters who had given up on the bus.",
    "The committee reviewed the proposal in detail, asked for a revised budget, and agreed"
    " to vote on it again at the next monthly meeting.",
    "Despite the early setbacks, the team shipped the new release on schedule, fixed the"
    " remaining bugs within a week, and saw adoption double over the following quarter.",
    "In the beginning God created the heaven and the earth. And the earth was without form,"
    " and void; and darkness was upon the face of the deep.",
    "The experiment measured the thermal conductivity of the alloy at temperatures ranging"
    " from 20 to 600 kelvin, and found a sharp drop near the phase transition.",
    "Customers who bought this item also bought a charging cable, a protective case, a"
    " screen protector and an extended warranty covering accidental damage for two years.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was"
    " the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.",
    "To install the package, create a virtual environment, activate it, run pip install"
    " with the extras you need, and then check the version printed by the command line tool.",
    "The city council approved a plan to convert two downtown streets into pedestrian zones,"
    " add protected bike lanes along the river, and extend the tram line to the new hospital,"
    " with construction expected to start next spring and last about three years.",
    "Large language models are trained on vast amounts of text and can answer questions,"
    " summarize documents, translate between languages and write code, but they can also"
    " produce confident answers that are wrong, so their output should be checked.",
    "dog",
    "Paris",
    "running fast",
    "blue sky",
    "zero",
    "What time is it?",
    "Call me later.",
    "The end.",
    "Really?!",
    "A",
    "x = y + 1",
]


def test_int8_embeddings_stay_close_to_fp32(
    server: ModelServer, minilm_dir: Path, tmp_path: Path
) -> None:
    """Calibrated int8 keeps every embedding within cosine 0.99 of float32's, in one big
    batch (one request) and in small ones (concurrent single-sentence requests)."""
    assert len(INT8_PROBE) >= 50
    fp32 = [d["embedding"] for d in embed(server.url, INT8_PROBE).json()["data"]]

    async def one_by_one(url: str, texts: list[str]) -> list[list[float]]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            responses = await asyncio.gather(
                *(client.post("/v1/embeddings", json={"input": t}) for t in texts)
            )
        return [r.json()["data"][0]["embedding"] for r in responses]

    for int8_server in serving(tmp_path, "sentence-transformers", minilm_dir, "feature-extraction",
                               {"max-batch-size": 8, "max-batch-wait-ms": 5},
                               quantization="int8"):  # fmt: skip
        response = embed(int8_server.url, INT8_PROBE)
        assert response.status_code == 200, response.text
        batched = [d["embedding"] for d in response.json()["data"]]
        single = asyncio.run(one_by_one(int8_server.url, INT8_PROBE))
        log = int8_server.output()
    for int8 in (batched, single):
        similarities = [cosine(a, b) for a, b in zip(fp32, int8, strict=True)]
        assert min(similarities) >= 0.99, sorted(zip(similarities, INT8_PROBE, strict=True))[:5]
    assert fp32 != batched  # quantization did change the computation
    assert "kept in float32" in log
    assert "calibration similarity" in log
