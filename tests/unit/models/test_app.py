"""The built-in server's app over fake models: routes, batching, streaming, errors, prefix.

No torch: the fakes stand in for the backends behind the same protocols.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx
import pytest

from waypost.errors import InvalidSpec
from waypost.models.app import build_app, metrics_text
from waypost.models.backends.base import Prepared, Served
from waypost.models.openai import Generation, GenerationRequest
from waypost.models.tasks import Task
from waypost.prefix import AsgiPrefixMiddleware


class FakeEmbedder:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def embed(self, batch: list[tuple[str, ...]]) -> list[tuple[list[list[float]], int]]:
        self.batches.append(len(batch))
        if any("boom" in text for inputs in batch for text in inputs):
            raise RuntimeError("boom in the model")
        return [([[float(len(t)), 1.0] for t in inputs], len(inputs)) for inputs in batch]


class FakeWriter:
    """Echoes the prompt's words back, one word per piece."""

    def prepare(self, request: GenerationRequest) -> Prepared:
        if request.prompt == "too long":
            raise InvalidSpec("the prompt is too long")
        words = (request.prompt or request.messages[-1].text).split()
        return Prepared(request, tuple(range(len(words))), request.max_tokens or 3)

    def _words(self, item: Prepared) -> list[str]:
        text = item.request.prompt or item.request.messages[-1].text
        return [f"{w} " for w in text.split()][: item.max_new_tokens]

    def generate(self, batch: list[Prepared]) -> list[Generation]:
        return [Generation("".join(self._words(i)), len(i.input_ids), len(self._words(i)),
                           "length") for i in batch]  # fmt: skip

    def stream(
        self, item: Prepared, emit: Callable[[str], None], cancelled: threading.Event
    ) -> Generation:
        for word in self._words(item):
            emit(word)
        return self.generate([item])[0]


def client(model: object, task: Task, batch: int = 8) -> httpx.AsyncClient:
    served = Served("acme/fake", "transformers", task, model, batch, 0.02)
    app = AsgiPrefixMiddleware(build_app(served), ["/acme/p/d/1/serve"])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_embeddings_are_batched_and_errors_stay_with_their_request() -> None:
    model = FakeEmbedder()
    async with client(model, "feature-extraction") as c:
        inputs = ["a", "bb", "boom", ["ccc", "dddd"]]
        responses = await asyncio.gather(
            *(c.post("/v1/embeddings", json={"input": i}) for i in inputs)
        )
        load = (await c.get("/load")).json()
    assert [r.status_code for r in responses] == [200, 200, 500, 200]
    assert responses[0].json()["data"][0]["embedding"] == [1.0, 1.0]
    assert [d["embedding"][0] for d in responses[3].json()["data"]] == [3.0, 4.0]
    assert responses[3].json()["usage"]["prompt_tokens"] == 2
    error = responses[2].json()["error"]
    assert (error["message"], error["type"]) == ("RuntimeError: boom in the model", "server_error")
    assert model.batches == [4, 1, 1, 1, 1]  # the batch failed, then each alone
    assert load["failures"] == 1
    assert load["requests"] == 4
    assert load["in_flight"] == 0


async def test_routes_follow_the_task_and_the_prefix() -> None:
    async with client(FakeEmbedder(), "feature-extraction") as c:
        assert (
            await c.post("/acme/p/d/1/serve/v1/embeddings", json={"input": "x"})
        ).status_code == 200
        assert (await c.post("/v1/completions", json={"prompt": "x"})).status_code == 404
        assert (await c.get("/v1/models")).json()["data"][0]["id"] == "acme/fake"
    async with client(FakeWriter(), "image-text-to-text") as c:
        assert (await c.post("/v1/completions", json={"prompt": "x"})).status_code == 404
        chat = {"messages": [{"role": "user", "content": "hi"}]}
        assert (await c.post("/v1/chat/completions", json=chat)).status_code == 200


async def test_completion_stream() -> None:
    async with client(FakeWriter(), "text-generation") as c:
        body = {"prompt": "one two three four", "max_tokens": 3, "stream": True}
        response = await c.post("/v1/completions", json=body)
        whole = await c.post("/v1/completions", json={**body, "stream": False})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    pieces = [json.loads(e)["choices"][0] for e in events[:-1]]
    assert [p["text"] for p in pieces] == ["one ", "two ", "three ", ""]
    assert [p["finish_reason"] for p in pieces] == [None, None, None, "length"]
    assert whole.json()["choices"][0]["text"] == "one two three "


async def test_chat_stream_starts_with_the_role() -> None:
    async with client(FakeWriter(), "text-generation") as c:
        body = {"messages": [{"role": "user", "content": "a b"}], "stream": True}
        response = await c.post("/v1/chat/completions", json=body)
    events = [json.loads(e.removeprefix("data: ")) for e in response.text.split("\n\n")[:-2]]
    deltas = [e["choices"][0]["delta"] for e in events]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "a "},
        {"content": "b "},
        {},
    ]


async def test_refusals_before_the_model_runs() -> None:
    async with client(FakeWriter(), "text-generation") as c:
        refused = await c.post("/v1/completions", json={"prompt": "too long"})
        broken = await c.post("/v1/completions", content=b"[")
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "the prompt is too long"
    assert broken.status_code == 422


def test_metrics_text() -> None:
    text = metrics_text({"in_flight": 2, "requests": 5}, {"model": "m"})
    assert text == (
        "# TYPE waypost_model_in_flight gauge\n"
        'waypost_model_in_flight{model="m"} 2\n'
        "# TYPE waypost_model_requests_total counter\n"
        'waypost_model_requests_total{model="m"} 5\n'
    )


@pytest.mark.timeout(120)
def test_light_modules_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import waypost.models.frameworks, waypost.models.launch, waypost.models.modeldir\n"
        "import waypost.models.tasks, waypost.models.app, waypost.models.serve\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'diffusers', 'numpy')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=100, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"
