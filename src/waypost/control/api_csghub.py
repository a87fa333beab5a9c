"""CSGHub-compatible routes: ``/models/{namespace}/{name}/run...``, clusters, resources.

Thin wrappers: ``csghub.py`` translates requests and answers, ``EndpointActions`` and
``ControlService`` do the work, exactly as for the native routes, so an endpoint
made here is an endpoint like any other (and vice versa). Answers are wrapped as
CSGHub's are: ``{"msg": "OK", "data": ...}``; errors keep waypost's error shape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, Path, Query

from waypost.control.context import MAX_ID, Caller, ControlContext
from waypost.control.csghub import (
    RUN_ENDPOINT,
    RunRequest,
    UpdateRequest,
    cluster_json,
    framework_json,
    frameworks_for_model,
    resource_json,
    run_bundle,
    run_json,
    settings_patch,
)
from waypost.control.endpoint_settings import SettingsPatch
from waypost.control.endpoints import EndpointActions
from waypost.control.traffic import ReplicaTraffic
from waypost.errors import Conflict, NotFound
from waypost.model.lifecycle import Trigger
from waypost.model.prefix import UnitKey
from waypost.store import EndpointRecord, ModelRecord

__all__ = ["csghub_routes"]

RUNS = "/models/{namespace}/{name}/run"
ONE = RUNS + "/{run_id}"
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: Finds a run by (namespace, name, run id), or raises NotFound.
_RunOf = Callable[[str, str, int], Awaitable[EndpointRecord]]

#: CSGHub's per-instance request routes, ``.../request/{instance}/{measure}``: what each
#: adds to the instance, the window and the request count.
_REQUEST_FIGURES: dict[str, Callable[[ReplicaTraffic], dict[str, Any]]] = {
    "count": lambda stats: {"errors": stats.errors},
    "latency": lambda stats: {"latency_ms_mean": stats.latency_ms_mean},
}


@runtime_checkable
class _UsageReader(Protocol):
    def usage(self, key: UnitKey) -> Any: ...


def _ok(data: Any) -> dict[str, Any]:
    return {"msg": "OK", "data": data}


def csghub_routes(router: APIRouter, ctx: ControlContext) -> None:
    service = ctx.service
    settings = service.settings
    actions = EndpointActions(service, ctx.runtime)
    tags: list[str | Enum] = ["csghub"]

    async def model_of(namespace: str, name: str) -> ModelRecord:
        return await service.models.get(namespace, name)

    async def runs_of(namespace: str, name: str) -> list[EndpointRecord]:
        found = await service.db(service.store.list_endpoints, org=namespace, project=name)
        return [e for e in found if e.key.endpoint == RUN_ENDPOINT and e.spec.kind == "runtime"]

    async def run_of(namespace: str, name: str, run_id: int) -> EndpointRecord:
        for ep in await runs_of(namespace, name):
            if ep.id == run_id:
                return ep
        raise NotFound(f"model {namespace}/{name} has no inference endpoint {run_id}")

    async def answer(ep: EndpointRecord) -> dict[str, Any]:
        model = None
        if ep.spec.model:
            owner, _, model_name = ep.spec.model.partition("/")
            try:
                model = await service.models.get(owner, model_name)
            except NotFound:
                model = None
        task = model.task if model else ""
        return _ok(run_json(ep, ctx.gateway_url, settings, task=task))

    @router.get("/cluster", tags=tags)
    async def clusters() -> dict[str, Any]:
        return _ok([cluster_json(settings)])

    @router.get("/space_resources", tags=tags)
    async def space_resources(cluster_id: str | None = None) -> dict[str, Any]:
        cluster = cluster_json(settings)["cluster_id"]
        if cluster_id not in (None, "", cluster):
            raise NotFound(f"unknown cluster_id {cluster_id!r}; this installation has {cluster!r}")
        return _ok([resource_json(p, cluster) for p in settings.resources])

    @router.get("/models/{namespace}/{name}/runtime_framework", tags=tags)
    async def runtime_frameworks(namespace: str, name: str) -> dict[str, Any]:
        model = await model_of(namespace, name)
        return _ok([framework_json(f) for f in frameworks_for_model(model)])

    @router.post(RUNS, tags=tags, status_code=201)
    async def create_run(
        namespace: str, name: str, body: RunRequest, who: Caller
    ) -> dict[str, Any]:
        model = await model_of(namespace, name)
        deployment, bundle = run_bundle(model, body, settings)
        live = [e for e in await runs_of(namespace, name) if e.key.deployment == deployment]
        if live:
            raise Conflict(
                f"model {namespace}/{name} already has an inference endpoint named "
                f"{deployment!r} (id {live[0].id}); pick another deploy_name or delete it"
            )
        version = await service.create_version(
            namespace, name, deployment, bundle, branch=None, actor=who.name
        )
        key = UnitKey(namespace, name, deployment, version.number, RUN_ENDPOINT)
        return await answer(await actions.get(key))

    @router.get(RUNS, tags=tags)
    async def list_runs(namespace: str, name: str) -> dict[str, Any]:
        found = await runs_of(namespace, name)
        return _ok([run_json(e, ctx.gateway_url, settings) for e in found])

    @router.get(ONE, tags=tags)
    async def get_run(namespace: str, name: str, run_id: RunId) -> dict[str, Any]:
        return await answer(await run_of(namespace, name, run_id))

    @router.get(ONE + "/status", tags=tags)
    async def run_status(namespace: str, name: str, run_id: RunId) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        return _ok(
            {
                "status": ep.state.value,
                "message": ep.reason,
                "actual_replica": sum(1 for r in ep.replicas if r.phase == "ready"),
                "desired_replica": ep.replicas_desired,
                "instances": [{"name": r.replica_id, "status": r.phase} for r in ep.replicas],
            }
        )

    @router.get(ONE + "/logs", tags=tags)
    async def run_logs(
        namespace: str,
        name: str,
        run_id: RunId,
        tail: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        chunk = await ctx.runtime.read_logs(ep.key, tail=tail)
        return _ok(chunk.text)

    @router.put(ONE, tags=tags)
    async def update_run(
        namespace: str, name: str, run_id: RunId, body: UpdateRequest, who: Caller
    ) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        model = await model_of(namespace, name) if ep.spec.model else None
        patch = SettingsPatch.model_validate(settings_patch(body, ep, model, settings))
        return await answer(await actions.update(ep.key, patch, actor=who.name))

    for trigger, verb in (
        (Trigger.STOP, "stop"),
        (Trigger.START, "start"),
        (Trigger.WAKE, "wakeup"),
    ):
        _action(router, actions, run_of, answer, trigger, verb)

    @router.delete(ONE, tags=tags)
    async def delete_run(namespace: str, name: str, run_id: RunId, who: Caller) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        # CSGHub's UI asks for the typed name before it calls this; its API takes none.
        await actions.delete(ep.key, confirm=ep.key.endpoint, actor=who.name)
        return _ok(None)

    @router.get(ONE + "/cpu/{instance}/usage", tags=tags)
    async def cpu_usage(namespace: str, name: str, run_id: RunId, instance: str) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        usage = await _usage(ctx, ep, instance)
        return _ok(
            {
                "instance": instance,
                "cpu_seconds": usage.cpu_seconds,
                "cpu_cores_average": _cpu_cores(ep, instance, usage.cpu_seconds),
                "source": usage.source,
            }
        )

    @router.get(ONE + "/memory/{instance}/usage", tags=tags)
    async def memory_usage(
        namespace: str, name: str, run_id: RunId, instance: str
    ) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        usage = await _usage(ctx, ep, instance)
        return _ok(
            {"instance": instance, "memory_bytes": usage.memory_bytes, "source": usage.source}
        )

    for measure, figures in _REQUEST_FIGURES.items():
        _request_route(router, ctx, run_of, measure, figures)


def _action(
    router: APIRouter,
    actions: EndpointActions,
    run_of: _RunOf,
    answer: Any,
    trigger: Trigger,
    verb: str,
) -> None:
    @router.put(ONE + f"/{verb}", tags=["csghub"], name=f"{verb}_run")
    async def act(namespace: str, name: str, run_id: RunId, who: Caller) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        result: dict[str, Any] = await answer(await actions.act(ep.key, trigger, actor=who.name))
        return result


def _request_route(
    router: APIRouter,
    ctx: ControlContext,
    run_of: _RunOf,
    measure: str,
    figures: Callable[[ReplicaTraffic], dict[str, Any]],
) -> None:
    """``GET .../request/{instance}/{measure}``: what one replica served over the window."""

    @router.get(
        ONE + f"/request/{{instance}}/{measure}", tags=["csghub"], name=f"request_{measure}"
    )
    async def request_figures(
        namespace: str, name: str, run_id: RunId, instance: str
    ) -> dict[str, Any]:
        ep = await run_of(namespace, name, run_id)
        stats = _replica_stats(ctx, ep, instance)
        return _ok(
            {
                "instance": instance,
                "window_seconds": stats.window,
                "requests": stats.requests,
                **figures(stats),
            }
        )


def _instance(ep: EndpointRecord, instance: str) -> None:
    if not any(r.replica_id == instance for r in ep.replicas):
        known = ", ".join(r.replica_id for r in ep.replicas) or "none"
        raise NotFound(f"endpoint {ep.id} has no instance {instance!r} (it has: {known})")


async def _usage(ctx: ControlContext, ep: EndpointRecord, instance: str) -> Any:
    _instance(ep, instance)
    runtime = ctx.runtime
    if not isinstance(runtime, _UsageReader):
        raise NotFound(f"the {runtime.name} runtime does not measure replicas' CPU and memory")
    usage = (await asyncio.to_thread(runtime.usage, ep.key)).get(instance)
    if usage is None:
        raise NotFound(f"instance {instance!r} is not running, so it uses nothing")
    return usage


def _cpu_cores(ep: EndpointRecord, instance: str, cpu_seconds: float) -> float:
    """Average cores used since the replica's process started."""
    started = next((r.started_at for r in ep.replicas if r.replica_id == instance), 0.0)
    up = time.time() - started if started else 0.0
    return round(cpu_seconds / up, 4) if up > 0 else 0.0


def _replica_stats(ctx: ControlContext, ep: EndpointRecord, instance: str) -> ReplicaTraffic:
    _instance(ep, instance)
    return ctx.service.traffic.replica_traffic(ep.key.id, instance, time.time())
