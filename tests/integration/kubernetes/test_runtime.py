"""KubernetesRuntime against a fake API server: real client, real HTTP, real watches."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes import client

from tests.integration.kubernetes.fake_apiserver import FakeApiServer
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec, Replicas
from waypost.runtimes.base import ReplicaPhase, Workload
from waypost.runtimes.kubernetes.apply import ClusterApi
from waypost.runtimes.kubernetes.naming import object_name, secret_name
from waypost.runtimes.kubernetes.runtime import KubernetesRuntime

KEY = UnitKey("acme", "shop", "churn", 3, "web")
NAME = object_name(KEY)
DIGEST = "a" * 64


def workload(**changes: object) -> Workload:
    spec = EndpointSpec(
        name="web", kind="wsgi", target="app:app", replicas=Replicas(1, 3), env={"MODE": "x"}
    ).with_changes(**changes)
    return Workload(KEY, spec, Path("/b.tar.gz"), DIGEST, env={"DB_PASSWORD": "hunter2"})


async def until(check: Callable[[], object], limit: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def patches(server: FakeApiServer, resource: str) -> list[object]:
    return [r for r in server.requests("PATCH") if f"/{resource}/" in r.path]


async def test_scale_applies_the_unit_then_sets_the_count(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 2)
    applied = [r for r in patches(apiserver, "deployments") if not r.path.endswith("/scale")]
    assert len(applied) == 1
    request = applied[0]
    assert request.content_type == "application/apply-patch+yaml"
    assert request.query["fieldManager"] == "waypost"
    assert "replicas" not in request.body["spec"]  # the scale subresource owns it
    scale = [r for r in patches(apiserver, "deployments") if r.path.endswith("/scale")]
    assert [r.body for r in scale] == [{"spec": {"replicas": 2}}]
    assert scale[0].content_type == "application/merge-patch+json"

    deployment = apiserver.get("deployments", NAME)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    kubernetes_validate.validate(request.body, "1.37.0", strict=True)
    uid = deployment["metadata"]["uid"]
    for resource, name in (
        ("services", NAME),
        ("secrets", secret_name(KEY)),
        ("poddisruptionbudgets", NAME),
    ):
        obj = apiserver.get(resource, name)
        assert obj is not None, resource
        assert obj["metadata"]["ownerReferences"][0]["uid"] == uid
    secret = apiserver.get("secrets", secret_name(KEY))
    assert secret is not None
    assert base64.b64decode(secret["data"]["token"]).decode() == "token-0"
    assert base64.b64decode(secret["data"]["env.DB_PASSWORD"]).decode() == "hunter2"
    assert "hunter2" not in str(deployment)  # secrets stay in the Secret

    before = len(apiserver.requests("PATCH"))
    for _ in range(5):  # the reconciler calls scale every pass: nothing more to write
        await runtime.scale(workload(), 2)
    assert len(apiserver.requests("PATCH")) == before


async def test_observe_reports_ready_pods_with_endpointslice_addresses(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 2)
    apiserver.run_pods(NAME)

    async def ready() -> list[str]:
        seen = (await runtime.observe()).get(KEY, ())
        return sorted(r.address or "" for r in seen if r.phase is ReplicaPhase.READY)

    deadline = asyncio.get_running_loop().time() + 10
    while await ready() != ["10.0.0.10:8000", "10.0.0.11:8000"]:
        assert asyncio.get_running_loop().time() < deadline, await runtime.observe()
        await asyncio.sleep(0.02)


async def test_scale_to_zero_touches_only_the_count(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 2)
    applies = len([r for r in patches(apiserver, "deployments") if "/scale" not in r.path])
    await runtime.scale(workload(image="other:1"), 0)  # a new spec waits for the next start
    deployment = apiserver.get("deployments", NAME)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 0
    now = len([r for r in patches(apiserver, "deployments") if "/scale" not in r.path])
    assert now == applies
    # a unit never placed is not created just to be scaled to zero
    other = Workload(
        UnitKey("acme", "shop", "churn", 4, "web"), workload().spec, Path("/b"), DIGEST
    )
    await runtime.scale(other, 0)
    assert apiserver.get("deployments", object_name(other.key)) is None


async def test_a_changed_spec_is_applied_again(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 1)
    await runtime.scale(workload(image="python:3.12-slim"), 1)
    deployment = apiserver.get("deployments", NAME)
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "python:3.12-slim"


async def test_remove_deletes_every_object_of_the_unit(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 2)
    apiserver.run_pods(NAME)
    await until(lambda: runtime.lists["pods"] and any(True for _ in apiserver.all("pods")))
    await runtime.remove(KEY)
    for resource in ("deployments", "services", "secrets", "poddisruptionbudgets"):
        assert apiserver.all(resource) == [], resource
    deletes = apiserver.requests("DELETE")
    assert any(r.query.get("propagationPolicy") == "Background" for r in deletes)


async def test_an_expired_watch_lists_again(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 1)
    assert runtime.lists["pods"] == 1
    apiserver.compact()  # ends open watches; resuming from their version now gets 410
    apiserver.run_pods(NAME)  # happens while the watches are down
    await until(lambda: runtime.lists["pods"] >= 2)
    await until(lambda: runtime.lists["endpointslices"] >= 2)
    deadline = asyncio.get_running_loop().time() + 10
    while [r.phase for r in (await runtime.observe()).get(KEY, ())] != [ReplicaPhase.READY]:
        assert asyncio.get_running_loop().time() < deadline, await runtime.observe()
        await asyncio.sleep(0.02)
    watches = [r for r in apiserver.requests("GET") if r.query.get("watch")]
    assert all(r.query.get("resourceVersion") for r in watches)
    assert all(r.query.get("allowWatchBookmarks") == "true" for r in watches)


async def test_a_field_owned_by_another_manager_is_taken_back(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    apiserver.state.conflicts[("deployments", NAME)] = "kubectl-edit"
    await runtime.scale(workload(), 1)
    applied = [r for r in patches(apiserver, "deployments") if "/scale" not in r.path]
    assert [r.query.get("force") for r in applied] == [None, "true"]
    assert "kubectl-edit" in runtime.api.conflicts[0]
    assert apiserver.get("deployments", NAME) is not None


async def test_replicas_left_by_a_previous_control_plane_are_adopted(
    apiserver: FakeApiServer, runtime: KubernetesRuntime
) -> None:
    await runtime.scale(workload(), 1)
    apiserver.run_pods(NAME)
    await runtime.close()
    api = ClusterApi(client.Configuration(host=apiserver.url), namespace="waypost")
    again = KubernetesRuntime(api, runtime.options, mint_token=lambda: "t", sync_timeout=10)
    await again.start()
    try:
        seen = (await again.observe())[KEY]
        assert [r.phase for r in seen] == [ReplicaPhase.READY]
    finally:
        await again.close()
        api.close()


async def test_image_pull_errors_and_crash_loops_reach_the_replica_status(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 1)

    def pulling(_: int) -> dict[str, object]:
        return {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": False,
                    "restartCount": 0,
                    "image": "x",
                    "imageID": "",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "nope:1"',
                        }
                    },
                }
            ],
        }

    apiserver.run_pods(NAME, ready=False, status=pulling)
    await until(lambda: runtime._objects["pods"])
    (replica,) = (await runtime.observe())[KEY]
    assert replica.phase is ReplicaPhase.FAILED
    assert replica.message == 'ImagePullBackOff: Back-off pulling image "nope:1"'


async def test_logs_come_from_the_pods(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    await runtime.scale(workload(), 1)
    (pod,) = apiserver.run_pods(NAME)
    apiserver.state.logs[pod["metadata"]["name"]] = "booting\nlistening on :8000\n"
    await until(lambda: runtime._objects["pods"])
    chunk = await runtime.read_logs(KEY, tail=20)
    assert chunk.text == "booting\nlistening on :8000\n"
    more = await runtime.read_logs(KEY, offset=chunk.offset)
    assert more.text == ""
    (request,) = [r for r in apiserver.requests("GET") if r.path.endswith("/log")][:1]
    assert request.query == {"container": "app", "tailLines": "20"}


async def test_build_checks_the_namespace(
    runtime: KubernetesRuntime, apiserver: FakeApiServer
) -> None:
    lines: list[str] = []
    await runtime.build(workload(), lines.append)
    assert lines[-1] == "build ready"
    apiserver.state.namespaces.clear()
    from waypost.errors import BuildFailed

    with pytest.raises(BuildFailed, match="namespace waypost does not exist"):
        await runtime.build(workload(), lines.append)
