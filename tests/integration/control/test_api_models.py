"""The model store and the CSGHub-compatible run API, in-process (ASGI) over a real SQLite store.

The model directories here are small stand-ins with the right layout (the real
MiniLM model is served in the e2e tests): what is checked is the API's contract —
ids, fields, status codes, one problem per broken rule, and nothing half-applied.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus
from waypost.settings import Settings
from waypost.store import Store

from .test_api import FakeRuntime, bundle

ADMIN = {"Authorization": "Bearer wp_admin"}
READER = {"Authorization": "Bearer wp_reader"}  # read, limited to another project
MODEL = "/api/v1/models/sentence-transformers/minilm"
RUNS = MODEL + "/run"


@dataclass
class Env:
    api: httpx.AsyncClient
    store: Store
    home: Path


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings.db_url)
    tokens = TokenCheck()
    tokens.allow("wp_admin", Principal("alice", "admin"))
    tokens.allow("wp_reader", Principal("reader", "read", "acme/shop"))
    service = ControlService(settings, store, BundleStore(settings.bundles_dir), ChangeSignal())
    app = create_app(ControlContext(service, FakeRuntime(), tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Env(client, store, tmp_path)
    store.close()


def model_tar(files: dict[str, bytes], *, extra: tarfile.TarInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if extra is not None:
            archive.addfile(extra, io.BytesIO(b"x" * extra.size))
    return buffer.getvalue()


EMBEDDER = {
    "config.json": json.dumps({"architectures": ["BertModel"], "model_type": "bert"}).encode(),
    "modules.json": b"[]",
    "model.safetensors": b"\x00" * 64,
}
UNKNOWN_TASK = {
    "config.json": json.dumps({"model_type": "mystery"}).encode(),
    "model.safetensors": b"\x01" * 64,
}


async def add(
    env: Env, files: dict[str, bytes], path: str = MODEL, **params: str
) -> httpx.Response:
    return await env.api.put(
        path,
        content=model_tar(files),
        params=params,
        headers={**ADMIN, "Content-Type": "application/x-tar"},
    )


# -- the model store --------------------------------------------------------------------


async def test_a_model_is_added_listed_shown_and_kept_by_digest(env: Env) -> None:
    added = await add(env, EMBEDDER)

    assert added.status_code == 201, added.text
    model = added.json()
    assert model["id"] == "sentence-transformers/minilm"
    assert model["task"] == "feature-extraction"
    assert model["files"] == 3
    assert (env.home / "models" / model["digest"] / "model.safetensors").is_file()
    listed = await env.api.get("/api/v1/models", headers=ADMIN)
    assert [m["id"] for m in listed.json()] == ["sentence-transformers/minilm"]
    shown = await env.api.get(MODEL, headers=ADMIN)
    assert shown.json() == model
    # The catalogue is readable by a token limited to another project (the console's picker).
    assert (await env.api.get("/api/v1/models", headers=READER)).status_code == 200


async def test_adding_the_same_files_again_is_200_and_other_files_409(env: Env) -> None:
    first = await add(env, EMBEDDER)
    again = await add(env, EMBEDDER)
    other = await add(env, {**EMBEDDER, "model.safetensors": b"\x02" * 64})

    assert again.status_code == 200
    assert again.json()["digest"] == first.json()["digest"]
    assert other.status_code == 409
    assert "immutable" in other.json()["message"]
    kept = [p.name for p in (env.home / "models").iterdir() if not p.name.startswith(".")]
    assert kept == [first.json()["digest"]]  # the refused files were not kept


async def test_the_task_comes_from_the_config_or_must_be_given(env: Env) -> None:
    missing = await add(env, UNKNOWN_TASK, path="/api/v1/models/acme/mystery")
    wrong = await add(env, EMBEDDER, task="text-to-image")
    unknown = await add(env, UNKNOWN_TASK, path="/api/v1/models/acme/mystery", task="juggling")
    given = await add(env, UNKNOWN_TASK, path="/api/v1/models/acme/mystery", task="text-generation")

    assert missing.status_code == 422
    assert "cannot tell the task" in missing.json()["message"]
    assert wrong.status_code == 422
    assert "feature-extraction, not text-to-image" in wrong.json()["message"]
    assert unknown.status_code == 422
    assert "unknown task 'juggling'" in unknown.json()["message"]
    assert given.status_code == 201
    assert given.json()["task"] == "text-generation"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "no body"),
        (b"not a tar archive at all" * 40, "not a readable tar file"),
        (model_tar({"config.json": b"{}"}), "no weights"),
        (model_tar({"readme.md": b"hi", "w.bin": b"0"}), "not a model directory"),
    ],
)
async def test_bad_archives_are_refused_with_a_sentence(
    env: Env, body: bytes, expected: str
) -> None:
    response = await env.api.put(
        MODEL, content=body, headers={**ADMIN, "Content-Type": "application/x-tar"}
    )

    assert response.status_code in (400, 422), response.text
    assert expected in response.json()["message"]
    assert (await env.api.get("/api/v1/models", headers=ADMIN)).json() == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("../escape.bin", tarfile.REGTYPE),
        ("/abs/model.bin", tarfile.REGTYPE),
        ("dev", tarfile.CHRTYPE),
    ],
)
async def test_unsafe_archive_entries_are_refused(env: Env, name: str, kind: bytes) -> None:
    evil = tarfile.TarInfo(name)
    evil.type = kind
    evil.size = 0 if kind == tarfile.CHRTYPE else 4
    response = await env.api.put(
        MODEL,
        content=model_tar(EMBEDDER, extra=evil),
        headers={**ADMIN, "Content-Type": "application/x-tar"},
    )

    assert response.status_code == 422, response.text
    assert "unsafe entry" in response.json()["message"]
    assert not (env.home / "escape.bin").exists()
    assert not (env.home / "models" / "escape.bin").exists()


async def test_model_names_follow_the_name_rules_one_problem_each(env: Env) -> None:
    response = await add(env, EMBEDDER, path="/api/v1/models/-/a__b")

    assert response.status_code == 422
    fields = [p["field"] for p in response.json()["problems"]]
    assert fields.count("owner") == 3  # too short, starts and ends wrong
    assert fields.count("name") == 1  # two specials together


async def test_a_model_in_use_cannot_be_removed_until_its_endpoint_is_gone(env: Env) -> None:
    await add(env, EMBEDDER)
    run = await create_run(env, "embed")

    refused = await env.api.delete(MODEL, headers=ADMIN)
    assert refused.status_code == 409
    assert "sentence-transformers/minilm/embed/1/serve" in refused.json()["message"]

    gone = await env.api.delete(f"{RUNS}/{run['id']}", headers=ADMIN)
    assert gone.status_code == 200, gone.text
    removed = await env.api.delete(MODEL, headers=ADMIN)
    assert removed.status_code == 204
    assert (await env.api.get(MODEL, headers=ADMIN)).status_code == 404
    assert [p for p in (env.home / "models").iterdir() if not p.name.startswith(".")] == []


# -- the CSGHub-compatible API ----------------------------------------------------------


async def framework_id(env: Env, name: str) -> int:
    listed = await env.api.get(MODEL + "/runtime_framework", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    return next(f["id"] for f in listed.json()["data"] if f["name"] == name)


async def create_run(env: Env, deploy_name: str, **fields: Any) -> dict[str, Any]:
    body = {
        "deploy_name": deploy_name,
        "runtime_framework_id": await framework_id(env, "sentence-transformers"),
        **fields,
    }
    response = await env.api.post(RUNS, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.json()["msg"] == "OK"
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_the_catalogues_list_frameworks_for_the_task_clusters_and_resources(
    env: Env,
) -> None:
    await add(env, EMBEDDER)

    frameworks = (await env.api.get(MODEL + "/runtime_framework", headers=ADMIN)).json()["data"]
    clusters = (await env.api.get("/api/v1/cluster", headers=ADMIN)).json()["data"]
    resources = await env.api.get("/api/v1/space_resources?cluster_id=local", headers=ADMIN)
    elsewhere = await env.api.get("/api/v1/space_resources?cluster_id=mars", headers=ADMIN)

    assert "sentence-transformers" in [f["name"] for f in frameworks]
    assert "transformers" not in [f["name"] for f in frameworks]  # it generates, not embeds
    assert all("feature-extraction" in f["tasks"] for f in frameworks)
    schema = next(f for f in frameworks if f["name"] == "sentence-transformers")["engine_args"]
    assert all({"name", "type", "default", "help"} <= set(arg) for arg in schema)
    assert {arg["type"] for arg in schema} <= {"select", "switch", "text", "number"}
    assert [c["cluster_id"] for c in clusters] == ["local"]
    presets = resources.json()["data"]
    assert [p["name"] for p in presets] == ["cpu-small", "cpu-medium", "cpu-large"]
    assert presets[0]["cpu"] == 0.5
    assert presets[0]["memory"] == 2**30
    assert elsewhere.status_code == 404


async def test_a_run_is_a_deployment_of_the_model_project_with_one_serve_endpoint(
    env: Env,
) -> None:
    await add(env, EMBEDDER)
    run = await create_run(
        env,
        "embed",
        min_replica=0,
        max_replica=2,
        secure_level=2,
        resource_id=2,
        engine_args=json.dumps({"max-batch-size": 16}),
    )

    assert run["deploy_name"] == "embed"
    assert run["model_id"] == "sentence-transformers/minilm"
    assert run["status"] == "Building"
    assert run["endpoint"].endswith("/sentence-transformers/minilm/embed/1/serve")
    assert (run["min_replica"], run["max_replica"]) == (0, 2)
    assert run["secure_level"] == 2
    assert run["private"] is True
    assert run["resource_id"] == 2
    assert json.loads(run["engine_args"]) == {"max-batch-size": 16}
    assert run["task"] == "feature-extraction"
    [ep] = env.store.list_endpoints(org="sentence-transformers", project="minilm")
    assert ep.id == run["id"]
    assert (ep.spec.kind, ep.spec.target, ep.spec.model) == (
        "runtime",
        "sentence-transformers",
        "sentence-transformers/minilm",
    )
    assert ep.spec.resources.preset == "cpu-medium"
    # The same run through every read route.
    one = (await env.api.get(f"{RUNS}/{run['id']}", headers=ADMIN)).json()["data"]
    listed = (await env.api.get(RUNS, headers=ADMIN)).json()["data"]
    status = (await env.api.get(f"{RUNS}/{run['id']}/status", headers=ADMIN)).json()["data"]
    logs = await env.api.get(f"{RUNS}/{run['id']}/logs", headers=ADMIN)
    assert one["id"] == run["id"]
    assert [r["id"] for r in listed] == [run["id"]]
    assert status["status"] == "Building"
    assert logs.status_code == 200
    assert "log of" in logs.json()["data"]


async def test_defaults_fill_what_the_request_leaves_out(env: Env) -> None:
    await add(env, EMBEDDER)
    run = await create_run(env, "plain")

    assert (run["min_replica"], run["max_replica"]) == (1, 1)
    assert run["secure_level"] == 1
    assert run["cluster_id"] == "local"
    assert run["resource_id"] == 1  # the installation's default resource


async def test_every_broken_rule_of_a_run_is_one_problem_and_nothing_is_created(
    env: Env,
) -> None:
    await add(env, EMBEDDER)
    body = {
        "deploy_name": "9a--",
        "runtime_framework_id": 9999,
        "cluster_id": "mars",
        "resource_id": 77,
        "min_replica": 3,
        "max_replica": 1,
        "revision": "v2",
        "engine_args": "{not json",
    }
    response = await env.api.post(RUNS, json=body, headers=ADMIN)

    assert response.status_code == 422, response.text
    fields = [p["field"] for p in response.json()["problems"]]
    assert fields.count("deploy_name") == 3  # starts with a digit, ends badly, specials together
    for field in ("runtime_framework_id", "cluster_id", "resource_id", "revision", "engine_args"):
        assert field in fields, fields
    assert any(f.startswith("replica") for f in fields)
    assert env.store.list_endpoints(org="sentence-transformers") == []


async def test_a_framework_for_another_task_and_bad_engine_args_are_refused(env: Env) -> None:
    await add(env, EMBEDDER)
    transformers = await env.api.get("/api/v1/models", headers=ADMIN)
    assert transformers.status_code == 200
    wrong_task = await env.api.post(
        RUNS,
        json={"deploy_name": "gen", "runtime_framework_id": _id_of("transformers")},
        headers=ADMIN,
    )
    bad_arg = await env.api.post(
        RUNS,
        json={
            "deploy_name": "embed",
            "runtime_framework_id": _id_of("sentence-transformers"),
            "engine_args": json.dumps({"no-such-arg": 1}),
        },
        headers=ADMIN,
    )

    assert wrong_task.status_code == 422
    assert "does not serve feature-extraction" in wrong_task.json()["message"]
    assert bad_arg.status_code == 422
    assert "no-such-arg" in bad_arg.json()["message"]


def _id_of(name: str) -> int:
    from waypost.models.frameworks import get_framework

    return get_framework(name).id


async def test_a_run_for_a_model_not_in_the_store_is_404(env: Env) -> None:
    response = await env.api.post(
        "/api/v1/models/acme/ghost/run",
        json={"deploy_name": "x1", "runtime_framework_id": 1},
        headers=ADMIN,
    )

    assert response.status_code == 404
    assert "acme/ghost is not in the model store" in response.json()["message"]


async def test_a_taken_deploy_name_is_a_conflict(env: Env) -> None:
    await add(env, EMBEDDER)
    await create_run(env, "embed")

    again = await env.api.post(
        RUNS,
        json={"deploy_name": "embed", "runtime_framework_id": _id_of("sentence-transformers")},
        headers=ADMIN,
    )

    assert again.status_code == 409
    assert "already has an inference endpoint named 'embed'" in again.json()["message"]


async def test_updates_apply_live_fields_and_keep_the_rest_pending(env: Env) -> None:
    await add(env, EMBEDDER)
    run = await create_run(env, "embed", max_replica=2)
    one = f"{RUNS}/{run['id']}"

    live = await env.api.put(one, json={"min_replica": 0, "secure_level": 2}, headers=ADMIN)
    backwards = await env.api.put(one, json={"min_replica": 2, "max_replica": 1}, headers=ADMIN)
    renamed = await env.api.put(one, json={"deploy_name": "other"}, headers=ADMIN)

    assert live.status_code == 200, live.text
    assert (live.json()["data"]["min_replica"], live.json()["data"]["private"]) == (0, True)
    assert backwards.status_code == 422
    assert "max_replica 1 must be at least min_replica 2" in backwards.json()["message"]
    assert renamed.status_code == 422
    assert "cannot change" in renamed.json()["message"]


async def test_stop_start_wakeup_and_delete_follow_the_lifecycle(env: Env) -> None:
    await add(env, EMBEDDER)
    run = await create_run(env, "embed")
    one = f"{RUNS}/{run['id']}"

    wake = await env.api.put(one + "/wakeup", headers=ADMIN)
    assert wake.status_code == 409  # Building: nothing sleeps
    assert "cannot" in wake.json()["message"]
    missing = await env.api.get(f"{RUNS}/999999", headers=ADMIN)
    assert missing.status_code == 404
    deleted = await env.api.delete(one, headers=ADMIN)
    assert deleted.status_code == 200
    assert (await env.api.get(one, headers=ADMIN)).status_code == 404
    # The name is free again: a new run of the same deploy_name gets version 2.
    again = await create_run(env, "embed")
    assert again["endpoint"].endswith("/embed/2/serve")


async def test_monitor_routes_name_the_instance_that_does_not_exist(env: Env) -> None:
    await add(env, EMBEDDER)
    run = await create_run(env, "embed")

    for path in ("cpu/r-x/usage", "memory/r-x/usage", "request/r-x/count", "request/r-x/latency"):
        response = await env.api.get(f"{RUNS}/{run['id']}/{path}", headers=ADMIN)
        assert response.status_code == 404, path
        assert "no instance 'r-x'" in response.json()["message"]


async def test_request_routes_give_one_instances_requests_errors_and_latency(env: Env) -> None:
    await add(env, EMBEDDER)
    run = await create_run(env, "embed")
    [ep] = env.store.list_endpoints(org="sentence-transformers")
    replica = ReplicaStatus("r-1", ReplicaPhase.READY, "127.0.0.1:9", 99, time.time())
    env.store.save_replicas(ep.key, [replica])
    target = {"key": ep.key.id, "in_flight": 0, "requests": 4, "errors": 1}
    report = {
        "gateway": "gw/1",
        "at": time.time(),
        "interval": 1.0,
        "targets": [{**target, "latency_ms_sum": 50.0, "replica_requests": {"r-1": [4, 1, 50.0]}}],
    }
    reported = await env.api.post("/api/v1/internal/report", json=report, headers=ADMIN)
    assert reported.status_code == 204, reported.text

    count = await env.api.get(f"{RUNS}/{run['id']}/request/r-1/count", headers=ADMIN)
    latency = await env.api.get(f"{RUNS}/{run['id']}/request/r-1/latency", headers=ADMIN)

    assert count.json() == {
        "msg": "OK",
        "data": {"instance": "r-1", "window_seconds": 60.0, "requests": 4, "errors": 1},
    }
    assert latency.json() == {
        "msg": "OK",
        "data": {"instance": "r-1", "window_seconds": 60.0, "requests": 4, "latency_ms_mean": 12.5},
    }


async def test_a_read_token_of_another_project_cannot_create_runs(env: Env) -> None:
    await add(env, EMBEDDER)

    response = await env.api.post(
        RUNS, json={"deploy_name": "embed", "runtime_framework_id": 1}, headers=READER
    )

    assert response.status_code == 403


async def test_a_versions_bundle_is_served_by_digest_to_internal_callers_only(env: Env) -> None:
    await add(env, EMBEDDER)
    await create_run(env, "embed")
    [ep] = env.store.list_endpoints(org="sentence-transformers")
    path = f"/api/v1/internal/bundles/{ep.bundle_digest}"

    fetched = await env.api.get(path, headers=ADMIN)
    refused = await env.api.get(path, headers=READER)
    unknown = await env.api.get("/api/v1/internal/bundles/" + "0" * 64, headers=ADMIN)
    malformed = await env.api.get("/api/v1/internal/bundles/..%2f..%2fetc", headers=ADMIN)

    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == ep.bundle_digest
    with tarfile.open(fileobj=io.BytesIO(fetched.content)) as archive:
        assert archive.getnames() == ["waypost.yaml"]
    assert refused.status_code == 403
    assert unknown.status_code == 404
    assert malformed.status_code in (404, 422)


async def test_a_version_naming_an_unknown_cloud_resource_is_refused(env: Env) -> None:
    files = {
        "waypost.yaml": "project: acme/shop\ndeployment: hello\nendpoints:\n"
        "  - {name: web, wsgi: 'app:app', resources: {preset: gpu-huge}}\n",
        "app.py": "app = None\n",
    }
    response = await env.api.post(
        "/api/v1/projects/acme/shop/deployments/hello/versions",
        files={"bundle": ("b.tar.gz", bundle(files), "application/gzip")},
        headers=ADMIN,
    )

    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert problem["field"] == "web.resources.preset"
    assert "unknown cloud resource 'gpu-huge'" in problem["message"]
    assert "cpu-small" in problem["message"]  # the known ones are named
