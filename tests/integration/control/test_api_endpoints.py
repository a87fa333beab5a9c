"""Endpoint actions, settings and deletion through the API, in-process, over a real SQLite store.

States are set through the store (as the reconciler would); a ``Reconciler`` over a
recording fake runtime plays the passes that matter (applying a pending spec).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import Principal, TokenCheck
from waypost.control.blobs import BundleStore
from waypost.control.loop import Reconciler
from waypost.control.service import ControlService
from waypost.control.watch import ChangeSignal
from waypost.model.lifecycle import EndpointState
from waypost.model.prefix import UnitKey
from waypost.runtimes.base import LogChunk, ReplicaStatus, Workload
from waypost.settings import Settings
from waypost.store import Store

from .test_api import AUTH, TOKEN, bundle

S = EndpointState
KEY = UnitKey("acme", "shop", "hello", 1, "web")
ONE = "/api/v1/endpoints/acme/shop/hello/1/web"

APP = {
    "waypost.yaml": "project: acme/shop\ndeployment: hello\nendpoints:\n"
    "  - name: web\n    wsgi: app:app\n    engine-args: {dtype: float16}\n",
    "app.py": "app = None\n",
}


@dataclass
class RecordingRuntime:
    """A runtime that runs nothing and remembers what it was asked."""

    name: str = "recording"
    scaled: list[tuple[UnitKey, int]] = field(default_factory=list)
    removed: list[UnitKey] = field(default_factory=list)

    async def start(self) -> None: ...
    async def build(self, workload: Workload, log: Callable[[str], None]) -> None: ...
    async def scale(self, workload: Workload, replicas: int) -> None:
        self.scaled.append((workload.key, replicas))

    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        return {}

    async def remove(self, key: UnitKey) -> None:
        self.removed.append(key)

    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        return LogChunk("", 0)

    async def close(self) -> None: ...


@dataclass
class Harness:
    api: httpx.AsyncClient
    store: Store
    runtime: RecordingRuntime
    reconciler: Reconciler
    pokes: list[str]

    def to(self, state: EndpointState) -> None:
        """Put the endpoint in ``state`` as the reconciler would."""
        self.store.record_transition(KEY, state, reason="test", actor="system")

    async def get(self) -> dict[str, Any]:
        response = await self.api.get(ONE, headers=AUTH)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def patch(self, body: dict[str, Any]) -> httpx.Response:
        return await self.api.patch(ONE, json=body, headers=AUTH)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings(home=tmp_path)
    store = Store.open(settings.db_url)
    tokens = TokenCheck()
    tokens.allow(TOKEN, Principal("tester", "admin"))
    runtime = RecordingRuntime()
    changes = ChangeSignal()
    bundles = BundleStore(settings.bundles_dir)
    pokes: list[str] = []
    reconciler = Reconciler(store, runtime, bundles, changes)
    service = ControlService(
        settings,
        store,
        bundles,
        changes,
        traffic=reconciler.traffic,
        on_waiting=lambda: pokes.append("poke"),
    )
    app = create_app(ControlContext(service, runtime, tokens))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        created = await client.post(
            "/api/v1/projects/acme/shop/deployments/hello/versions",
            files={"bundle": ("b.tar.gz", bundle(APP), "application/gzip")},
            headers=AUTH,
        )
        assert created.status_code == 201, created.text
        yield Harness(client, store, runtime, reconciler, pokes)
    await reconciler.close()
    store.close()


# -- actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "new_state", "desired"),
    [
        pytest.param(S.RUNNING, "stop", "Stopped", "stopped", id="stop-running"),
        pytest.param(S.SLEEPING, "stop", "Stopped", "stopped", id="stop-sleeping"),
        pytest.param(S.BUILDING, "stop", "Stopped", "stopped", id="stop-building"),
        pytest.param(S.STOPPED, "start", "Deploying", "running", id="start-stopped"),
        pytest.param(S.RUNNING, "restart", "Deploying", "running", id="restart-running"),
        pytest.param(S.STOPPED, "restart", "Deploying", "running", id="restart-stopped"),
        pytest.param(S.RUNTIME_ERROR, "restart", "Building", "running", id="restart-error"),
        pytest.param(S.DEPLOY_FAILED, "restart", "Building", "running", id="restart-failed"),
        pytest.param(S.SLEEPING, "wake", "Sleeping", "running", id="wake-sleeping"),
    ],
)
async def test_actions(
    harness: Harness, state: EndpointState, action: str, new_state: str, desired: str
) -> None:
    harness.to(state)
    response = await harness.api.put(f"{ONE}/{action}", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == new_state
    assert body["desired"] == desired
    events = (await harness.api.get(f"{ONE}/events", headers=AUTH)).json()
    last = events[-1]
    assert (last["from_state"], last["to_state"], last["actor"]) == (
        state.value,
        new_state,
        "tester",
    )
    assert last["reason"] == (
        "woken by tester" if action == "wake" else f"{action} asked by tester"
    )


async def test_wake_stores_a_replica_and_pokes_the_reconciler(harness: Harness) -> None:
    harness.to(S.RUNNING)
    harness.to(S.SLEEPING)
    harness.store.set_replicas_desired(KEY, 0)
    body = (await harness.api.put(f"{ONE}/wake", headers=AUTH)).json()
    assert body["replicas"]["desired"] == 1
    assert harness.pokes == ["poke"]


@pytest.mark.parametrize(
    ("state", "action", "sentence"),
    [
        pytest.param(S.RUNNING, "start", "cannot start: endpoint is Running", id="start-running"),
        pytest.param(
            S.BUILDING, "start", "cannot start: endpoint is Building", id="start-building"
        ),
        pytest.param(S.STOPPED, "stop", "cannot stop: endpoint is Stopped", id="stop-stopped"),
        pytest.param(
            S.RUNTIME_ERROR, "stop", "cannot stop: endpoint is RuntimeError", id="stop-failed"
        ),
        pytest.param(
            S.DEPLOYING, "restart", "cannot restart: endpoint is Deploying", id="restart-deploying"
        ),
        pytest.param(S.RUNNING, "wake", "cannot wake: endpoint is Running", id="wake-running"),
        pytest.param(S.STOPPED, "wake", "cannot wake: endpoint is Stopped", id="wake-stopped"),
    ],
)
async def test_actions_that_do_not_fit_are_409_with_a_sentence(
    harness: Harness, state: EndpointState, action: str, sentence: str
) -> None:
    harness.to(state)
    before = (await harness.api.get(f"{ONE}/events", headers=AUTH)).json()
    response = await harness.api.put(f"{ONE}/{action}", headers=AUTH)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert response.json()["message"].startswith(sentence)
    assert (await harness.api.get(f"{ONE}/events", headers=AUTH)).json() == before


async def test_unknown_action_and_endpoint(harness: Harness) -> None:
    assert (await harness.api.put(f"{ONE}/explode", headers=AUTH)).status_code in (404, 405)
    missing = await harness.api.put("/api/v1/endpoints/acme/shop/hello/9/web/stop", headers=AUTH)
    assert missing.status_code == 404
    assert "no endpoint" in missing.json()["message"]


# -- settings ---------------------------------------------------------------------------------


async def test_live_settings_apply_at_once_and_reach_the_route_table(harness: Harness) -> None:
    harness.to(S.RUNNING)
    response = await harness.patch(
        {
            "replicas": {"min": 0, "max": 3},
            "visibility": "private",
            "autoscaling": {"target-concurrency": 2, "idle-timeout": "30s"},
        }
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["spec"]["replicas"] == {"min": 0, "max": 3}
    assert body["spec"]["visibility"] == "private"
    assert body["spec"]["autoscaling"] == {"target_concurrency": 2.0, "idle_timeout": 30.0}
    assert body["pending_spec"] is None
    assert body["state"] == "Running"
    routes = (await harness.api.get("/api/v1/internal/routes", headers=AUTH)).json()
    [target] = [t for t in routes["targets"] if t["key"] == KEY.id]
    assert target["visibility"] == "private"
    events = (await harness.api.get(f"{ONE}/events", headers=AUTH)).json()
    assert events[-1]["kind"] == "settings"
    assert events[-1]["reason"].startswith("settings changed by tester: ")
    assert "replicas.max 1 → 3" in events[-1]["reason"]
    assert "visibility public → private" in events[-1]["reason"]
    assert (await harness.get())["reason"] == "test", "a settings change keeps the state's reason"


async def test_settings_needing_new_replicas_wait_for_a_restart_while_running(
    harness: Harness,
) -> None:
    harness.to(S.RUNNING)
    response = await harness.patch(
        {"resources": {"cpu": 2, "memory": "1Gi"}, "engine_args": {"max_len": 512}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["spec"]["resources"]["cpu"] is None
    assert body["pending_spec"]["resources"]["cpu"] == 2.0
    assert body["pending_spec"]["resources"]["memory"] == 2**30
    assert body["pending_spec"]["engine_args"] == {"dtype": "float16", "max_len": 512}
    assert "resources.cpu none → 2" in body["pending_changes"]

    # A live change while something waits reaches both the spec and the pending spec.
    body = (await harness.patch({"replicas": {"max": 2}})).json()
    assert body["spec"]["replicas"]["max"] == 2
    assert body["pending_spec"]["replicas"]["max"] == 2
    assert body["pending_spec"]["resources"]["cpu"] == 2.0

    restarted = (await harness.api.put(f"{ONE}/restart", headers=AUTH)).json()
    assert restarted["state"] == "Deploying"
    await harness.reconciler.tick()  # the restart takes the pending spec first
    body = await harness.get()
    assert body["pending_spec"] is None
    assert body["spec"]["resources"]["cpu"] == 2.0
    assert body["spec"]["engine_args"] == {"dtype": "float16", "max_len": 512}
    assert body["state"] == "Deploying"
    await harness.reconciler.tick()  # then places the replicas of the new spec
    assert (await harness.get())["state"] == "Startup"
    assert harness.runtime.scaled[-1] == (KEY, 1)
    events = (await harness.api.get(f"{ONE}/events", headers=AUTH)).json()
    assert any(e["reason"].startswith("pending settings applied: ") for e in events)


async def test_settings_apply_at_once_while_stopped(harness: Harness) -> None:
    harness.to(S.RUNNING)
    await harness.patch({"quantization": "int8"})
    harness.to(S.STOPPED)
    body = (await harness.patch({"engine_args": {"dtype": None}})).json()
    assert body["pending_spec"] is None
    assert body["spec"]["quantization"] == "int8"  # what waited is applied with it
    assert body["spec"]["engine_args"] == {}


async def test_changing_back_drops_the_pending_spec(harness: Harness) -> None:
    harness.to(S.RUNNING)
    assert (await harness.patch({"quantization": "int8"})).json()["pending_spec"] is not None
    assert (await harness.patch({"quantization": None})).json()["pending_spec"] is None
    events = (await harness.api.get(f"{ONE}/events", headers=AUTH)).json()
    assert [e["reason"] for e in events[-2:]] == [
        "settings changed by tester: after the next restart: quantization none → int8",
        "settings changed by tester: nothing waits for a restart any more",
    ]


async def test_a_patch_that_changes_nothing_writes_nothing(harness: Harness) -> None:
    before = (await harness.api.get(f"{ONE}/events", headers=AUTH)).json()
    response = await harness.patch({"visibility": "public", "replicas": {"min": 1}})
    assert response.status_code == 200
    assert (await harness.api.get(f"{ONE}/events", headers=AUTH)).json() == before


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        pytest.param(
            {"replicas": {"min": 6, "max": 9}},
            ["min replicas 6 is over this installation's limit 5", "max replicas 9 is over"],
            id="over-limits",
        ),
        pytest.param(
            {"replicas": {"min": 3}}, ["max replicas 1 is below min replicas 3"], id="max-below-min"
        ),
        pytest.param(
            {"replicas": {"min": -1, "max": 0}},
            ["min replicas cannot be negative", "max replicas must be at least 1"],
            id="negative",
        ),
        pytest.param({"colour": "blue"}, ["colour"], id="unknown-field"),
        pytest.param({"replicas": {"min": 1, "median": 2}}, ["median"], id="unknown-nested"),
        pytest.param({"visibility": "secret"}, ["visibility"], id="bad-visibility"),
        pytest.param({"resources": {"memory": "lots"}}, ["memory size"], id="bad-memory"),
        pytest.param(
            {"autoscaling": {"idle-timeout": "soon"}}, ["duration"], id="bad-idle-timeout"
        ),
        pytest.param(
            {"autoscaling": {"target-concurrency": 0}}, ["greater than 0"], id="zero-target"
        ),
        pytest.param(
            {"runtime_framework": "vllm"}, ["only a runtime: endpoint"], id="framework-of-wsgi"
        ),
        pytest.param({"replicas": None}, ["replicas cannot be null"], id="null-replicas"),
    ],
)
async def test_bad_settings_are_422_with_one_problem_per_rule(
    harness: Harness, body: dict[str, Any], fragments: list[str]
) -> None:
    before = await harness.get()
    response = await harness.patch(body)
    assert response.status_code == 422, response.text
    error = response.json()
    text = error["message"] + " ".join(p["message"] + str(p["field"]) for p in error["problems"])
    for fragment in fragments:
        assert fragment in text
    if len(fragments) > 1:
        assert len(error["problems"]) == len(fragments)
    after = await harness.get()
    assert after["spec"] == before["spec"]


# -- deletion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", [pytest.param("", id="no-confirm"), pytest.param("?confirm=wbe", id="wrong-name")]
)
async def test_delete_needs_the_name_as_confirmation(harness: Harness, query: str) -> None:
    response = await harness.api.delete(ONE + query, headers=AUTH)
    assert response.status_code == 422
    assert "confirm with the endpoint's name: confirm=web" in response.json()["message"]
    assert (await harness.api.get(ONE, headers=AUTH)).status_code == 200
    assert harness.runtime.removed == []


async def test_delete_removes_replicas_and_route_but_keeps_events(harness: Harness) -> None:
    harness.to(S.RUNNING)
    response = await harness.api.delete(ONE + "?confirm=web", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": KEY.id}
    assert harness.runtime.removed == [KEY]
    assert (await harness.api.get(ONE, headers=AUTH)).status_code == 404
    routes = (await harness.api.get("/api/v1/internal/routes", headers=AUTH)).json()
    assert KEY.id not in [t["key"] for t in routes["targets"]]
    events = (await harness.api.get("/api/v1/events?project=acme/shop", headers=AUTH)).json()
    assert events[-1]["kind"] == "deleted"
    assert events[-1]["reason"] == "deleted by tester"
    assert [e["to_state"] for e in events if e["kind"] == "transition"] == ["Building", "Running"]
    again = await harness.api.delete(ONE + "?confirm=web", headers=AUTH)
    assert again.status_code == 404


# -- wake-ups from gateways -------------------------------------------------------------------


async def test_a_newly_waiting_endpoint_pokes_the_reconciler_once(harness: Harness) -> None:
    def report(waiting: list[str]) -> dict[str, Any]:
        return {"gateway": "gw", "at": 1.0, "interval": 1.0, "waiting": waiting}

    for waiting in ([], [KEY.id], [KEY.id]):
        response = await harness.api.post(
            "/api/v1/internal/report", json=report(waiting), headers=AUTH
        )
        assert response.status_code == 204, response.text
    assert harness.pokes == ["poke"]
